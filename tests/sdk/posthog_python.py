#!/usr/bin/env python3
"""Drive the official PyPI `posthog` SDK (unchanged) against vendorwall.

Run by the Rust SDK end-to-end test as a child process. Needs
`scripts/install-test-deps` (the SDK lives in <repo>/.deps/python).

Environment:
  VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
  VW_KEY         the project API key ("phc_...") the app puts in the SDK
  VW_HOST        "http://127.0.0.1:PORT" -- full URL; events go to VW_HOST + "/batch/",
                 feature flags to VW_HOST + "/flags/?v=4"
  VW_TIMEOUT_MS  optional, overall deadline for flushing (default 60000)

Two clients, one after the other: the default one (JSON body, flush_at 100, flush_interval
0.5 s) and one with `gzip=True` (Content-Encoding: gzip). Feature flags are evaluated remotely
(no personal API key, so no local-evaluation poller): evaluate_flags and get_all_flags each
POST /flags/?v=4. Reading flags from the evaluate_flags snapshot makes the SDK capture
"$feature_flag_called" events (not listed in "sent": the app did not ask for them).

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
if not os.path.isfile(os.path.join(DEPS, "posthog", "__init__.py")):
    sys.stderr.write(f"posthog_python: {DEPS} has no posthog package: run scripts/install-test-deps\n")
    sys.exit(1)
sys.path.insert(0, DEPS)

# Keep stdout for the single JSON document only.
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="posthog_python: %(name)s %(levelname)s %(message)s")

from posthog import Posthog  # noqa: E402
from posthog.version import VERSION  # noqa: E402


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.stderr.write(f"posthog_python: missing environment variable {name}\n")
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
    """The SDK reports failures only through logging (and on_error for event uploads): "error
    uploading: ...", "[FEATURE FLAGS] Unable to get flag remotely: ...", "Unable to get feature
    flags: ..." are ERROR (logged with log.exception). WARNING-level messages are recorded too
    (e.g. a quota-limited /flags answer), but not those about the SDK's own option handling."""

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            add_error(f"python posthog log {record.levelname}: {record.getMessage()}")


logging.getLogger("posthog").addHandler(ErrorLog())


def on_error(client_name):
    def cb(e, batch):
        add_error(f"python posthog on_error ({client_name}): {type(e).__name__}: {e} (batch of {len(batch or [])})")

    return cb


def call(what, fn, item, *args, **kwargs):
    """One SDK call. capture/set/set_once/group_identify/alias return the event's uuid (None when
    the SDK dropped the call)."""
    try:
        uuid = fn(*args, **kwargs)
    except Exception as e:
        add_error(f"python {what}: threw {type(e).__name__}: {e}")
        return None
    if item is not None:
        if uuid is None:
            add_error(f"python {what}: the SDK returned no uuid (call dropped)")
            return None
        item["uuid"] = str(uuid)
        sent.append(item)
    return uuid


DEADLINE = [None]


def shutdown(name, client):
    """client.shutdown() (flush + join the consumer threads), bounded by the overall deadline."""
    if DEADLINE[0] is None:
        DEADLINE[0] = time.monotonic() + TIMEOUT_S
    done = threading.Event()

    def stop():
        try:
            client.shutdown()
        except Exception as e:
            add_error(f"python posthog {name} shutdown: {type(e).__name__}: {e}")
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    if not done.wait(max(1.0, DEADLINE[0] - time.monotonic())):
        add_error(f"python posthog {name}: shutdown did not finish within the deadline ({TIMEOUT_S} s)")


def capture_item(event, distinct_id, props, groups=None, timestamp=None):
    return {"type": "capture", "event": event, "distinct_id": distinct_id, "properties": props,
            "groups": groups, "timestamp": timestamp}


