#!/usr/bin/env node
// Drive the official npm `mixpanel-browser` SDK, unchanged, in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) against vendorwall.
//
// Run by the Rust SDK end-to-end test as a child process. Needs `scripts/install-test-deps`.
//
// Environment:
//   VW_RUN_ID         unique string for this run; used in ids and in every "vw_seq" marker
//   VW_TOKEN          project token the app puts in the SDK
//   VW_IMPORT_SECRET  not used (the browser SDK has no /import); may be set like for the others
//   VW_API_HOST       "http://127.0.0.1:PORT" -- full URL, the SDK's api_host
//   VW_PAGE_ORIGIN    e.g. "http://app.test" -- fake origin the test page is served from
//                     (Playwright route.fulfill, no web server), so calls to VW_API_HOST are
//                     cross-origin XHRs with credentials (CORS)
//   VW_CHROMIUM       optional, default /usr/bin/chromium
//   VW_TIMEOUT_MS     optional, overall deadline (default 60000)
//
// The page loads node_modules/mixpanel-browser/dist/mixpanel.umd.js (the full UMD build,
// which defines window.mixpanel), then:
//   primary instance (batch mode, the default; flush every 500 ms): anonymous tracks,
//   identify, tracks, people.set/set_once/increment/append/union/remove/unset, set_group,
//   get_group(...).set/set_once/union, track_pageview;
//   instance 'nb' (batch_requests:false): one track with a callback (XHR), one track with
//   {transport:'sendBeacon'} (navigator.sendBeacon, text/plain).
// It waits until every SDK callback has fired, every batcher queue is empty with no request in
// flight, every marker has been seen in a request that got a response, and the beacon request
// has finished.
//
// Prints exactly one JSON document on stdout: {"sent": [...], "sdk_errors": [...]};
// everything else goes to stderr. Exit 0 unless the script itself crashes.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`mixpanel_browser: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

const RUN = env('VW_RUN_ID');
const TOKEN = env('VW_TOKEN');
const API_HOST = env('VW_API_HOST').replace(/\/+$/, '');
const ORIGIN = env('VW_PAGE_ORIGIN').replace(/\/+$/, '');
const CHROMIUM = process.env.VW_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 60000);
const T0 = Date.now();
const API_URL = new URL(API_HOST);
const API_ADDR = `${API_URL.hostname}:${API_URL.port || (API_URL.protocol === 'https:' ? 443 : 80)}`;

const realStdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
const log = (...a) => process.stderr.write(`mixpanel_browser: ${a.join(' ')}\n`);

const NM = path.join(__dirname, 'node_modules');
for (const need of [path.join(NM, 'playwright-core', 'package.json'), path.join(NM, 'mixpanel-browser', 'package.json'), CHROMIUM]) {
  if (!fs.existsSync(need)) {
    process.stderr.write(`mixpanel_browser: ${need} missing: run scripts/install-test-deps\n`);
    process.exit(1);
  }
}
const { chromium } = require(path.join(NM, 'playwright-core'));
const SDK_FILE = path.join(NM, 'mixpanel-browser', 'dist', 'mixpanel.umd.js');
const SDK_VERSION = require(path.join(NM, 'mixpanel-browser', 'package.json')).version;

