#!/usr/bin/env node
// Drive the official npm `@amplitude/analytics-browser` SDK, unchanged, in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs `scripts/install-test-deps`.
//
// Environment:
//   VW_RUN_ID       unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY          the project API key the app puts in the SDK
//   VW_HOST         "http://127.0.0.1:PORT" -- full URL of the gateway
//   VW_USE_BATCH    optional, "1" = useBatch:true with serverUrl VW_HOST + "/batch";
//                   default serverUrl VW_HOST + "/2/httpapi"
//   VW_PAGE_ORIGIN  e.g. "http://app.test" -- fake origin the test page is served from
//                   (Playwright route.fulfill), so calls to VW_HOST are cross-origin
//   VW_CHROMIUM     optional, default /usr/bin/chromium
//   VW_TIMEOUT_MS   optional, overall deadline (default 60000)
//
// The page loads node_modules/@amplitude/analytics-browser/lib/scripts/amplitude-min.umd.js
// (the package's UMD build, window.amplitude). amplitude.init(key, undefined, {serverUrl,
// useBatch, flushIntervalMillis 500, flushQueueSize 30, flushMaxRetries 2, logLevel Warn,
// remoteConfig: {fetchRemoteConfig: false} (else it fetches settings from Amplitude's own
// remote-config host), enableDiagnostics: false (else it may post diagnostics to Amplitude's
// diagnostics host)}); default autocapture (sessions, page views, attribution, form
// interactions, file downloads: their events go to serverUrl too) and the default fetch
// transport (application/json, so each POST is preceded by a CORS preflight).
//
// Scenario: anonymous track, setUserId + identify ($set, $setOnce, $add), track, setGroup,
// groupIdentify, revenue, tracks, flush. Every call returns {promise} resolving with
// {event, code, message}: code 200 = delivered; anything else is an sdk_error, as are console
// errors, non-2xx answers, failed requests and requests to any other host. Events the SDK adds
// by itself (session_start, [Amplitude] Page Viewed, ...) are not listed in "sent".
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const path = require('path');
const harness = require('./browser_harness');

const TAG = 'amplitude_browser';
const KEY = harness.envOrExit(TAG, 'VW_KEY');
const USE_BATCH = process.env.VW_USE_BATCH === '1';
const PKG = path.join(harness.NM, '@amplitude', 'analytics-browser');
let version = '?';
try { version = require(path.join(PKG, 'package.json')).version; } catch (e) { /* reported by the harness */ }

