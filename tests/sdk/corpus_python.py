#!/usr/bin/env python3
"""Send the labelled PII corpus through the official PyPI `mixpanel` SDK (unchanged).

Used by the firewall end-to-end test: every corpus event is tracked with its own
distinct_id and properties through a BufferedConsumer (batches of 50, as the SDK allows),
so vendorwall's classifier and the destination's policy see exactly the corpus values.

Environment:
  VW_TOKEN        project token the app puts in the SDK
  VW_API_HOST     "127.0.0.1:PORT" (the SDK always uses https://; REQUESTS_CA_BUNDLE set by the caller)
  VW_CORPUS       path of the events.jsonl file
  VW_LIMIT        optional: send only the first N events

Prints one JSON line on stdout: {"sent": N, "sdk_errors": [...]}.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, ".deps", "python")
if not os.path.isfile(os.path.join(DEPS, "mixpanel", "__init__.py")):
    sys.stderr.write(f"corpus_python: {DEPS} has no mixpanel package: run scripts/install-test-deps\n")
    sys.exit(1)
sys.path.insert(0, DEPS)

REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr

from mixpanel import BufferedConsumer, Mixpanel, MixpanelException  # noqa: E402

token = os.environ["VW_TOKEN"]
consumer = BufferedConsumer(max_size=50, api_host=os.environ["VW_API_HOST"], request_timeout=30)
mp = Mixpanel(token, consumer=consumer)
limit = int(os.environ.get("VW_LIMIT", "0")) or None

sent = 0
errors = []
with open(os.environ["VW_CORPUS"], encoding="utf-8") as f:
    for i, line in enumerate(f):
        if limit is not None and i >= limit:
            break
        event = json.loads(line)
        props = event.get("properties", {})
        try:
            mp.track(props.get("distinct_id", ""), event["event"], props)
            sent += 1
        except MixpanelException as e:
            errors.append(f"line {i + 1}: {type(e).__name__}")
try:
    consumer.flush()
except MixpanelException as e:
    errors.append(f"flush: {type(e).__name__}")

REAL_STDOUT.write(json.dumps({"sent": sent, "sdk_errors": errors}) + "\n")
