#!/usr/bin/env node
// Drive the official npm `posthog-js` browser SDK, unchanged, in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs `scripts/install-test-deps`.
//
// Environment:
//   VW_RUN_ID       unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY          the project API key ("phc_...") the app puts in the SDK
//   VW_HOST         "http://127.0.0.1:PORT" -- full URL of the gateway, the SDK's api_host
//   VW_PAGE_ORIGIN  e.g. "http://app.test" -- fake origin the test page is served from
//                   (Playwright route.fulfill), so calls to VW_HOST are cross-origin
//   VW_CHROMIUM     optional, default /usr/bin/chromium
//   VW_TIMEOUT_MS   optional, overall deadline (default 60000)
//
// The page loads node_modules/posthog-js/dist/array.full.js (the snippet build with every
// extension bundled, so nothing is lazily loaded from <api_host>/static/). posthog.init with
// api_host = VW_HOST and: autocapture, session recording, surveys, product tours,
// conversations, web experiments, heatmaps, dead clicks, exception capture, performance
// capture off; disable_external_dependency_loading; request_queue_config.flush_interval_ms
// 500; opt_out_useragent_filter (else the SDK drops every event of a headless, automated
// browser as a bot's). Kept at their defaults: the event transport (fetch, body gzip-js = gzip bytes sent as
// text/plain with ?compression=gzip-js, no Content-Encoding), request batching, the initial
// $pageview and the $pageleave on unload, the remote config request (GET
// <api_host>/array/<key>/config) and the /flags request.
//
// Scenario: anonymous capture, identify (with $set and $set_once), setPersonProperties, group
// (-> $groupidentify), alias, captures, reloadFeatureFlags + getFeatureFlag +
// isFeatureEnabled + getFeatureFlagPayload (after onFeatureFlags fired or 10 s), one capture
// with {transport: 'sendBeacon'} (sent at once through navigator.sendBeacon); then, once all
// that was acknowledged, one more capture and a navigation to about:blank: the unload
// handler sends the queued event and $pageleave through navigator.sendBeacon. Chromium
// reports nothing about a request of a document it has left, so that last beacon is not
// checked here (the caller checks its marker arrived); the first one is (DevTools protocol).
//
// SDK-side errors: on_request_error (called for every failed API request), failed/non-2xx
// requests seen by page instrumentation and by Chromium, console errors, and any request to
// another host. Events the SDK adds by itself ($pageview, $pageleave, $feature_flag_called,
// $opt_in...) are not listed in "sent".
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const path = require('path');
const harness = require('./browser_harness');

const TAG = 'posthog_browser';
const KEY = harness.envOrExit(TAG, 'VW_KEY');
const PKG = path.join(harness.NM, 'posthog-js');
let version = '?';
try { version = require(path.join(PKG, 'package.json')).version; } catch (e) { /* reported by the harness */ }

