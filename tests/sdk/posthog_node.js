#!/usr/bin/env node
// Drive the official npm `posthog-node` SDK, unchanged, against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs
// `scripts/install-test-deps` (the SDK lives in tests/sdk/node_modules).
//
// Environment:
//   VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY         the project API key ("phc_...") the app puts in the SDK
//   VW_HOST        "http://127.0.0.1:PORT" -- full URL; events go to VW_HOST + "/batch/"
//                  (gzip, Content-Encoding: gzip), flags to VW_HOST + "/flags/?v=2"
//   VW_TIMEOUT_MS  optional, overall deadline (default 45000)
//
// Two clients, one after the other: the default one (gzip) and one with
// disableCompression:true (plain JSON). flushAt 20, flushInterval 500 ms, fetchRetryCount 2.
// The SDK reports failures only through its 'error' event (upload failures after the retries,
// /flags failures) -- all recorded; shutdown() rejections too. Feature flags are evaluated
// remotely (no personal API key): evaluateFlags (one POST /flags) and getAllFlags; reading
// a flag from the snapshot makes the SDK capture "$feature_flag_called" (not listed in "sent").
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const fs = require('fs');
const path = require('path');

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`posthog_node: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

const RUN = env('VW_RUN_ID');
const KEY = env('VW_KEY');
const HOST = env('VW_HOST').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 45000);
const T0 = Date.now();

const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'log']) {
  console[m] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

const PKG = path.join(__dirname, 'node_modules', 'posthog-node');
if (!fs.existsSync(path.join(PKG, 'package.json'))) {
  process.stderr.write('posthog_node: tests/sdk/node_modules/posthog-node missing: run scripts/install-test-deps\n');
  process.exit(1);
}
const { PostHog } = require(PKG);
const sdkVersion = require(path.join(PKG, 'package.json')).version;

const sent = [];
const sdkErrors = [];
const addError = (e) => { if (!sdkErrors.includes(e)) sdkErrors.push(e); };
let seqN = 0;
const seq = () => `${RUN}-${++seqN}`;
const clone = (o) => JSON.parse(JSON.stringify(o));
const errText = (e) => {
  if (!e) return String(e);
  const status = e.status !== undefined ? ` (HTTP ${e.status})` : '';
  return `${e.name || 'Error'}: ${e.message || e}${status}`;
};

function call(what, item, fn) {
  try {
    fn();
  } catch (e) {
    addError(`node ${what}: threw ${errText(e)}`);
    return;
  }
  if (item) sent.push(item);
}

const capture = (event, distinctId, props, extra) =>
  Object.assign({ type: 'capture', event, distinct_id: distinctId, properties: clone(props), groups: null, timestamp: null }, extra || {});

async function shutdown(name, ph) {
  const left = Math.max(1000, TIMEOUT_MS - (Date.now() - T0) - 2000);
  try {
    await ph.shutdown(left);
  } catch (e) {
    addError(`node ${name} shutdown: ${errText(e)}`);
  }
}

function client(name, extra) {
  const ph = new PostHog(KEY, Object.assign({
    host: HOST, flushAt: 20, flushInterval: 500, fetchRetryCount: 2, fetchRetryDelay: 200,
    requestTimeout: 10000, featureFlagsRequestTimeoutMs: 10000,
  }, extra || {}));
  ph.on('error', (e) => addError(`node posthog ${name} 'error' event: ${errText(e)}`));
  return ph;
}

async function main() {
  process.stderr.write(`posthog_node: posthog-node ${sdkVersion} -> ${HOST}/batch/\n`);
  const user = `node-user-${RUN}`;
  const anon = `node-anon-${RUN}`;
  const company = `acme-${RUN}`;
  let p, v, v2;

  const ph = client('default');

  // anonymous
  p = { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' };
  call('capture Landing Viewed', capture('Landing Viewed', anon, p),
    () => ph.capture({ distinctId: anon, event: 'Landing Viewed', properties: clone(p) }));
  p = { vw_seq: seq(), $current_url: 'https://app.test/pricing', $pathname: '/pricing' };
  call('capture $pageview', capture('$pageview', anon, p), () => ph.capture({ distinctId: anon, event: '$pageview', properties: clone(p) }));

  // identify ($identify with $set/$set_once), setPersonProperties ($set), alias ($create_alias)
  v = { vw_seq: seq(), email: `ada+${RUN}@example.com`, name: 'Ada Lovelace', plan: 'pro', company_size: 250,
        address: { city: 'Zürich ✓', zip: '8001' } };
  v2 = { vw_seq: seq(), first_seen_plan: 'free', signup_source: 'ads' };
  call('identify', { type: 'identify', event: '$identify', distinct_id: user, $set: clone(v), $set_once: clone(v2) },
    () => ph.identify({ distinctId: user, properties: { $set: clone(v), $set_once: clone(v2) } }));
  v = { vw_seq: seq(), last_login_country: 'CH', phone: '+41 44 123 45 67' };
  call('setPersonProperties', { type: 'set', event: '$set', distinct_id: user, $set: clone(v), $set_once: null },
    () => ph.setPersonProperties({ distinctId: user, properties: clone(v) }));
  call('alias', { type: 'alias', event: '$create_alias', distinct_id: user, alias: anon },
    () => ph.alias({ distinctId: user, alias: anon }));

  // captures with groups / timestamp
  p = { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
        tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } };
  call('capture Signed Up', capture('Signed Up', user, p, { groups: { company } }),
    () => ph.capture({ distinctId: user, event: 'Signed Up', properties: clone(p), groups: { company } }));
  const when = new Date(Date.now() - 3600 * 1000);
  p = { vw_seq: seq(), sku: 'TSHIRT-L', quantity: 2, amount: 39.9, currency: 'CHF', $ip: '203.0.113.7' };
  call('capture Item Purchased (timestamp)', capture('Item Purchased', user, p, { timestamp: when.toISOString() }),
    () => ph.capture({ distinctId: user, event: 'Item Purchased', properties: clone(p), timestamp: when }));

  // group identify
  v = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, billing_email: `billing+${RUN}@acme.test` };
  call('groupIdentify', { type: 'groupidentify', event: '$groupidentify', distinct_id: user, group_type: 'company', group_key: company, $group_set: clone(v) },
    () => ph.groupIdentify({ groupType: 'company', groupKey: company, properties: clone(v), distinctId: user }));

  for (let i = 0; i < 8; i++) {
    p = { vw_seq: seq(), index: i, step: `step-${i}`, ratio: i / 8 };
    call(`capture Onboarding Step #${i}`, capture('Onboarding Step', user, p),
      () => ph.capture({ distinctId: user, event: 'Onboarding Step', properties: clone(p) }));
  }

  // feature flags (remote evaluation)
  try {
    const flags = await ph.evaluateFlags(user, { groups: { company }, personProperties: { plan: 'pro' } });
    process.stderr.write(`posthog_node: new-checkout=${JSON.stringify(flags.getFlag('new-checkout'))} beta-dashboard=${JSON.stringify(flags.isEnabled('beta-dashboard'))}\n`);
    p = { vw_seq: seq(), button: 'checkout' };
    call('capture Checkout Clicked (flags)', capture('Checkout Clicked', user, p),
      () => ph.capture({ distinctId: user, event: 'Checkout Clicked', properties: clone(p), flags }));
  } catch (e) {
    addError(`node evaluateFlags: rejected ${errText(e)}`);
  }
  try {
    const all = await ph.getAllFlags(user);
    process.stderr.write(`posthog_node: getAllFlags -> ${JSON.stringify(all)}\n`);
  } catch (e) {
    addError(`node getAllFlags: rejected ${errText(e)}`);
  }
  await shutdown('default', ph);

  // second client: disableCompression (plain JSON body)
  const plain = client('plain', { disableCompression: true });
  p = { vw_seq: seq(), feature: 'export', duration_s: 1.5 };
  call('plain capture Feature Used', capture('Feature Used', user, p),
    () => plain.capture({ distinctId: user, event: 'Feature Used', properties: clone(p) }));
  v = { vw_seq: seq(), email: `grace+${RUN}@example.com`, name: 'Grace Hopper' };
  call('plain identify', { type: 'identify', event: '$identify', distinct_id: `node-user2-${RUN}`, $set: clone(v), $set_once: null },
    () => plain.identify({ distinctId: `node-user2-${RUN}`, properties: { $set: clone(v) } }));
  await shutdown('plain', plain);
}

function finish() {
  realStdoutWrite(JSON.stringify({ sent, sdk_errors: sdkErrors }) + '\n', () => process.exit(0));
}

const timer = setTimeout(() => {
  addError(`node: overall timeout after ${TIMEOUT_MS} ms`);
  finish();
}, TIMEOUT_MS);

main().then(() => { clearTimeout(timer); finish(); }, (e) => {
  process.stderr.write(`posthog_node: crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
