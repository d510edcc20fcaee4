#!/usr/bin/env node
// Drive the official npm `@segment/analytics-node` SDK, unchanged, against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs
// `scripts/install-test-deps` (the SDK lives in tests/sdk/node_modules).
//
// Environment:
//   VW_RUN_ID      unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY         the source's write key the app puts in the SDK
//   VW_HOST        "http://127.0.0.1:PORT" -- full URL; the SDK posts to VW_HOST + "/v1/batch"
//   VW_TIMEOUT_MS  optional, overall deadline (default 45000)
//
// One client (flushAt 15 -- the SDK default --, flushInterval 500 ms, maxRetries 2 so that a
// failing gateway is reported within the deadline). Every call gets the SDK's per-call
// callback (err, ctx): err = the delivery failed after the SDK's retries. The client's 'error'
// event is recorded too. closeAndFlush() at the end.
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const fs = require('fs');
const path = require('path');

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`segment_node: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

const RUN = env('VW_RUN_ID');
const KEY = env('VW_KEY');
const HOST = env('VW_HOST').replace(/\/+$/, '');
const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 45000);

// Keep stdout for the single JSON document: anything that logs goes to stderr.
const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'log']) {
  console[m] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

const PKG = path.join(__dirname, 'node_modules', '@segment', 'analytics-node');
if (!fs.existsSync(path.join(PKG, 'package.json'))) {
  process.stderr.write('segment_node: tests/sdk/node_modules/@segment/analytics-node missing: run scripts/install-test-deps\n');
  process.exit(1);
}
const { Analytics } = require(PKG);
const sdkVersion = require(path.join(PKG, 'package.json')).version;

const sent = [];
const sdkErrors = [];
const addError = (e) => { if (!sdkErrors.includes(e)) sdkErrors.push(e); };
let seqN = 0;
const seq = () => `${RUN}-${++seqN}`;
const clone = (o) => JSON.parse(JSON.stringify(o));
const errText = (e) => (e && e.message ? e.message : String(e));

const pending = new Map();
let nextId = 0;

// Calls `fn(params, cb)`; records the item (with the messageId the SDK chose) and waits for cb.
function sdkCall(what, item, fn, params) {
  const id = ++nextId;
  pending.set(id, what);
  let called = false;
  const cb = (err, ctx) => {
    if (called) { addError(`node ${what}: callback called twice`); return; }
    called = true;
    pending.delete(id);
    if (err) addError(`node ${what}: ${errText(err)}`);
    else if (ctx && typeof ctx.failedDelivery === 'function' && ctx.failedDelivery()) {
      addError(`node ${what}: failedDelivery ${errText(ctx.failedDelivery().reason)}`);
    }
  };
  let ctxPromise;
  try {
    ctxPromise = fn(params, cb);
  } catch (e) {
    pending.delete(id);
    addError(`node ${what}: threw ${errText(e)}`);
    return;
  }
  void ctxPromise;
  sent.push(item);
  return item;
}

const item = (type, event, userId, anonymousId, properties, traits, extra) =>
  Object.assign({ type, event, user_id: userId, anonymous_id: anonymousId,
    properties: properties === null ? null : clone(properties), traits: traits === null ? null : clone(traits) }, extra || {});

async function main() {
  const analytics = new Analytics({
    writeKey: KEY, host: HOST, flushInterval: 500, maxRetries: 2, httpRequestTimeout: 15000,
  });
  analytics.on('error', (err) => addError(`node segment 'error' event: ${errText(err && (err.reason || err.error) ? (err.reason || err.error) : err)} ${err && err.code ? '(' + err.code + ')' : ''}`.trim()));
  analytics.on('http_response', (r) => process.stderr.write(`segment_node: POST ${r.url} -> ${r.status}\n`));
  // messageIds: the SDK emits every event it accepted; remember them per marker
  const byMarker = new Map();
  for (const t of ['track', 'identify', 'page', 'screen', 'group', 'alias']) {
    analytics.on(t, (ctx) => {
      const ev = ctx && ctx.event;
      if (!ev) return;
      const bag = ev.properties || ev.traits || {};
      const key = bag.vw_seq || `${ev.type}:${ev.previousId || ''}:${ev.userId || ''}`;
      byMarker.set(key, ev.messageId);
    });
  }
  process.stderr.write(`segment_node: @segment/analytics-node ${sdkVersion} -> ${HOST}/v1/batch\n`);

  const user = `node-user-${RUN}`;
  const anon = `node-anon-${RUN}`;
  const company = `acme-${RUN}`;
  let p, t;

  // anonymous
  p = { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' };
  sdkCall('track Landing Viewed', item('track', 'Landing Viewed', null, anon, p, null),
    (a, cb) => analytics.track(a, cb), { anonymousId: anon, event: 'Landing Viewed', properties: clone(p) });
  p = { vw_seq: seq(), url: 'https://app.test/pricing', path: '/pricing', referrer: 'https://search.test/?q=x' };
  sdkCall('page Pricing', item('page', null, null, anon, p, null, { name: 'Pricing', category: 'Marketing' }),
    (a, cb) => analytics.page(a, cb), { anonymousId: anon, category: 'Marketing', name: 'Pricing', properties: clone(p) });

  // identify / alias
  t = { vw_seq: seq(), email: `ada+${RUN}@example.com`, name: 'Ada Lovelace', firstName: 'Ada', plan: 'pro',
        company_size: 250, address: { city: 'Zürich ✓', postalCode: '8001' } };
  sdkCall('identify', item('identify', null, user, anon, null, t),
    (a, cb) => analytics.identify(a, cb), { userId: user, anonymousId: anon, traits: clone(t) });
  sdkCall('alias', item('alias', null, user, null, null, null, { previous_id: anon }),
    (a, cb) => analytics.alias(a, cb), { previousId: anon, userId: user });

  // tracks
  p = { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
        tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } };
  sdkCall('track Signed Up', item('track', 'Signed Up', user, null, p, null),
    (a, cb) => analytics.track(a, cb), { userId: user, event: 'Signed Up', properties: clone(p) });
  const when = new Date(Date.now() - 3600 * 1000);
  p = { vw_seq: seq(), sku: 'TSHIRT-L', quantity: 2, revenue: 39.9, currency: 'CHF' };
  sdkCall('track Order Completed (timestamp)', item('track', 'Order Completed', user, null, p, null, { timestamp: when.toISOString() }),
    (a, cb) => analytics.track(a, cb),
    { userId: user, event: 'Order Completed', properties: clone(p), timestamp: when, context: { ip: '203.0.113.7', locale: 'de-CH' } });

  // group / screen
  t = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, email: `billing+${RUN}@acme.test` };
  sdkCall('group', item('group', null, user, null, null, t, { group_id: company }),
    (a, cb) => analytics.group(a, cb), { userId: user, groupId: company, traits: clone(t) });
  p = { vw_seq: seq(), tab: 'settings' };
  sdkCall('screen Settings', item('screen', null, user, null, p, null, { name: 'Settings', category: 'App' }),
    (a, cb) => analytics.screen(a, cb), { userId: user, category: 'App', name: 'Settings', properties: clone(p) });

  for (let i = 0; i < 10; i++) {
    p = { vw_seq: seq(), index: i, step: `step-${i}`, ratio: i / 8 };
    sdkCall(`track Onboarding Step #${i}`, item('track', 'Onboarding Step', user, null, p, null),
      (a, cb) => analytics.track(a, cb), { userId: user, event: 'Onboarding Step', properties: clone(p) });
  }

  // wait for every callback, then close (closeAndFlush resolves once everything was attempted)
  const t0 = Date.now();
  while (pending.size > 0 && Date.now() - t0 < TIMEOUT_MS - 2000) await new Promise((r) => setTimeout(r, 50));
  if (pending.size > 0) addError(`node: timed out waiting for callbacks: ${[...pending.values()].join(', ')}`);
  try {
    await analytics.closeAndFlush({ timeout: 5000 });
  } catch (e) {
    addError(`node closeAndFlush: ${errText(e)}`);
  }
  for (const it of sent) {
    const bag = it.properties || it.traits || {};
    const key = bag.vw_seq || `${it.type}:${it.previous_id || ''}:${it.user_id || ''}`;
    it.message_id = byMarker.get(key) || null;
  }
}

function finish() {
  realStdoutWrite(JSON.stringify({ sent, sdk_errors: sdkErrors }) + '\n', () => process.exit(0));
}

const timer = setTimeout(() => {
  addError(`node: overall timeout after ${TIMEOUT_MS} ms`);
  finish();
}, TIMEOUT_MS);

main().then(() => { clearTimeout(timer); finish(); }, (e) => {
  process.stderr.write(`segment_node: crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