// Runs in the page.
async function scenario(p) {
  const posthog = window.posthog;
  const errors = window.__vw.errors;
  let n = 0;
  const seq = () => `${p.run}-${++n}`;
  const clone = (o) => JSON.parse(JSON.stringify(o));
  const sent = [];
  window.__vwSeq = seq;

  await new Promise((resolve) => {
    posthog.init(p.key, {
      api_host: p.apiHost,
      autocapture: false,
      disable_session_recording: true,
      disable_surveys: true,
      disable_product_tours: true,
      disable_conversations: true,
      disable_web_experiments: true,
      capture_heatmaps: false,
      capture_dead_clicks: false,
      capture_exceptions: false,
      capture_performance: false,
      advanced_disable_toolbar_metrics: true,
      disable_external_dependency_loading: true,
      request_queue_config: { flush_interval_ms: 500 },
      // headless Chromium under automation (navigator.webdriver, "HeadlessChrome" brand) looks
      // like a bot, and posthog-js drops bots' events; the SDK's own advice for e2e tests:
      opt_out_useragent_filter: true,
      on_request_error: (res) => {
        errors.push(`posthog on_request_error: HTTP ${res && res.statusCode} ${res && res.text ? String(res.text).slice(0, 200) : ''}`.trim());
      },
      loaded: () => resolve(),
    });
  });

  // capture() returns the event it queued ({uuid, event, properties: {distinct_id...}})
  const capture = (event, props, options) => {
    const r = options ? posthog.capture(event, clone(props), options) : posthog.capture(event, clone(props));
    const it = { type: 'capture', event, distinct_id: r && r.properties ? r.properties.distinct_id : posthog.get_distinct_id(),
      properties: props, uuid: r ? r.uuid : null };
    if (!r) errors.push(`posthog capture ${event}: returned nothing (dropped)`);
    sent.push(it);
    return it;
  };

  const user = `br-user-${p.run}`;
  const company = `acme-${p.run}`;
  let v, v2;

  // anonymous (distinct_id = the SDK's device id, a UUIDv7)
  capture('Landing Viewed', { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' });

  v = { vw_seq: seq(), email: `ada+${p.run}@example.com`, name: 'Ada Lovelace', plan: 'pro', company_size: 250,
        address: { city: 'Zürich ✓', zip: '8001' } };
  v2 = { vw_seq: seq(), first_seen_plan: 'free', signup_source: 'ads' };
  const anon = posthog.get_distinct_id();
  posthog.identify(user, clone(v), clone(v2));
  sent.push({ type: 'identify', event: '$identify', distinct_id: user, anon_distinct_id: anon, $set: v, $set_once: v2 });

  v = { vw_seq: seq(), last_login_country: 'CH', phone: '+41 44 123 45 67' };
  posthog.setPersonProperties(clone(v));
  sent.push({ type: 'set', event: '$set', distinct_id: user, $set: v, $set_once: null });

  v = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, billing_email: `billing+${p.run}@acme.test` };
  posthog.group('company', company, clone(v));
  sent.push({ type: 'groupidentify', event: '$groupidentify', distinct_id: user, group_type: 'company', group_key: company, $group_set: v });

  posthog.alias(`br-alias-${p.run}`);
  sent.push({ type: 'alias', event: '$create_alias', distinct_id: user, alias: `br-alias-${p.run}` });

  capture('Signed Up', { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
    tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } });
  for (let i = 0; i < 3; i++) {
    capture('Feature Used', { vw_seq: seq(), feature: ['export', 'share', 'search'][i], index: i, duration_s: 1.5 * (i + 1) });
  }

  // feature flags: /flags is requested at init (after remote config) and again after identify/group
  await new Promise((resolve) => {
    const t = setTimeout(() => { errors.push('posthog onFeatureFlags: not called within 10 s'); resolve(); }, 10000);
    posthog.onFeatureFlags(() => { clearTimeout(t); resolve(); });
    posthog.reloadFeatureFlags();
  });
  window.__vwFlags = {
    'new-checkout': posthog.getFeatureFlag('new-checkout'),
    'beta-dashboard': posthog.isFeatureEnabled('beta-dashboard'),
    payload: posthog.getFeatureFlagPayload('new-checkout'),
  };

  // one event straight through navigator.sendBeacon
  const beacon = capture('Checkout Completed', { vw_seq: seq(), order_id: `ord-${p.run}`, total: 120.5, items: ['book', 'pen'] },
    { transport: 'sendBeacon' });
  return { sent, pings: 1, beaconMarkers: [beacon.properties.vw_seq] };
}

// Once everything above was acknowledged: queue one more event and leave the page; the unload
// handler flushes the queue (and $pageleave) with navigator.sendBeacon.
async function afterSettled(page, { log }) {
  log(`flags seen by the app: ${JSON.stringify(await page.evaluate(() => window.__vwFlags))}`);
  const item = await page.evaluate(() => {
    const props = { vw_seq: window.__vwSeq(), seconds_on_page: 42.5, last_section: 'checkout' };
    const r = window.posthog.capture('Left Page', JSON.parse(JSON.stringify(props)));
    return { type: 'capture', event: 'Left Page', distinct_id: r && r.properties ? r.properties.distinct_id : null, properties: props, uuid: r ? r.uuid : null };
  });
  await page.goto('about:blank');
  // Chromium reports nothing about the requests of a document it has left (neither to
  // Playwright nor over the DevTools protocol): the unload beacon cannot be watched from here.
  // Give it a moment; the caller checks that its marker arrived.
  await new Promise((r) => setTimeout(r, 1500));
  return { pings: 0, sent: [item], beaconMarkers: [item.properties.vw_seq] };
}

harness.main({
  tag: TAG,
  sdkName: 'posthog-js',
  sdkVersion: version,
  files: { '/js/posthog.array.full.js': path.join(PKG, 'dist', 'array.full.js') },
  headHtml: '<script src="/js/posthog.array.full.js"></script>',
  ready: () => window.posthog && typeof window.posthog.init === 'function',
  scenario,
  scenarioArg: { run: process.env.VW_RUN_ID, key: KEY, apiHost: (process.env.VW_HOST || '').replace(/\/+$/, '') },
  afterSettled,
  // posthog-js counts any 2xx as success; the body is only read for /flags and the remote config
  checkResponse: (r) => {
    const p = new URL(r.url).pathname;
    if (p.startsWith('/flags')) {
      try { JSON.parse(r.response); } catch (e) { return `/flags answer is not JSON: ${String(r.response).slice(0, 100)}`; }
    }
    return null;
  },
});
