#!/usr/bin/env python3
"""Drive the official PyPI `mixpanel` SDK (unchanged) against vendorwall.

Run by the Rust SDK end-to-end test as a child process. Needs
`scripts/install-test-deps` (the SDK lives in <repo>/.deps/python).

Environment:
  VW_RUN_ID         unique string for this run; used in ids and in every "vw_seq" marker
  VW_TOKEN          project token the app puts in the SDK
  VW_IMPORT_SECRET  API secret the app uses for /import (HTTP Basic "secret:")
  VW_API_HOST       "127.0.0.1:PORT" -- bare host:port; the SDK always uses https://
  REQUESTS_CA_BUNDLE  (set by the caller) CA file for the gateway's self-signed cert
  VW_TIMEOUT_MS     optional, stop making calls after this long (default 60000)
  VW_REQUEST_TIMEOUT  optional, per-request timeout in seconds given to the Consumer (default 20)

Prints exactly one JSON document on stdout:
  {"sent": [...items...], "sdk_errors": ["..."]}
Everything else goes to stderr. Exit status 0 unless this script itself crashes
(errors reported by the SDK go to "sdk_errors").
"""

import json
import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, ".deps", "python")
if not os.path.isfile(os.path.join(DEPS, "mixpanel", "__init__.py")):
    sys.stderr.write(f"mixpanel_python: {DEPS} has no mixpanel package: run scripts/install-test-deps\n")
    sys.exit(1)
sys.path.insert(0, DEPS)

# Keep stdout for the single JSON document only.
REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr
logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="mixpanel_python: %(name)s %(levelname)s %(message)s")

import mixpanel  # noqa: E402
from mixpanel import BufferedConsumer, Consumer, Mixpanel, MixpanelException  # noqa: E402


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.stderr.write(f"mixpanel_python: missing environment variable {name}\n")
        sys.exit(2)
    return v


RUN = env("VW_RUN_ID")
TOKEN = env("VW_TOKEN")
SECRET = env("VW_IMPORT_SECRET")
API_HOST = env("VW_API_HOST")
TIMEOUT = float(os.environ.get("VW_REQUEST_TIMEOUT", "20"))  # seconds, per HTTP request
DEADLINE = time.monotonic() + float(os.environ.get("VW_TIMEOUT_MS", "60000")) / 1000.0

sent = []
sdk_errors = []
_seq = [0]


def seq():
    _seq[0] += 1
    return f"{RUN}-{_seq[0]}"


def call(what, fn, *args, **kwargs):
    """Run one SDK call; a MixpanelException (or anything else the SDK raises) is an sdk_error."""
    if time.monotonic() > DEADLINE:
        # an unreachable gateway costs ~3.5 s per call (the SDK's own urllib3 retries)
        sdk_errors.append(f"python {what}: skipped, overall deadline (VW_TIMEOUT_MS) exceeded")
        return False
    try:
        fn(*args, **kwargs)
        return True
    except MixpanelException as e:
        sdk_errors.append(f"python {what}: MixpanelException: {e}")
    except Exception as e:  # the SDK let something else through: still the SDK's report
        sdk_errors.append(f"python {what}: {type(e).__name__}: {e}")
    return False


def event_item(endpoint, event, distinct_id, props, t=None):
    return {"endpoint": endpoint, "event": event, "distinct_id": distinct_id, "properties": props, "time": t}


def profile_item(distinct_id, op, value):
    return {"endpoint": "engage", "distinct_id": distinct_id, "op": op, "value": value}


def group_item(key, gid, op, value):
    return {"endpoint": "groups", "group_key": key, "group_id": gid, "op": op, "value": value}


