#!/usr/bin/env node
// Drive the official npm `@amplitude/analytics-node` SDK, unchanged, against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs
// `scripts/install-test-deps` (the SDK lives in tests/sdk/node_modules).
//
// Environment:
//   VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY         the project API key the app puts in the SDK
//   VW_HOST        "http://127.0.0.1:PORT" -- full URL of the gateway
//   VW_USE_BATCH   optional, "1" = useBatch:true with serverUrl VW_HOST + "/batch" (Batch API);
//                  default serverUrl VW_HOST + "/2/httpapi" (HTTP V2 API)
//   VW_TIMEOUT_MS  optional, overall deadline (default 45000)
//
// One client (createInstance; flushQueueSize 20, flushIntervalMillis 500, flushMaxRetries 2,
// logLevel Warn with a loggerProvider writing to stderr and recording errors). Every call
// returns {promise}; the promise resolves with {event, code, message} once the SDK is done
// with the event: code 200 = delivered, anything else is an sdk_error (the SDK never rejects).
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`amplitude_node: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

const RUN = env('VW_RUN_ID');
const KEY = env('VW_KEY');
const HOST = env('VW_HOST').replace(/\/+$/, '');
const USE_BATCH = process.env.VW_USE_BATCH === '1';
const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 45000);

const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'log']) {
  console[m] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

const PKG = path.join(__dirname, 'node_modules', '@amplitude', 'analytics-node');
if (!fs.existsSync(path.join(PKG, 'package.json'))) {
  process.stderr.write('amplitude_node: tests/sdk/node_modules/@amplitude/analytics-node missing: run scripts/install-test-deps\n');
  process.exit(1);
}
const amplitude = require(PKG);
const sdkVersion = require(path.join(PKG, 'package.json')).version;

const sent = [];
const sdkErrors = [];
const addError = (e) => { if (!sdkErrors.includes(e)) sdkErrors.push(e); };
let seqN = 0;
const seq = () => `${RUN}-${++seqN}`;
const clone = (o) => JSON.parse(JSON.stringify(o));
const errText = (e) => (e && e.message ? e.message : String(e));

const waits = [];
// Runs one SDK call (which returns {promise}) and records the item; the promise's `code` is the
// SDK's verdict for that event.
function call(what, item, fn) {
  let ret;
  try {
    ret = fn();
  } catch (e) {
    addError(`node ${what}: threw ${errText(e)}`);
    return;
  }
  sent.push(item);
  waits.push(Promise.resolve(ret && ret.promise).then((res) => {
    if (!res || res.code !== 200) addError(`node ${what}: result code ${res && res.code} ${res && res.message ? res.message : ''}`.trim());
  }, (e) => addError(`node ${what}: rejected ${errText(e)}`)));
}

// The SDK leaves log-level filtering to a custom loggerProvider: keep warn/error only.
const logger = {
  disable() {}, enable() {},
  log: () => {},
  debug: () => {},
  warn: (...a) => process.stderr.write(`amplitude_node sdk warn: ${a.join(' ')}\n`),
  error: (...a) => { process.stderr.write(`amplitude_node sdk error: ${a.join(' ')}\n`); addError(`node amplitude logger.error: ${a.join(' ')}`); },
};

async function main() {
  const urlPath = USE_BATCH ? '/batch' : '/2/httpapi';
  process.stderr.write(`amplitude_node: @amplitude/analytics-node ${sdkVersion} -> ${HOST}${urlPath} (useBatch=${USE_BATCH})\n`);
  const amp = amplitude.createInstance();
  await amp.init(KEY, {
    serverUrl: HOST + urlPath, useBatch: USE_BATCH, flushQueueSize: 20, flushIntervalMillis: 500, flushMaxRetries: 2,
    logLevel: amplitude.Types.LogLevel.Warn, loggerProvider: logger,
  }).promise;

  const user = `node-user-${RUN}`;
  const device = `node-device-${RUN}`;
  const company = `acme-${RUN}`;
  const iid = () => crypto.randomUUID();
  let p, o;

  const track = (name, props, opts) => {
    o = Object.assign({ insert_id: iid() }, opts);
    call(`track ${name}`, { type: 'track', event: name, user_id: o.user_id || null, device_id: o.device_id || null, insert_id: o.insert_id,
      event_properties: clone(props), user_properties: null, time: o.time || null },
    () => amp.track(name, clone(props), Object.assign({}, o)));
  };

  // anonymous (device only)
  track('Landing Viewed', { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' }, { device_id: device });
  track('Viewed Pricing', { vw_seq: seq(), plans_shown: ['free', 'pro'], currency: 'CHF' }, { device_id: device });

  // identify: $set, $setOnce, $add
  const s = { vw_seq: seq(), email: `ada+${RUN}@example.com`, name: 'Ada Lovelace', plan: 'pro', address: { city: 'Zürich ✓', zip: '8001' } };
  const so = { first_seen_plan: 'free', signup_source: 'ads' };
  const add = { logins: 1, credits: -2.5 };
  const ident = new amplitude.Identify();
  for (const [k, v] of Object.entries(s)) ident.set(k, clone(v));
  for (const [k, v] of Object.entries(so)) ident.setOnce(k, v);
  for (const [k, v] of Object.entries(add)) ident.add(k, v);
  o = { user_id: user, device_id: device, insert_id: iid() };
  call('identify', { type: 'identify', event: '$identify', user_id: user, device_id: device, insert_id: o.insert_id,
    event_properties: null, user_properties: { $set: s, $setOnce: so, $add: add } }, () => amp.identify(ident, Object.assign({}, o)));

  // tracks
  track('Signed Up', { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
    tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } }, { user_id: user, device_id: device });
  track('Item Purchased', { vw_seq: seq(), sku: 'TSHIRT-L', quantity: 2, amount: 39.9 },
    { user_id: user, device_id: device, time: Date.now() - 3600 * 1000, ip: '203.0.113.7', country: 'Switzerland' });

  // groups: setGroup ($identify with groups) + groupIdentify
  o = { user_id: user, device_id: device, insert_id: iid() };
  call('setGroup', { type: 'identify', event: '$identify', user_id: user, device_id: device, insert_id: o.insert_id,
    event_properties: null, user_properties: { $set: { company } }, groups: { company } },
  () => amp.setGroup('company', company, Object.assign({}, o)));
  const g = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, billing_email: `billing+${RUN}@acme.test` };
  const gi = new amplitude.Identify();
  for (const [k, v] of Object.entries(g)) gi.set(k, v);
  o = { user_id: user, device_id: device, insert_id: iid() };
  call('groupIdentify', { type: 'groupidentify', event: '$groupidentify', user_id: user, device_id: device, insert_id: o.insert_id,
    event_properties: null, user_properties: null, groups: { company }, group_properties: { $set: g } },
  () => amp.groupIdentify('company', company, gi, Object.assign({}, o)));

  // revenue
  p = { vw_seq: seq(), coupon: 'SPRING' };
  const rev = new amplitude.Revenue().setPrice(19.95).setQuantity(2).setProductId('TSHIRT-L').setRevenueType('purchase')
    .setCurrency('CHF').setEventProperties(clone(p));
  o = { user_id: user, device_id: device, insert_id: iid() };
  call('revenue', { type: 'revenue', event: 'revenue_amount', user_id: user, device_id: device, insert_id: o.insert_id,
    event_properties: p, user_properties: null,
    revenue: { price: 19.95, quantity: 2, product_id: 'TSHIRT-L', revenue_type: 'purchase', currency: 'CHF' } },
  () => amp.revenue(rev, Object.assign({}, o)));

  for (let i = 0; i < 8; i++) {
    track('Onboarding Step', { vw_seq: seq(), index: i, step: `step-${i}`, ratio: i / 8 }, { user_id: user, device_id: device });
  }

  try {
    await amp.flush().promise;
  } catch (e) {
    addError(`node flush: ${errText(e)}`);
  }
  await Promise.all(waits);
}

function finish() {
  realStdoutWrite(JSON.stringify({ sent, sdk_errors: sdkErrors }) + '\n', () => process.exit(0));
}

const timer = setTimeout(() => {
  addError(`node: overall timeout after ${TIMEOUT_MS} ms`);
  finish();
}, TIMEOUT_MS);

main().then(() => { clearTimeout(timer); finish(); }, (e) => {
  process.stderr.write(`amplitude_node: crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
