#!/usr/bin/env node
// Drive the official npm `@segment/analytics-next` (analytics.js 2.0) browser SDK, unchanged,
// in headless Chromium (Debian's /usr/bin/chromium through playwright-core) against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs `scripts/install-test-deps`.
//
// Environment:
//   VW_RUN_ID       unique string for this run; used in ids and in every "vw_seq" marker
//   VW_KEY          the source's write key the app puts in the SDK
//   VW_HOST         "http://127.0.0.1:PORT" -- full URL of the gateway
//   VW_PAGE_ORIGIN  e.g. "http://app.test" -- fake origin the test page is served from
//                   (Playwright route.fulfill), so calls to VW_HOST are cross-origin
//   VW_CHROMIUM     optional, default /usr/bin/chromium
//   VW_TIMEOUT_MS   optional, overall deadline (default 60000)
//
// The page loads node_modules/@segment/analytics-next/dist/umd/index.js (the package's own UMD
// build, window.AnalyticsNext). Its lazily loaded chunks would come from <cdn>/analytics-next/
// bundles/; the page sets window.analytics._cdn = VW_PAGE_ORIGIN before loading it and the
// harness serves dist/umd/ there (the minimal settings below need no chunk). No request goes
// to cdn.segment.com: AnalyticsBrowser.load gets `cdnSettings` inline (the shape the CDN's
// /v1/projects/<key>/settings returns) and `cdnURL: VW_PAGE_ORIGIN`; the Segment.io
// integration is pointed at the gateway with integrations: {'Segment.io': {apiHost:
// '127.0.0.1:PORT/v1', protocol: 'http'}}.
//
// Two instances:
//   default delivery (one fetch per event, POST <apiHost>/{t,i,p,s,g,a}, text/plain JSON,
//   Authorization: Basic base64(writeKey:) -> a CORS preflight per path): page, anonymous
//   track, identify, track, group, alias, screen, tracks;
//   deliveryStrategy batching (size 10, timeout 1000 ms: POST <apiHost>/b): four tracks and a
//   page, flushed by the timeout.
// Every call's promise resolves with the SDK's Context; a ctx.failedDelivery() or a rejection
// is an sdk_error, as is a non-2xx answer, a failed request, a console error, or any request
// to another host.
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const path = require('path');
const harness = require('./browser_harness');

const TAG = 'segment_browser';
const KEY = harness.envOrExit(TAG, 'VW_KEY');
const PKG = path.join(harness.NM, '@segment', 'analytics-next');
const UMD_DIR = path.join(PKG, 'dist', 'umd');
let version = '?';
try { version = require(path.join(PKG, 'package.json')).version; } catch (e) { /* reported by the harness */ }

