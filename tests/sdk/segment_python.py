#!/usr/bin/env python3
"""Drive the official PyPI `segment-analytics-python` SDK (unchanged) against vendorwall.

Run by the Rust SDK end-to-end test as a child process. Needs
`scripts/install-test-deps` (the SDK lives in <repo>/.deps/python).

Environment:
  VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
  VW_KEY         the source's write key the app puts in the SDK
  VW_HOST        "http://127.0.0.1:PORT" -- full URL; the SDK posts to VW_HOST + "/v1/batch"
  VW_TIMEOUT_MS  optional, overall deadline for flushing (default 60000)

Two clients: the default one (JSON body, `upload_size` 100, flushed by the background thread)
and one with `gzip=True` (Content-Encoding: gzip). Both use max_retries=2 so a failing gateway
is reported within the deadline instead of after the SDK's default 10 retries.

Prints exactly one JSON document on stdout:
  {"sent": [...items...], "sdk_errors": ["..."]}
Everything else goes to stderr. Exit status 0 unless this script itself crashes
(errors reported by the SDK go to "sdk_errors").
"""

import datetime
import json
import logging
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, ".deps", "python")
if not os.path.isfile(os.path.join(DEPS, "segment", "analytics", "__init__.py")):
    sys.stderr.write(f"segment_python: {DEPS} has no segment.analytics package: run scripts/install-test-deps\n")
    sys.exit(1)
sys.path.insert(0, DEPS)

# Keep stdout for the single JSON document only.
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="segment_python: %(name)s %(levelname)s %(message)s")

from segment.analytics import Client  # noqa: E402
from segment.analytics.version import VERSION  # noqa: E402


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.stderr.write(f"segment_python: missing environment variable {name}\n")
        sys.exit(2)
    return v


RUN = env("VW_RUN_ID")
KEY = env("VW_KEY")
HOST = env("VW_HOST").rstrip("/")
TIMEOUT_S = float(os.environ.get("VW_TIMEOUT_MS", "60000")) / 1000.0

sent = []
sdk_errors = []
_lock = threading.Lock()
_seq = [0]


def seq():
    _seq[0] += 1
    return f"{RUN}-{_seq[0]}"


def add_error(msg):
    with _lock:
        if msg not in sdk_errors:
            sdk_errors.append(msg)


class ErrorLog(logging.Handler):
    """The SDK logs upload failures on the "segment" logger at ERROR ("Non-retryable error 400...",
    "All 2 retries exhausted..."); on_error gets the same failures with the batch."""

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            add_error(f"python segment log: {record.getMessage()}")


logging.getLogger("segment").addHandler(ErrorLog())


def on_error(client_name):
    def cb(e, batch):
        ids = [m.get("messageId") for m in (batch or [])]
        add_error(f"python segment on_error ({client_name}): {type(e).__name__}: {e} (batch of {len(ids)})")

    return cb


def call(what, fn, item, **kwargs):
    """Enqueue one message; the SDK returns (success, msg). msg carries the messageId it chose."""
    try:
        ok, msg = fn(**kwargs)
    except Exception as e:  # bad arguments: the SDK raises synchronously
        add_error(f"python {what}: threw {type(e).__name__}: {e}")
        return
    if not ok:
        add_error(f"python {what}: enqueue returned False (queue full?)")
        return
    item["message_id"] = msg.get("messageId")
    sent.append(item)


def item(type_, event=None, user_id=None, anonymous_id=None, properties=None, traits=None, **extra):
    it = {"type": type_, "event": event, "user_id": user_id, "anonymous_id": anonymous_id,
          "properties": properties, "traits": traits}
    it.update(extra)
    return it