const sdkErrors = [];
const addError = (e) => { if (!sdkErrors.includes(e)) sdkErrors.push(e); };
const isApi = (url) => url.startsWith(API_HOST + '/');

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>vendorwall test app</title>
<script src="/js/mixpanel.umd.js"></script>
</head><body><h1>vendorwall test app</h1></body></html>`;

// Installed before any page script: records what the page's XHRs and beacons saw, without
// touching the SDK itself.
function instrumentPage() {
  const vw = (window.__vw = { xhrs: [], inflight: 0, beacons: [], errors: [], cbs: {}, pendingCbs: 0 });
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__vwRec = { method: String(method), url: String(url) };
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function () {
    const rec = this.__vwRec;
    if (rec) {
      vw.inflight++;
      this.addEventListener('loadend', () => {
        rec.status = this.status;
        try { rec.body = this.responseText; } catch (e) { rec.body = null; }
        vw.xhrs.push(rec);
        vw.inflight--;
      });
    }
    return send.apply(this, arguments);
  };
  if (navigator.sendBeacon) {
    const beacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = function (url, data) {
      const ok = beacon(url, data);
      vw.beacons.push({ url: String(url), ok });
      return ok;
    };
  }
}

// Runs in the page: drives the SDK like an app would and returns the items it asked to send.
function scenario(p) {
  const mixpanel = window.mixpanel;
  const vw = window.__vw;
  let n = 0;
  const seq = () => `${p.run}-${++n}`;
  const clone = (o) => JSON.parse(JSON.stringify(o));
  const sent = [];
  const errorReporter = (msg, err) => {
    vw.errors.push(`error_reporter: ${msg && msg.message ? msg.message : msg}${err && err.message && err.message !== String(msg) ? ' / ' + err.message : ''}`);
  };
  // A callback that records the SDK's result (1, a verbose {status:..}, 0, -1...).
  const cb = (what) => {
    vw.pendingCbs++;
    vw.cbs[what] = 'pending';
    return (res) => {
      if (vw.cbs[what] !== 'pending') {
        vw.errors.push(`${what}: callback called more than once (${JSON.stringify(res)})`);
        return;
      }
      vw.pendingCbs--;
      vw.cbs[what] = res;
    };
  };
  const didOf = (ret, inst) =>
    (ret && ret.properties && ret.properties.distinct_id !== undefined ? ret.properties.distinct_id : inst.get_distinct_id());
  const track = (inst, label, event, props, options) => {
    const c = clone(props);
    const ret = options ? inst.track(event, c, options, cb(label)) : inst.track(event, c, cb(label));
    sent.push({ endpoint: 'track', event, distinct_id: ret ? didOf(ret, inst) : inst.get_distinct_id(), properties: props, time: null });
    return ret;
  };
  const prof = (op, value) => sent.push({ endpoint: 'engage', distinct_id: mixpanel.get_distinct_id(), op, value });
  const grp = (key, id, op, value) => sent.push({ endpoint: 'groups', group_key: key, group_id: id, op, value });

  mixpanel.init(p.token, {
    api_host: p.apiHost,
    debug: false,
    batch_flush_interval_ms: 500,
    error_reporter: errorReporter,
  });

  const user = `user-${p.run}`;
  const company = `acme-${p.run}`;
  let v;

  // anonymous (distinct_id = "$device:<uuid>" chosen by the SDK)
  track(mixpanel, 'track Landing Viewed', 'Landing Viewed',
    { vw_seq: seq(), page: '/', campaign: 'spring-sale', scroll_depth: 0.25, city: 'Zürich ✓' });
  track(mixpanel, 'track Viewed Pricing', 'Viewed Pricing',
    { vw_seq: seq(), plans_shown: ['free', 'pro', 'enterprise'], currency: 'CHF' });

  mixpanel.identify(user); // also makes the SDK send its own "$identify" event

  track(mixpanel, 'track Signed Up', 'Signed Up', {
    vw_seq: seq(), plan: 'pro', seats: 5, price: 49.99, trial: false, city: 'Zürich ✓',
    tags: ['b2b', 'annual'], billing: { country: 'CH', vat: 7.7, address: { zip: '8001' } },
  });

  v = { vw_seq: seq(), $email: `ada+${p.run}@example.com`, $name: 'Ada Lovelace', plan: 'pro',
        company_size: 250, home: 'Zürich ✓', prefs: { newsletter: true, lang: 'de-CH' } };
  mixpanel.people.set(clone(v), cb('people.set')); prof('$set', v);
  v = { vw_seq: seq(), first_seen_plan: 'free', signup_source: 'ads' };
  mixpanel.people.set_once(clone(v), cb('people.set_once')); prof('$set_once', v);
  v = { logins: 1, credits: -2.5 }; // numbers only: no marker
  mixpanel.people.increment(clone(v), cb('people.increment')); prof('$add', v);
  v = { vw_seq: seq(), visited: '/docs/quickstart' };
  mixpanel.people.append(clone(v), cb('people.append')); prof('$append', v);
  v = { vw_seq: [seq()], devices: ['laptop', 'phone'] };
  mixpanel.people.union(clone(v), cb('people.union')); prof('$union', v);
  v = { vw_seq: seq(), devices: 'phone' };
  mixpanel.people.remove(clone(v), cb('people.remove')); prof('$remove', v);
  v = ['legacy_field', 'temp_flag'];
  mixpanel.people.unset(clone(v), cb('people.unset')); prof('$unset', v);

  // set_group = register super property + people.set({company: [id]})
  mixpanel.set_group('company', company, cb('set_group'));
  prof('$set', { company: [company] });

  const g = mixpanel.get_group('company', company);
  v = { vw_seq: seq(), $name: 'Acme Inc.', industry: 'widgets', employees: 250, hq: 'Zürich ✓', arr: 1234567.89 };
  g.set(clone(v), cb('group.set')); grp('company', company, '$set', v);
  v = { vw_seq: seq(), founded: 1999 };
  g.set_once(clone(v), cb('group.set_once')); grp('company', company, '$set_once', v);
  v = { vw_seq: [seq()], products: ['anvil', 'rocket'] };
  g.union(clone(v), cb('group.union')); grp('company', company, '$union', v);

  // page view ($mp_web_page_view); track_pageview takes no callback
  {
    const props = { vw_seq: seq(), section: 'dashboard' };
    const ret = mixpanel.track_pageview(clone(props));
    sent.push({ endpoint: 'track', event: '$mp_web_page_view', distinct_id: didOf(ret, mixpanel), properties: props, time: null });
  }

  for (let i = 0; i < 3; i++) {
    track(mixpanel, `track Feature Used #${i}`, 'Feature Used',
      { vw_seq: seq(), feature: ['export', 'share', 'search'][i], index: i, duration_s: 1.5 * (i + 1) });
  }

  // second instance, not batched: one XHR per call; then one via navigator.sendBeacon
  const nb = mixpanel.init(p.token, { api_host: p.apiHost, batch_requests: false, error_reporter: errorReporter }, 'nb');
  track(nb, 'nb track Checkout Completed', 'Checkout Completed',
    { vw_seq: seq(), order_id: `ord-${p.run}`, total: 120.5, items: ['book', 'pen'], coupon: null });
  track(nb, 'nb track Left Page (beacon)', 'Left Page',
    { vw_seq: seq(), seconds_on_page: 42.5, last_section: 'checkout' }, { transport: 'sendBeacon' });

  return sent;
}