// Runs in the page.
async function scenario(p) {
  const { AnalyticsBrowser } = window.AnalyticsNext;
  let n = 0;
  const seq = () => `${p.run}-${++n}`;
  const clone = (o) => JSON.parse(JSON.stringify(o));
  const sent = [];
  const errors = window.__vw.errors;
  const cdnSettings = {
    integrations: { 'Segment.io': { apiKey: p.key, apiHost: 'api.segment.io/v1', unbundledIntegrations: [], addBundledMetadata: true, maybeBundledConfigIds: {} } },
    plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
    enabledMiddleware: {},
    middlewareSettings: {},
    metrics: { sampleRate: 0 },
    legacyVideoPluginsEnabled: false,
    remotePlugins: [],
  };
  const segmentio = (extra) => ({ 'Segment.io': Object.assign({ apiHost: p.apiHost + '/v1', protocol: p.protocol }, extra || {}) });
  const [analytics] = await AnalyticsBrowser.load({ writeKey: p.key, cdnSettings, cdnURL: p.origin },
    { integrations: segmentio() });
  const [batched] = await AnalyticsBrowser.load({ writeKey: p.key, cdnSettings, cdnURL: p.origin },
    { integrations: segmentio({ deliveryStrategy: { strategy: 'batching', config: { size: 10, timeout: 1000 } } }) });
  for (const [name, a] of [['default', analytics], ['batched', batched]]) {
    a.on('error', (e) => errors.push(`segment ${name} 'error' event: ${e && e.code} ${e && e.reason && e.reason.message ? e.reason.message : ''}`));
  }

  const waits = [];
  // Calls the SDK; the item gets the ids/messageId the SDK put on the event once dispatched.
  const call = (what, item, promise) => {
    sent.push(item);
    waits.push(Promise.resolve(promise).then((ctx) => {
      const ev = ctx && ctx.event;
      if (ev) {
        item.message_id = ev.messageId;
        item.anonymous_id = ev.anonymousId || null;
        if (item.type !== 'alias') item.user_id = ev.userId || null;
      }
      const f = ctx && typeof ctx.failedDelivery === 'function' ? ctx.failedDelivery() : null;
      if (f) errors.push(`segment ${what}: failedDelivery ${f.reason && f.reason.message ? f.reason.message : f.reason}`);
    }, (e) => errors.push(`segment ${what}: rejected ${e && e.message ? e.message : e}`)));
  };
  const item = (type, event, props, traits, extra) =>
    Object.assign({ type, event, user_id: null, anonymous_id: null, properties: props ? clone(props) : null, traits: traits ? clone(traits) : null }, extra || {});

  const user = `br-user-${p.run}`;
  const company = `acme-${p.run}`;
  let v;

  // anonymous (anonymousId chosen by the SDK, stored in localStorage/cookie ajs_anonymous_id)
  v = { vw_seq: seq(), section: 'pricing', ab_variant: 'B' };
  call('page Pricing', item('page', null, v, null, { name: 'Pricing', category: 'Marketing' }), analytics.page('Marketing', 'Pricing', clone(v)));
  v = { vw_seq: seq(), campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' };
  call('track Landing Viewed', item('track', 'Landing Viewed', v), analytics.track('Landing Viewed', clone(v)));

  const anon = analytics.user().anonymousId();
  v = { vw_seq: seq(), email: `ada+${p.run}@example.com`, name: 'Ada Lovelace', firstName: 'Ada', plan: 'pro',
        company_size: 250, address: { city: 'Zürich ✓', postalCode: '8001' } };
  call('identify', item('identify', null, null, v), analytics.identify(user, clone(v)));

  v = { vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
        tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } } };
  call('track Signed Up', item('track', 'Signed Up', v), analytics.track('Signed Up', clone(v)));

  v = { vw_seq: seq(), name: 'Acme Inc.', industry: 'widgets', employees: 250, email: `billing+${p.run}@acme.test` };
  call('group', item('group', null, null, v, { group_id: company }), analytics.group(company, clone(v)));

  call('alias', item('alias', null, null, null, { user_id: user, previous_id: anon }), analytics.alias(user, anon));

  v = { vw_seq: seq(), tab: 'settings' };
  call('screen Settings', item('screen', null, v, null, { name: 'Settings', category: 'App' }), analytics.screen('App', 'Settings', clone(v)));

  for (let i = 0; i < 3; i++) {
    v = { vw_seq: seq(), feature: ['export', 'share', 'search'][i], index: i, duration_s: 1.5 * (i + 1) };
    call(`track Feature Used #${i}`, item('track', 'Feature Used', v), analytics.track('Feature Used', clone(v)));
  }

  // batching instance: POST /b, flushed after 1 s
  for (let i = 0; i < 4; i++) {
    v = { vw_seq: seq(), index: i, step: `step-${i}`, ratio: i / 8 };
    call(`batched track Onboarding Step #${i}`, item('track', 'Onboarding Step', v), batched.track('Onboarding Step', clone(v)));
  }
  v = { vw_seq: seq(), section: 'onboarding' };
  call('batched page Onboarding', item('page', null, v, null, { name: 'Onboarding', category: null }), batched.page('Onboarding', clone(v)));

  // every promise settles once the Segment.io plugin delivered (or gave up); cap the wait
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, p.waitMs))]);
  return sent;
}

harness.main({
  tag: TAG,
  sdkName: '@segment/analytics-next',
  sdkVersion: version,
  files: { '/js/analytics-next.umd.js': path.join(UMD_DIR, 'index.js') },
  dirs: { '/analytics-next/bundles/': UMD_DIR },
  headHtml: `<script>window.analytics = { _cdn: location.origin };</script>
<script src="/js/analytics-next.umd.js"></script>`,
  ready: () => window.AnalyticsNext && typeof window.AnalyticsNext.AnalyticsBrowser === 'function',
  scenario,
  scenarioArg: (() => {
    const u = new URL(process.env.VW_HOST);
    return { run: process.env.VW_RUN_ID, key: KEY, origin: process.env.VW_PAGE_ORIGIN.replace(/\/+$/, ''),
      apiHost: u.host + u.pathname.replace(/\/+$/, ''), protocol: u.protocol.replace(':', ''),
      waitMs: Math.max(5000, Number(process.env.VW_TIMEOUT_MS || 60000) - 15000) };
  })(),
});