def main():
    user = f"py-user-{RUN}"
    anon = f"py-anon-{RUN}"
    company = f"acme-{RUN}"
    sys.stderr.write(f"segment_python: segment-analytics-python {VERSION} -> {HOST}/v1/batch\n")

    client = Client(KEY, host=HOST, on_error=on_error("default"), max_retries=2, upload_interval=0.5, timeout=15)

    # ------------------------------------------------------------ anonymous
    p = {"vw_seq": seq(), "campaign": "spring-sale", "scroll_depth": 0.25, "city": "Zürich ✓"}
    call("track Landing Viewed", client.track, item("track", "Landing Viewed", None, anon, p),
         anonymous_id=anon, event="Landing Viewed", properties=dict(p))
    p = {"vw_seq": seq(), "url": "https://app.test/pricing", "path": "/pricing", "referrer": "https://search.test/?q=x"}
    call("page Pricing", client.page, item("page", None, None, anon, p, name="Pricing", category="Marketing"),
         anonymous_id=anon, category="Marketing", name="Pricing", properties=dict(p))

    # ------------------------------------------------------------ identify / alias
    t = {"vw_seq": seq(), "email": f"ada+{RUN}@example.com", "name": "Ada Lovelace", "firstName": "Ada",
         "plan": "pro", "company_size": 250, "address": {"city": "Zürich ✓", "postalCode": "8001"}}
    call("identify", client.identify, item("identify", None, user, anon, None, t),
         user_id=user, anonymous_id=anon, traits=dict(t))
    call("alias", client.alias, item("alias", None, user, None, None, None, previous_id=anon),
         previous_id=anon, user_id=user)

    # ------------------------------------------------------------ tracks
    p = {"vw_seq": seq(), "plan": "pro", "seats": 5, "price": 49.99, "trial": False, "city": "Zürich ✓",
         "tags": ["b2b", "annual"], "billing": {"country": "CH", "vat": 7.7, "address": {"zip": "8001"}}}
    call("track Signed Up", client.track, item("track", "Signed Up", user, None, p),
         user_id=user, event="Signed Up", properties=dict(p))
    ts = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    p = {"vw_seq": seq(), "sku": "TSHIRT-L", "quantity": 2, "revenue": 39.9, "currency": "CHF"}
    call("track Order Completed (timestamp)", client.track,
         item("track", "Order Completed", user, None, p, timestamp=ts.isoformat()),
         user_id=user, event="Order Completed", properties=dict(p), timestamp=ts,
         context={"ip": "203.0.113.7", "locale": "de-CH"})

    # ------------------------------------------------------------ group / screen
    t = {"vw_seq": seq(), "name": "Acme Inc.", "industry": "widgets", "employees": 250, "email": f"billing+{RUN}@acme.test"}
    call("group", client.group, item("group", None, user, None, None, t, group_id=company),
         user_id=user, group_id=company, traits=dict(t))
    p = {"vw_seq": seq(), "tab": "settings"}
    call("screen Settings", client.screen, item("screen", None, user, None, p, name="Settings", category="App"),
         user_id=user, category="App", name="Settings", properties=dict(p))

    for i in range(8):
        p = {"vw_seq": seq(), "index": i, "step": f"step-{i}", "ratio": i / 8}
        call(f"track Onboarding Step #{i}", client.track, item("track", "Onboarding Step", user, None, p),
             user_id=user, event="Onboarding Step", properties=dict(p))

    # ------------------------------------------------------------ gzip=True client
    gz = Client(KEY, host=HOST, on_error=on_error("gzip"), max_retries=2, gzip=True, upload_interval=0.5, timeout=15)
    p = {"vw_seq": seq(), "feature": "export", "duration_s": 1.5}
    call("gzip track Feature Used", gz.track, item("track", "Feature Used", user, None, p),
         user_id=user, event="Feature Used", properties=dict(p))
    t = {"vw_seq": seq(), "email": f"grace+{RUN}@example.com", "name": "Grace Hopper"}
    call("gzip identify", gz.identify, item("identify", None, f"py-user2-{RUN}", None, None, t),
         user_id=f"py-user2-{RUN}", traits=dict(t))

    # ------------------------------------------------------------ flush + shut down
    done = threading.Event()

    def stop():
        for c in (client, gz):
            c.flush()  # blocks until the queue is empty (uploaded or given up)
            c.join()
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    if not done.wait(TIMEOUT_S):
        add_error(f"python segment: flush/shutdown did not finish within {TIMEOUT_S} s")

    REAL_STDOUT.write(json.dumps({"sent": sent, "sdk_errors": sdk_errors}, ensure_ascii=False) + "\n")
    REAL_STDOUT.flush()
    os._exit(0)  # the SDK's consumer threads may still be in a retry wait after a timeout


if __name__ == "__main__":
    main()