// Runs in the page: is the SDK done sending?
function pageState(token) {
  const vw = window.__vw;
  const st = { pendingCbs: vw.pendingCbs, inflight: vw.inflight, queued: 0, inProgress: 0 };
  const insts = [window.mixpanel, window.mixpanel && window.mixpanel.nb].filter(Boolean);
  for (const inst of insts) {
    for (const b of Object.values(inst.request_batchers || {})) {
      if (b.requestInProgress) st.inProgress++;
      st.queued += (b.queue && b.queue.memQueue ? b.queue.memQueue.length : 0);
    }
  }
  for (const suffix of ['_ev', '_pp', '_gr']) {
    try {
      const q = JSON.parse(localStorage.getItem(`__mpq_${token}${suffix}`) || '[]');
      st.queued += Array.isArray(q) ? q.length : 0;
    } catch (e) { /* ignore */ }
  }
  st.cbs = vw.cbs;
  st.errors = vw.errors;
  st.xhrs = vw.xhrs;
  st.beacons = vw.beacons;
  return st;
}

// "data=<urlencoded base64 or JSON>" -> array of objects
function decodeData(raw) {
  if (!raw) return [];
  let s = raw;
  const m = /(?:^|&)data=([^&]*)/.exec(s);
  if (m) s = m[1];
  s = decodeURIComponent(s.replace(/\+/g, '%20'));
  let j;
  if (s[0] === '{' || s[0] === '[') j = JSON.parse(s);
  else j = JSON.parse(Buffer.from(s.replace(/ /g, '+'), 'base64').toString('utf8'));
  return Array.isArray(j) ? j : [j];
}

