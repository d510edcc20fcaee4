#!/usr/bin/env python3
"""Drive the official PyPI `amplitude-analytics` SDK (unchanged) against vendorwall.

Run by the Rust SDK end-to-end test as a child process. Needs
`scripts/install-test-deps` (the SDK lives in <repo>/.deps/python).

Environment:
  VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
  VW_KEY         the project API key the app puts in the SDK
  VW_HOST        "http://127.0.0.1:PORT" -- full URL of the gateway
  VW_USE_BATCH   optional, "1" = Config(use_batch=True) with server_url VW_HOST + "/batch"
                 (the Batch API); default server_url VW_HOST + "/2/httpapi" (HTTP V2 API)
  VW_TIMEOUT_MS  optional, overall deadline for flushing (default 60000)

Config: flush_queue_size 20, flush_interval_millis 500, flush_max_retries 2, a `callback`
that gets (event, status code, message) for every event once the SDK is done with it (200 =
delivered), and the SDK's logger ("amplitude") with a handler recording ERROR records.
Every event the app sends must get a callback with code 200; anything else, a missing
callback, or an ERROR log record is an sdk_error.

Prints exactly one JSON document on stdout:
  {"sent": [...items...], "sdk_errors": ["..."]}
Everything else goes to stderr. Exit status 0 unless this script itself crashes
(errors reported by the SDK go to "sdk_errors").
"""

import json
import logging
import os
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, ".deps", "python")
if not os.path.isfile(os.path.join(DEPS, "amplitude", "__init__.py")):
    sys.stderr.write(f"amplitude_python: {DEPS} has no amplitude package: run scripts/install-test-deps\n")
    sys.exit(1)
sys.path.insert(0, DEPS)

# Keep stdout for the single JSON document only.
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="amplitude_python: %(name)s %(levelname)s %(message)s")

from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify, Revenue  # noqa: E402
from amplitude.constants import SDK_VERSION  # noqa: E402


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.stderr.write(f"amplitude_python: missing environment variable {name}\n")
        sys.exit(2)
    return v


RUN = env("VW_RUN_ID")
KEY = env("VW_KEY")
HOST = env("VW_HOST").rstrip("/")
USE_BATCH = os.environ.get("VW_USE_BATCH") == "1"
TIMEOUT_S = float(os.environ.get("VW_TIMEOUT_MS", "60000")) / 1000.0

sent = []
sdk_errors = []
_lock = threading.Lock()
_seq = [0]
results = {}  # insert_id -> (code, message)


def seq():
    _seq[0] += 1
    return f"{RUN}-{_seq[0]}"


def add_error(msg):
    with _lock:
        if msg not in sdk_errors:
            sdk_errors.append(msg)