def main():
    user = f"py-user-{RUN}"
    anon = f"py-anon-{RUN}"
    company = f"acme-{RUN}"
    sys.stderr.write(f"posthog_python: posthog {VERSION} -> {HOST}/batch/\n")

    ph = Posthog(KEY, host=HOST, on_error=on_error("default"), flush_interval=0.5, max_retries=2,
                 feature_flags_request_timeout_seconds=10)

    # ------------------------------------------------------------ anonymous
    p = {"vw_seq": seq(), "campaign": "spring-sale", "scroll_depth": 0.25, "city": "Zürich ✓"}
    call("capture Landing Viewed", ph.capture, capture_item("Landing Viewed", anon, p),
         "Landing Viewed", distinct_id=anon, properties=dict(p))
    p = {"vw_seq": seq(), "$current_url": "https://app.test/pricing", "$pathname": "/pricing"}
    call("capture $pageview", ph.capture, capture_item("$pageview", anon, p), "$pageview", distinct_id=anon, properties=dict(p))

    # ------------------------------------------------------------ person properties ($set / $set_once), alias
    v = {"vw_seq": seq(), "email": f"ada+{RUN}@example.com", "name": "Ada Lovelace", "plan": "pro",
         "company_size": 250, "address": {"city": "Zürich ✓", "zip": "8001"}}
    call("set", ph.set, {"type": "set", "event": "$set", "distinct_id": user, "$set": v},
         distinct_id=user, properties=dict(v))
    v = {"vw_seq": seq(), "first_seen_plan": "free", "signup_source": "ads"}
    call("set_once", ph.set_once, {"type": "set_once", "event": "$set_once", "distinct_id": user, "$set_once": v},
         distinct_id=user, properties=dict(v))
    call("alias", ph.alias, {"type": "alias", "event": "$create_alias", "distinct_id": anon, "alias": user},
         previous_id=anon, distinct_id=user)

    # ------------------------------------------------------------ captures with groups / timestamp
    p = {"vw_seq": seq(), "plan": "pro", "seats": 5, "price": 49.99, "trial": False, "city": "Zürich ✓",
         "tags": ["b2b", "annual"], "billing": {"country": "CH", "vat": 7.7, "address": {"zip": "8001"}}}
    call("capture Signed Up", ph.capture, capture_item("Signed Up", user, p, {"company": company}),
         "Signed Up", distinct_id=user, properties=dict(p), groups={"company": company})
    ts = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    p = {"vw_seq": seq(), "sku": "TSHIRT-L", "quantity": 2, "amount": 39.9, "currency": "CHF", "$ip": "203.0.113.7"}
    call("capture Item Purchased (timestamp)", ph.capture,
         capture_item("Item Purchased", user, p, None, ts.isoformat()),
         "Item Purchased", distinct_id=user, properties=dict(p), timestamp=ts)

    # ------------------------------------------------------------ group identify
    v = {"vw_seq": seq(), "name": "Acme Inc.", "industry": "widgets", "employees": 250, "billing_email": f"billing+{RUN}@acme.test"}
    call("group_identify", ph.group_identify,
         {"type": "groupidentify", "event": "$groupidentify", "distinct_id": None, "group_type": "company",
          "group_key": company, "$group_set": v},
         "company", company, dict(v))

    for i in range(8):
        p = {"vw_seq": seq(), "index": i, "step": f"step-{i}", "ratio": i / 8}
        call(f"capture Onboarding Step #{i}", ph.capture, capture_item("Onboarding Step", user, p),
             "Onboarding Step", distinct_id=user, properties=dict(p))

    # ------------------------------------------------------------ feature flags (remote evaluation: POST /flags/?v=4)
    snap = call("evaluate_flags", ph.evaluate_flags, None, user, groups={"company": company},
                person_properties={"plan": "pro"})
    if snap is not None:
        # reading a flag from the snapshot makes the SDK capture "$feature_flag_called"
        sys.stderr.write(f"posthog_python: new-checkout={snap.get_flag('new-checkout')!r} "
                         f"beta-dashboard={snap.is_enabled('beta-dashboard')!r}\n")
        p = {"vw_seq": seq(), "button": "checkout"}
        call("capture Checkout Clicked (flags=snapshot)", ph.capture, capture_item("Checkout Clicked", user, p),
             "Checkout Clicked", distinct_id=user, properties=dict(p), flags=snap)
    allf = call("get_all_flags", ph.get_all_flags, None, user)
    sys.stderr.write(f"posthog_python: get_all_flags -> {allf!r}\n")
    shutdown("default", ph)

    # ------------------------------------------------------------ gzip=True client (created after the first one
    # is shut down: two live clients for one key make the SDK log a warning)
    gz = Posthog(KEY, host=HOST, on_error=on_error("gzip"), flush_interval=0.5, max_retries=2, gzip=True)
    p = {"vw_seq": seq(), "feature": "export", "duration_s": 1.5}
    call("gzip capture Feature Used", gz.capture, capture_item("Feature Used", user, p),
         "Feature Used", distinct_id=user, properties=dict(p))
    v = {"vw_seq": seq(), "email": f"grace+{RUN}@example.com", "name": "Grace Hopper"}
    call("gzip set", gz.set, {"type": "set", "event": "$set", "distinct_id": f"py-user2-{RUN}", "$set": v},
         distinct_id=f"py-user2-{RUN}", properties=dict(v))
    shutdown("gzip", gz)

    REAL_STDOUT.write(json.dumps({"sent": sent, "sdk_errors": sdk_errors}, ensure_ascii=False) + "\n")
    REAL_STDOUT.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
