#!/usr/bin/env node
// Send the labelled corpus through the official npm `mixpanel` SDK (unchanged), over http.
//
// Used by `detectgen e2e --sdk node`: every corpus event goes out through `track_batch`
// (POST /track, 50 events per request, as the SDK batches), so vendorwall's classifier and
// the destination's policy see exactly the corpus values.
//
// Environment:
//   VW_TOKEN   project token the app puts in the SDK
//   VW_HOST    "127.0.0.1:PORT"
//   VW_CORPUS  path of the events.jsonl file
//
// Prints one JSON line on stdout: {"sent": N, "sdk_errors": [...]}.
'use strict';

const fs = require('fs');
const path = require('path');

const sdk = path.join(__dirname, 'node_modules', 'mixpanel');
if (!fs.existsSync(path.join(sdk, 'package.json'))) {
  process.stderr.write(`corpus_node: ${sdk} is missing: run scripts/install-test-deps\n`);
  process.exit(1);
}
const Mixpanel = require(sdk);

const mp = Mixpanel.init(process.env.VW_TOKEN, { host: process.env.VW_HOST, protocol: 'http', keepAlive: true });
const list = fs
  .readFileSync(process.env.VW_CORPUS, 'utf8')
  .split('\n')
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line))
  .map((e) => ({ event: e.event, properties: e.properties || {} }));

mp.track_batch(list, { max_concurrent_requests: 4 }, (errors) => {
  const sdkErrors = (errors || []).filter(Boolean).map((e) => `track_batch: ${e.message || e}`);
  process.stdout.write(JSON.stringify({ sent: list.length, sdk_errors: sdkErrors }) + '\n');
});