def main():
    user = f"py-user-{RUN}"
    user2 = f"py-user2-{RUN}"
    anon = f"py-anon-{RUN}"
    company = f"acme-{RUN}"
    sys.stderr.write(f"mixpanel_python: mixpanel {mixpanel.__version__} -> https://{API_HOST}\n")

    # ------------------------------------------------------------ default Consumer: one object per request
    mp = Mixpanel(TOKEN, consumer=Consumer(api_host=API_HOST, request_timeout=TIMEOUT))

    p = {
        "vw_seq": seq(), "plan": "pro", "seats": 5, "price": 49.99, "trial": False,
        "city": "Zürich ✓", "tags": ["b2b", "annual"],
        "billing": {"country": "CH", "vat": 7.7, "address": {"zip": "8001"}},
    }
    if call("track Signed Up", mp.track, user, "Signed Up", dict(p)):
        sent.append(event_item("track", "Signed Up", user, p))

    p = {"vw_seq": seq(), "page": "/pricing", "referrer_campaign": "spring-sale", "scroll_depth": 0.75}
    if call("track Viewed Pricing", mp.track, anon, "Viewed Pricing", dict(p)):
        sent.append(event_item("track", "Viewed Pricing", anon, p))

    # caller-supplied time (float seconds, one hour ago) overrides the SDK's time.time()
    t = round(time.time() - 3600, 3)
    p = {"vw_seq": seq(), "sku": "TSHIRT-L", "quantity": 2, "amount": 39.9, "currency": "CHF"}
    if call("track Item Purchased", mp.track, user, "Item Purchased", dict(p, time=t)):
        sent.append(event_item("track", "Item Purchased", user, p, t))

    # ------------------------------------------------------------ profiles (/engage)
    v = {"vw_seq": seq(), "$email": f"ada+{RUN}@example.com", "$name": "Ada Lovelace", "plan": "pro",
         "company_size": 250, "home": "Zürich ✓", "prefs": {"newsletter": True, "lang": "de-CH"}}
    if call("people_set", mp.people_set, user, dict(v)):
        sent.append(profile_item(user, "$set", v))
    v = {"vw_seq": seq(), "first_seen_plan": "free", "signup_source": "ads"}
    if call("people_set_once", mp.people_set_once, user, dict(v)):
        sent.append(profile_item(user, "$set_once", v))
    v = {"logins": 1, "credits": -2.5}  # $add takes numbers only: no marker
    if call("people_increment", mp.people_increment, user, dict(v)):
        sent.append(profile_item(user, "$add", v))
    v = {"vw_seq": seq(), "visited": "/docs/quickstart"}
    if call("people_append", mp.people_append, user, dict(v)):
        sent.append(profile_item(user, "$append", v))
    v = {"vw_seq": [seq()], "devices": ["laptop", "phone"]}  # $union takes lists
    if call("people_union", mp.people_union, user, dict(v)):
        sent.append(profile_item(user, "$union", v))
    v = {"vw_seq": seq(), "devices": "phone"}
    if call("people_remove", mp.people_remove, user, dict(v)):
        sent.append(profile_item(user, "$remove", v))
    v = ["legacy_field", "temp_flag"]  # $unset is a list of names: no marker
    if call("people_unset", mp.people_unset, user, list(v)):
        sent.append(profile_item(user, "$unset", v))
    # a separate throwaway profile for $delete (no marker; match by distinct_id)
    if call("people_delete", mp.people_delete, user2):
        sent.append(profile_item(user2, "$delete", None))

    # ------------------------------------------------------------ groups (/groups)
    v = {"vw_seq": seq(), "$name": "Acme Inc.", "industry": "widgets", "employees": 250,
         "hq": "Zürich ✓", "arr": 1234567.89}
    if call("group_set", mp.group_set, "company", company, dict(v)):
        sent.append(group_item("company", company, "$set", v))
    v = {"vw_seq": seq(), "founded": 1999}
    if call("group_set_once", mp.group_set_once, "company", company, dict(v)):
        sent.append(group_item("company", company, "$set_once", v))
    v = {"vw_seq": [seq()], "products": ["anvil", "rocket"]}
    if call("group_union", mp.group_union, "company", company, dict(v)):
        sent.append(group_item("company", company, "$union", v))
    v = ["old_plan", "trial_end"]
    if call("group_unset", mp.group_unset, "company", company, list(v)):
        sent.append(group_item("company", company, "$unset", v))
    v = {"vw_seq": seq(), "products": "rocket"}
    if call("group_remove", mp.group_remove, "company", company, dict(v)):
        sent.append(group_item("company", company, "$remove", v))

    # ------------------------------------------------------------ /import (legacy API secret -> Basic "secret:")
    ts = int(time.time()) - 10 * 86400
    p = {"vw_seq": seq(), "order_id": f"ord-{RUN}", "total": 120.5, "items": ["book", "pen"], "city": "Zürich ✓"}
    if call("import_data", mp.import_data, api_key=TOKEN, distinct_id=user, event_name="Order Completed",
            timestamp=ts, properties=dict(p), api_secret=SECRET):
        sent.append(event_item("import", "Order Completed", user, p, ts))

    # merge() sends a "$merge" event to /import with the same auth (no time, distinct_id or $insert_id)
    if hasattr(mp, "merge"):
        if call("merge", mp.merge, TOKEN, user, anon, api_secret=SECRET):
            sent.append(event_item("import", "$merge", None, {"$distinct_ids": [user, anon]}))

    # ------------------------------------------------------------ BufferedConsumer: arrays of <= max_size
    buffered = BufferedConsumer(max_size=10, api_host=API_HOST, request_timeout=TIMEOUT)
    bmp = Mixpanel(TOKEN, consumer=buffered)
    for i in range(12):  # the 10th send flushes 10 events; flush() sends the last 2
        p = {"vw_seq": seq(), "index": i, "batch": "buffered", "ratio": i / 8, "step": f"step-{i}"}
        if call(f"buffered track #{i}", bmp.track, user, "Onboarding Step", dict(p)):
            sent.append(event_item("track", "Onboarding Step", user, p))
    for i in range(2):  # two profile updates end up as one /engage array on flush()
        v = {"vw_seq": seq(), "onboarding_step": i, "onboarding_done": i == 1}
        if call(f"buffered people_set #{i}", bmp.people_set, user, dict(v)):
            sent.append(profile_item(user, "$set", v))
    call("buffered flush", buffered.flush)

    REAL_STDOUT.write(json.dumps({"sent": sent, "sdk_errors": sdk_errors}, ensure_ascii=False) + "\n")
    REAL_STDOUT.flush()


if __name__ == "__main__":
    main()