class ErrorLog(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.ERROR:
            add_error(f"python amplitude log: {record.getMessage()}")


LOGGER = logging.getLogger("amplitude")
LOGGER.addHandler(ErrorLog())


def callback(event, code, message=None):
    with _lock:
        results[event.insert_id] = (code, message)
    if code != 200:
        add_error(f"python amplitude callback: {event.event_type} (insert_id {event.insert_id}): {code} {message}")


def record(item, event_type, opts, **fields):
    item.update({"event": event_type, "user_id": opts.user_id, "device_id": opts.device_id, "insert_id": opts.insert_id})
    item.update(fields)
    sent.append(item)


def main():
    user = f"py-user-{RUN}"
    device = f"py-device-{RUN}"
    company = f"acme-{RUN}"
    path = "/batch" if USE_BATCH else "/2/httpapi"
    sys.stderr.write(f"amplitude_python: amplitude-analytics {SDK_VERSION} -> {HOST}{path} (use_batch={USE_BATCH})\n")

    config = Config(flush_queue_size=20, flush_interval_millis=500, flush_max_retries=2, callback=callback,
                    logger=LOGGER, use_batch=USE_BATCH, server_url=HOST + path)
    amp = Amplitude(KEY, configuration=config)

    def opts(**kw):
        return EventOptions(insert_id=str(uuid.uuid4()), **kw)

    def track(name, props, **kw):
        iid = str(uuid.uuid4())
        try:
            amp.track(BaseEvent(name, event_properties=dict(props), insert_id=iid, **kw))
        except Exception as e:
            add_error(f"python track {name}: threw {type(e).__name__}: {e}")
            return
        sent.append({"type": "track", "event": name, "user_id": kw.get("user_id"), "device_id": kw.get("device_id"),
                     "insert_id": iid, "event_properties": props, "user_properties": None, "time": kw.get("time")})

    # ------------------------------------------------------------ anonymous (device only)
    track("Landing Viewed", {"vw_seq": seq(), "campaign": "spring-sale", "scroll_depth": 0.25, "city": "Zürich ✓"},
          device_id=device)
    track("Viewed Pricing", {"vw_seq": seq(), "plans_shown": ["free", "pro"], "currency": "CHF"}, device_id=device)

    # ------------------------------------------------------------ identify: $set, $setOnce, $add
    s = {"vw_seq": seq(), "email": f"ada+{RUN}@example.com", "name": "Ada Lovelace", "plan": "pro",
         "address": {"city": "Zürich ✓", "zip": "8001"}}
    so = {"first_seen_plan": "free", "signup_source": "ads"}
    add = {"logins": 1, "credits": -2.5}
    ident = Identify()
    for k, v in s.items():
        ident.set(k, v)
    for k, v in so.items():
        ident.set_once(k, v)
    for k, v in add.items():
        ident.add(k, v)
    o = opts(user_id=user, device_id=device)
    amp.identify(ident, o)
    record({"type": "identify", "event_properties": None,
            "user_properties": {"$set": s, "$setOnce": so, "$add": add}}, "$identify", o)

    # ------------------------------------------------------------ tracks
    track("Signed Up", {"vw_seq": seq(), "plan": "pro", "seats": 5, "price": 49.99, "trial": False, "city": "Zürich ✓",
                        "tags": ["b2b", "annual"], "billing": {"country": "CH", "vat": 7.7, "address": {"zip": "8001"}}},
          user_id=user, device_id=device)
    t = int(time.time() * 1000) - 3600 * 1000
    track("Item Purchased", {"vw_seq": seq(), "sku": "TSHIRT-L", "quantity": 2, "amount": 39.9},
          user_id=user, device_id=device, time=t, ip="203.0.113.7", country="Switzerland")

    # ------------------------------------------------------------ groups: set_group ($identify with groups) + group identify
    o = opts(user_id=user, device_id=device)
    amp.set_group("company", company, o)
    record({"type": "identify", "event_properties": None, "user_properties": {"$set": {"company": company}}}, "$identify", o,
           groups={"company": company})
    g = {"vw_seq": seq(), "name": "Acme Inc.", "industry": "widgets", "employees": 250, "billing_email": f"billing+{RUN}@acme.test"}
    gi = Identify()
    for k, v in g.items():
        gi.set(k, v)
    o = opts(user_id=user, device_id=device)
    amp.group_identify("company", company, gi, o)
    record({"type": "groupidentify", "event_properties": None, "user_properties": None}, "$groupidentify", o,
           groups={"company": company}, group_properties={"$set": g})

    # ------------------------------------------------------------ revenue
    rp = {"vw_seq": seq(), "coupon": "SPRING"}
    o = opts(user_id=user, device_id=device)
    amp.revenue(Revenue(price=19.95, quantity=2, product_id="TSHIRT-L", revenue_type="purchase", properties=dict(rp),
                        currency="CHF"), o)
    record({"type": "revenue", "event_properties": rp, "user_properties": None,
            "revenue": {"price": 19.95, "quantity": 2, "product_id": "TSHIRT-L", "revenue_type": "purchase", "currency": "CHF"}},
           "revenue_amount", o)

    for i in range(8):
        track("Onboarding Step", {"vw_seq": seq(), "index": i, "step": f"step-{i}", "ratio": i / 8}, user_id=user, device_id=device)

    # ------------------------------------------------------------ flush + shut down
    done = threading.Event()

    def stop():
        try:
            amp.shutdown()  # flushes, waits for the workers
        except Exception as e:
            add_error(f"python amplitude shutdown: {type(e).__name__}: {e}")
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    if not done.wait(TIMEOUT_S):
        add_error(f"python amplitude: shutdown did not finish within {TIMEOUT_S} s")
    # every event must have had its callback with 200
    for it in sent:
        r = results.get(it["insert_id"])
        if r is None:
            add_error(f"python amplitude: no callback for {it['event']} (insert_id {it['insert_id']})")

    REAL_STDOUT.write(json.dumps({"sent": sent, "sdk_errors": sdk_errors}, ensure_ascii=False) + "\n")
    REAL_STDOUT.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
