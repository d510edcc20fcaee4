#!/usr/bin/env node
// Drive the official npm `mixpanel` (node) SDK, unchanged, against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs
// `scripts/install-test-deps` (the SDK lives in tests/sdk/node_modules).
//
// Environment:
//   VW_RUN_ID         unique string for this run; used in ids and in every "vw_seq" marker
//   VW_TOKEN          project token the app puts in the SDK
//   VW_IMPORT_SECRET  API secret for /import. Only given to the SDK when VW_PROTOCOL=https:
//                     the SDK refuses *every* call over http once a secret is configured,
//                     and with https it sends "Authorization: Basic base64(secret:)" on
//                     every request (track, engage, groups too), not only on /import.
//   VW_HOST           "127.0.0.1:PORT"
//   VW_PROTOCOL       "http" or "https" (https: the caller sets NODE_EXTRA_CA_CERTS)
//   VW_NODE_VERBOSE   optional, "1" = SDK option verbose:true (expects {"status":1}); default
//                     is the SDK default (verbose=0 in the query, expects the body "1")
//   VW_TIMEOUT_MS     optional, give up waiting for callbacks after this long (default 45000)
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const path = require('path');

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`mixpanel_node: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

const RUN = env('VW_RUN_ID');
const TOKEN = env('VW_TOKEN');
const SECRET = env('VW_IMPORT_SECRET');
const HOST = env('VW_HOST');
const PROTOCOL = env('VW_PROTOCOL');
const VERBOSE = process.env.VW_NODE_VERBOSE === '1';
const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 45000);
if (PROTOCOL !== 'http' && PROTOCOL !== 'https') {
  process.stderr.write(`mixpanel_node: VW_PROTOCOL must be http or https, got ${PROTOCOL}\n`);
  process.exit(2);
}

// Keep stdout for the single JSON document: anything that logs goes to stderr.
const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
const stderrLogger = {};
for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'log']) {
  stderrLogger[m] = (...a) => console.error(`mixpanel_node sdk ${m}:`, ...a);
  console[m] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

if (!require('fs').existsSync(path.join(__dirname, 'node_modules', 'mixpanel', 'package.json'))) {
  process.stderr.write('mixpanel_node: tests/sdk/node_modules/mixpanel missing: run scripts/install-test-deps\n');
  process.exit(1);
}
const Mixpanel = require(path.join(__dirname, 'node_modules', 'mixpanel'));
const sdkVersion = require(path.join(__dirname, 'node_modules', 'mixpanel', 'package.json')).version;

const sent = [];
const sdkErrors = [];
let seqN = 0;
const seq = () => `${RUN}-${++seqN}`;
const clone = (o) => JSON.parse(JSON.stringify(o));

// --- callback bookkeeping: every SDK call gets a callback; wait for all of them.
const pending = new Map();
let nextId = 0;
let resolveAll;
const allDone = new Promise((r) => { resolveAll = r; });
function checkDone() { if (pending.size === 0 && started) resolveAll(); }
let started = false;

function errText(e) {
  if (!e) return '';
  if (Array.isArray(e)) return e.map(errText).join('; ');
  return e && e.message ? e.message : String(e);
}

// Calls `fn(cb)`; on success pushes `item(s)` to sent, on error records it.
function sdkCall(what, items, fn) {
  const id = ++nextId;
  pending.set(id, what);
  let called = false;
  const cb = (err) => {
    if (called) {
      sdkErrors.push(`node ${what}: callback called twice`);
      return;
    }
    called = true;
    pending.delete(id);
    // track_batch/import_batch pass an array of errors or null
    const bad = Array.isArray(err) ? err.length > 0 : !!err;
    if (bad) sdkErrors.push(`node ${what}: ${errText(err)}`);
    checkDone();
  };
  try {
    fn(cb);
  } catch (e) {
    // the SDK throws synchronously (e.g. "Must use HTTPS if authenticating with API Secret")
    pending.delete(id);
    sdkErrors.push(`node ${what}: threw ${errText(e)}`);
    return;
  }
  for (const it of items) sent.push(it);
}

const ev = (endpoint, event, distinctId, props, time) =>
  ({ endpoint, event, distinct_id: distinctId, properties: clone(props), time: time === undefined ? null : time });
const prof = (distinctId, op, value) => ({ endpoint: 'engage', distinct_id: distinctId, op, value: clone(value) });
const grp = (key, id, op, value) => ({ endpoint: 'groups', group_key: key, group_id: id, op, value: clone(value) });

function main() {
  const config = { host: HOST, protocol: PROTOCOL, keepAlive: false, logger: stderrLogger };
  if (PROTOCOL === 'https') config.secret = SECRET; // see header: http + secret makes every call throw
  if (VERBOSE) config.verbose = true;
  const mp = Mixpanel.init(TOKEN, config);
  process.stderr.write(`mixpanel_node: mixpanel ${sdkVersion} -> ${PROTOCOL}://${HOST} secret=${!!config.secret} verbose=${VERBOSE}\n`);

  const user = `node-user-${RUN}`;
  const user2 = `node-user2-${RUN}`;
  const company = `acme-${RUN}`;
  let p, v;

  // ---------------------------------------------------------------- /track (GET, base64 JSON object in ?data=)
  p = { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
        tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } };
  { const c = clone(p); sdkCall('track Signed Up', [ev('track', 'Signed Up', user, p)],
      (cb) => mp.track('Signed Up', Object.assign(c, { distinct_id: user }), cb)); }

  // a JS Date as time: the SDK sends milliseconds
  const when = new Date(Date.now() - 3600 * 1000);
  p = { vw_seq: seq(), sku: 'TSHIRT-L', quantity: 2, amount: 39.9, currency: 'CHF' };
  { const c = clone(p); sdkCall('track Item Purchased (Date time)', [ev('track', 'Item Purchased', user, p, when.getTime())],
      (cb) => mp.track('Item Purchased', Object.assign(c, { distinct_id: user, time: when }), cb)); }

  // no distinct_id at all (the node SDK adds none)
  p = { vw_seq: seq(), page: '/status', healthy: true, latency_ms: 12.5 };
  { const c = clone(p); sdkCall('track Health Check (no distinct_id)', [ev('track', 'Health Check', null, p)],
      (cb) => mp.track('Health Check', c, cb)); }

  // ---------------------------------------------------------------- track_batch: 60 events -> POSTs of 50 + 10
  {
    const list = [];
    const items = [];
    for (let i = 0; i < 60; i++) {
      const bp = { vw_seq: seq(), index: i, batch: 'track_batch', ratio: i / 8, step: `step-${i}`, city: 'Zürich ✓', symbols: '>>>>> ?????' };
      list.push({ event: 'Batch Step', properties: Object.assign(clone(bp), { distinct_id: user }) });
      items.push(ev('track', 'Batch Step', user, bp));
    }
    sdkCall('track_batch 60', items, (cb) => mp.track_batch(list, cb));
  }

  // ---------------------------------------------------------------- people (/engage, GET)
  v = { vw_seq: seq(), $email: `ada+${RUN}@example.com`, $name: 'Ada Lovelace', plan: 'pro',
        company_size: 250, home: 'Zürich ✓', prefs: { newsletter: true, lang: 'de-CH' } };
  sdkCall('people.set', [prof(user, '$set', v)], (cb) => mp.people.set(user, clone(v), cb));
  v = { vw_seq: seq(), first_seen_plan: 'free', signup_source: 'ads' };
  sdkCall('people.set_once', [prof(user, '$set_once', v)], (cb) => mp.people.set_once(user, clone(v), cb));
  v = { logins: 1, credits: -2.5 }; // numbers only: no marker
  sdkCall('people.increment', [prof(user, '$add', v)], (cb) => mp.people.increment(user, clone(v), cb));
  v = { vw_seq: seq(), visited: '/docs/quickstart' };
  sdkCall('people.append', [prof(user, '$append', v)], (cb) => mp.people.append(user, clone(v), cb));
  v = { vw_seq: [seq()], devices: ['laptop', 'phone'] }; // union: list values (scalars inside)
  sdkCall('people.union', [prof(user, '$union', v)], (cb) => mp.people.union(user, clone(v), cb));
  v = { vw_seq: seq(), devices: 'phone' }; // remove: scalar values
  sdkCall('people.remove', [prof(user, '$remove', v)], (cb) => mp.people.remove(user, clone(v), cb));
  v = ['legacy_field', 'temp_flag'];
  sdkCall('people.unset', [prof(user, '$unset', v)], (cb) => mp.people.unset(user, clone(v), cb));
  sdkCall('people.delete_user', [prof(user2, '$delete', null)], (cb) => mp.people.delete_user(user2, cb));

  // ---------------------------------------------------------------- groups (/groups, GET)
  v = { vw_seq: seq(), $name: 'Acme Inc.', industry: 'widgets', employees: 250, hq: 'Zürich ✓', arr: 1234567.89 };
  sdkCall('groups.set', [grp('company', company, '$set', v)], (cb) => mp.groups.set('company', company, clone(v), cb));
  v = { vw_seq: seq(), founded: 1999 };
  sdkCall('groups.set_once', [grp('company', company, '$set_once', v)], (cb) => mp.groups.set_once('company', company, clone(v), cb));
  v = { vw_seq: [seq()], products: ['anvil', 'rocket'] };
  sdkCall('groups.union', [grp('company', company, '$union', v)], (cb) => mp.groups.union('company', company, clone(v), cb));
  v = ['old_plan', 'trial_end'];
  sdkCall('groups.unset', [grp('company', company, '$unset', v)], (cb) => mp.groups.unset('company', company, clone(v), cb));
  v = { vw_seq: seq(), products: 'rocket' };
  sdkCall('groups.remove', [grp('company', company, '$remove', v)], (cb) => mp.groups.remove('company', company, clone(v), cb));

  // ---------------------------------------------------------------- /import (needs the secret, so https only)
  if (PROTOCOL === 'https') {
    const old = new Date(Date.now() - 10 * 86400 * 1000); // Date -> ms on the wire
    p = { vw_seq: seq(), order_id: `ord-${RUN}`, total: 120.5, items: ['book', 'pen'], city: 'Zürich ✓' };
    { const c = clone(p); sdkCall('import', [ev('import', 'Order Completed', user, p, old.getTime())],
        (cb) => mp.import('Order Completed', old, Object.assign(c, { distinct_id: user }), cb)); }

    const base = Math.floor(Date.now() / 1000) - 10 * 86400;
    const list = [];
    const items = [];
    const times = [base - 60, base - 30, new Date((base - 10) * 1000)]; // seconds, seconds, Date (-> ms)
    times.forEach((t, i) => {
      const bp = { vw_seq: seq(), index: i, batch: 'import_batch', amount: 10.25 * (i + 1), note: 'café ✓ >>>>> ?????' };
      list.push({ event: 'Legacy Purchase', properties: Object.assign(clone(bp), { distinct_id: user, time: t }) });
      items.push(ev('import', 'Legacy Purchase', user, bp, t instanceof Date ? t.getTime() : t));
    });
    sdkCall('import_batch 3', items, (cb) => mp.import_batch(list, cb));
  }

  started = true;
  checkDone();
}

function finish(extraErrors) {
  for (const e of extraErrors || []) sdkErrors.push(e);
  realStdoutWrite(JSON.stringify({ sent, sdk_errors: sdkErrors }) + '\n', () => process.exit(0));
}

const timer = setTimeout(() => {
  finish([`node: timed out after ${TIMEOUT_MS} ms waiting for callbacks: ${[...pending.values()].join(', ')}`]);
}, TIMEOUT_MS);

try {
  main();
} catch (e) {
  process.stderr.write(`mixpanel_node: crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}
allDone.then(() => { clearTimeout(timer); finish(); });