// Runs in the page.
async function scenario(p) {
  const amplitude = window.amplitude;
  const errors = window.__vw.errors;
  let n = 0;
  const seq = () => `${p.run}-${++n}`;
  const clone = (o) => JSON.parse(JSON.stringify(o));
  const sent = [];
  const waits = [];

  await amplitude.init(p.key, undefined, {
    serverUrl: p.serverUrl,
    useBatch: p.useBatch,
    flushIntervalMillis: 500,
    flushQueueSize: 30,
    flushMaxRetries: 2,
    logLevel: amplitude.Types.LogLevel.Warn,
    // what the SDK does by default, spelled out (else it warns that defaultTracking is unset)
    autocapture: { attribution: true, pageViews: true, sessions: true, formInteractions: true, fileDownloads: true },
    remoteConfig: { fetchRemoteConfig: false },
    enableDiagnostics: false,
  }).promise;

  // Runs one call; the item gets user_id/device_id/insert_id from the event the SDK built.
  const call = (what, item, ret) => {
    sent.push(item);
    waits.push(Promise.resolve(ret && ret.promise).then((res) => {
      const ev = res && res.event;
      if (ev) {
        item.user_id = ev.user_id || null;
        item.device_id = ev.device_id || null;
        item.insert_id = ev.insert_id || null;
      }
      if (!res || res.code !== 200) errors.push(`amplitude ${what}: result code ${res && res.code} ${res && res.message ? String(res.message).slice(0, 200) : ''}`.trim());
    }, (e) => errors.push(`amplitude ${what}: rejected ${e && e.message ? e.message : e}`)));
  };
  const trackItem = (event, props) => ({ type: 'track', event, user_id: null, device_id: null, insert_id: null, event_properties: props, user_properties: null });
  const track = (event, props) => call(`track ${event}`, trackItem(event, props), amplitude.track(event, clone(props)));

  const user = `br-user-${p.run}`;
  const company = `acme-${p.run}`;

  // anonymous (device_id chosen by the SDK)
  track('Landing Viewed', { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' });

  amplitude.setUserId(user);
  const s = { vw_seq: seq(), email: `ada+${p.run}@example.com`, name: 'Ada Lovelace', plan: 'pro', address: { city: 'Zürich ✓', zip: '8001' } };
  const so = { first_seen_plan: 'free', signup_source: 'ads' };
  const add = { logins: 1, credits: -2.5 };
  const ident = new amplitude.Identify();
  for (const [k, v] of Object.entries(s)) ident.set(k, clone(v));
  for (const [k, v] of Object.entries(so)) ident.setOnce(k, v);
  for (const [k, v] of Object.entries(add)) ident.add(k, v);
  call('identify', { type: 'identify', event: '$identify', user_id: null, device_id: null, insert_id: null, event_properties: null,
    user_properties: { $set: s, $setOnce: so, $add: add } }, amplitude.identify(ident));

  track('Signed Up', { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
    tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } });

  call('setGroup', { type: 'identify', event: '$identify', user_id: null, device_id: null, insert_id: null, event_properties: null,
    user_properties: { $set: { company } }, groups: { company } }, amplitude.setGroup('company', company));
  const g = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, billing_email: `billing+${p.run}@acme.test` };
  const gi = new amplitude.Identify();
  for (const [k, v] of Object.entries(g)) gi.set(k, v);
  call('groupIdentify', { type: 'groupidentify', event: '$groupidentify', user_id: null, device_id: null, insert_id: null,
    event_properties: null, user_properties: null, groups: { company }, group_properties: { $set: g } },
  amplitude.groupIdentify('company', company, gi));

  const rp = { vw_seq: seq(), coupon: 'SPRING' };
  const rev = new amplitude.Revenue().setPrice(19.95).setQuantity(2).setProductId('TSHIRT-L').setRevenueType('purchase')
    .setCurrency('CHF').setEventProperties(clone(rp));
  call('revenue', { type: 'revenue', event: 'revenue_amount', user_id: null, device_id: null, insert_id: null, event_properties: rp,
    user_properties: null, revenue: { price: 19.95, quantity: 2, product_id: 'TSHIRT-L', revenue_type: 'purchase', currency: 'CHF' } },
  amplitude.revenue(rev));

  for (let i = 0; i < 5; i++) {
    track('Feature Used', { vw_seq: seq(), feature: ['export', 'share', 'search', 'print', 'undo'][i], index: i, duration_s: 1.5 * (i + 1) });
  }

  await amplitude.flush().promise;
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, p.waitMs))]);
  return sent;
}

const base = (process.env.VW_HOST || '').replace(/\/+$/, '');
harness.main({
  tag: TAG,
  sdkName: '@amplitude/analytics-browser',
  sdkVersion: version,
  files: { '/js/amplitude-min.umd.js': path.join(PKG, 'lib', 'scripts', 'amplitude-min.umd.js') },
  headHtml: '<script src="/js/amplitude-min.umd.js"></script>',
  ready: () => window.amplitude && typeof window.amplitude.init === 'function',
  scenario,
  scenarioArg: { run: process.env.VW_RUN_ID, key: KEY, useBatch: USE_BATCH, serverUrl: base + (USE_BATCH ? '/batch' : '/2/httpapi'),
    waitMs: Math.max(5000, Number(process.env.VW_TIMEOUT_MS || 60000) - 15000) },
  // The SDK reads the JSON body's "code" (falls back to the HTTP status only when the body is not JSON).
  checkResponse: (r) => {
    if (r.method.toUpperCase() !== 'POST') return null;
    let j;
    try { j = JSON.parse(r.response); } catch (e) { return `answer is not JSON: ${String(r.response).slice(0, 100)}`; }
    return j && j.code === 200 ? null : `answer code ${j && j.code}`;
  },
});