function markerOf(item) {
  const bag = item.endpoint === 'track' ? item.properties : item.value;
  if (!bag || Array.isArray(bag) || bag.vw_seq === undefined) return null;
  return Array.isArray(bag.vw_seq) ? bag.vw_seq[0] : bag.vw_seq;
}

function markersIn(obj, out) {
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'vw_seq') (Array.isArray(v) ? v : [v]).forEach((x) => out.add(String(x)));
      else markersIn(v, out);
    }
  }
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vw-chromium-'));
  let context;
  let finished = false;
  const cleanup = async () => {
    const closing = context ? context.close().catch((e) => log('close:', e.message)) : Promise.resolve();
    await Promise.race([closing, new Promise((r) => setTimeout(r, 5000))]);
    try { fs.rmSync(userDataDir, { recursive: true, force: true }); } catch (e) { /* ignore */ }
  };
  const emit = (sent) => {
    finished = true;
    realStdoutWrite(JSON.stringify({ sent, sdk_errors: sdkErrors }) + '\n');
  };

  let sent = null; // set once the scenario has run in the page
  const deadline = setTimeout(async () => {
    if (finished) return;
    if (sent === null) {
      // never got as far as driving the SDK: that is this script failing, not the SDK
      process.stderr.write(`mixpanel_browser: timed out after ${TIMEOUT_MS} ms before the scenario ran\n`);
      await cleanup();
      process.exit(1);
    }
    addError(`browser: overall timeout after ${TIMEOUT_MS} ms`);
    emit(sent);
    await cleanup();
    process.exit(0);
  }, TIMEOUT_MS);

  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // The gateway listens on loopback only because this is a test. Chromium's Local/Private
      // Network Access rules would block every request from the (public, non-secure) page
      // origin to 127.0.0.1 before CORS is even looked at. Declare the gateway's address
      // "public", as a real deployment's would be, so that plain CORS is what gets tested.
      `--ip-address-space-overrides=${API_ADDR}=public`,
    ],
    timeout: 30000,
    // Only matters if VW_API_HOST is https with the test's self-signed certificate.
    ignoreHTTPSErrors: true,
  });
  const page = context.pages()[0] || (await context.newPage());
  log(`mixpanel-browser ${SDK_VERSION}, chromium ${context.browser() ? context.browser().version() : '(persistent)'}; page ${ORIGIN}/ -> ${API_HOST}`);

  const sdkSource = fs.readFileSync(SDK_FILE);
  await context.route(`${ORIGIN}/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/' || u.pathname === '/index.html') {
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: PAGE_HTML });
    }
    if (u.pathname === '/js/mixpanel.umd.js') {
      return route.fulfill({ status: 200, contentType: 'application/javascript; charset=utf-8', body: sdkSource });
    }
    return route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' });
  });
  await context.addInitScript(instrumentPage);

  // Network view (what Chromium saw), independent of what the page's JS saw.
  const net = { finished: [], markersOk: new Set(), beaconsDone: 0 };
  page.on('console', (msg) => {
    const text = msg.text();
    log(`console.${msg.type()}: ${text}`);
    if (msg.type() === 'error' && /CORS|Access-Control|cross-origin/i.test(text)) addError(`browser console: ${text}`);
  });
  page.on('pageerror', (err) => addError(`browser pageerror: ${err.message}`));
  page.on('requestfailed', (req) => {
    const f = req.failure();
    log(`requestfailed ${req.method()} ${req.url()} ${f && f.errorText}`);
    if (isApi(req.url())) addError(`browser request failed: ${req.method()} ${req.url().split('?')[0]} ${f && f.errorText}`);
  });
  page.on('requestfinished', async (req) => {
    if (!isApi(req.url())) return;
    let status = null;
    try { const r = await req.response(); status = r ? r.status() : null; } catch (e) { /* ignore */ }
    const u = new URL(req.url());
    log(`finished ${req.method()} ${u.pathname}${u.search.replace(/data=[^&]*/, 'data=…')} ${req.resourceType()} -> ${status}`);
    net.finished.push({ method: req.method(), url: req.url(), type: req.resourceType(), status });
    if (req.resourceType() === 'ping') net.beaconsDone++;
    if (req.method() === 'OPTIONS') return;
    if (status !== 200) {
      addError(`browser: ${req.method()} ${u.pathname} answered HTTP ${status}`);
      return;
    }
    try {
      const objs = decodeData(req.postData() || u.search.slice(1));
      const ms = new Set();
      objs.forEach((o) => markersIn(o, ms));
      ms.forEach((m) => net.markersOk.add(m));
    } catch (e) {
      log(`could not decode ${u.pathname}: ${e.message}`);
    }
  });

  await page.goto(`${ORIGIN}/`, { waitUntil: 'load', timeout: 20000 });
  const hasSdk = await page.evaluate(() => typeof window.mixpanel === 'object' && typeof window.mixpanel.init === 'function');
  if (!hasSdk) throw new Error('window.mixpanel not defined after loading mixpanel.umd.js');

  sent = await page.evaluate(scenario, { run: RUN, token: TOKEN, apiHost: API_HOST });
  const wanted = sent.map(markerOf).filter(Boolean);
  const expectBeacons = 1;

  // Poll until everything is flushed and answered. "quiet" = the SDK has nothing queued or in
  // flight and every callback fired; "complete" = additionally every marker was seen in a request
  // that got HTTP 200 and the beacon went out. Quiet but incomplete for 3 s means something was
  // dropped (e.g. CORS failure: the batcher drops the batch): stop and report it.
  let st;
  let stable = 0;
  let quietSince = null;
  for (;;) {
    st = await page.evaluate(pageState, TOKEN);
    const missing = wanted.filter((m) => !net.markersOk.has(m));
    const beaconsDone = net.beaconsDone + st.beacons.filter((b) => !b.ok).length >= expectBeacons;
    const quiet = st.pendingCbs === 0 && st.inflight === 0 && st.queued === 0 && st.inProgress === 0;
    const complete = quiet && missing.length === 0 && beaconsDone;
    stable = complete ? stable + 1 : 0;
    if (stable >= 3) break; // complete for 3 polls in a row
    quietSince = quiet ? (quietSince || Date.now()) : null;
    const reason = quietSince && Date.now() - quietSince > 3000 ? 'SDK idle but not everything was acknowledged'
      : Date.now() - T0 > TIMEOUT_MS - 3000 ? 'not flushed before the deadline' : null;
    if (reason) {
      addError(`browser: ${reason}: pendingCbs=${st.pendingCbs} inflight=${st.inflight} queued=${st.queued} ` +
        `inProgress=${st.inProgress} beacons=${net.beaconsDone}/${expectBeacons} missing markers=${missing.join(',')}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // What the SDK told the app.
  for (const [what, res] of Object.entries(st.cbs)) {
    const okv = res === 1 || (res && typeof res === 'object' && res.status === 1);
    if (!okv) addError(`browser ${what}: callback result ${JSON.stringify(res)}`);
  }
  for (const e of st.errors) addError(`browser ${e}`);
  for (const x of st.xhrs) {
    if (!isApi(x.url)) continue;
    const p = new URL(x.url).pathname;
    if (x.status !== 200) { addError(`browser XHR ${x.method} ${p}: status ${x.status}`); continue; }
    const verbose = /[?&]verbose=1(&|$)/.test(x.url);
    let ok = false;
    try { ok = verbose ? JSON.parse(x.body).status === 1 : String(x.body).trim() === '1'; } catch (e) { ok = false; }
    if (!ok) addError(`browser XHR ${x.method} ${p}: body ${JSON.stringify(String(x.body).slice(0, 200))} (verbose=${verbose})`);
  }
  for (const b of st.beacons) if (!b.ok) addError(`browser sendBeacon to ${b.url.split('?')[0]} returned false`);
  log(`done in ${Date.now() - T0} ms: ${net.finished.length} API requests, ${st.xhrs.length} XHRs, ${st.beacons.length} beacons`);

  clearTimeout(deadline);
  emit(sent);
  await cleanup();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`mixpanel_browser: crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
