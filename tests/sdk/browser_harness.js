// Shared harness for the segment/posthog/amplitude browser drivers (not run directly).
//
// Starts Debian's Chromium through playwright-core (executablePath, never a downloaded browser),
// serves a test page and the SDK's own bundle from node_modules on a fake origin
// (VW_PAGE_ORIGIN, Playwright route.fulfill, no web server), runs the driver's scenario in the
// page, waits until every request the SDK made to VW_HOST got a response and every marker was
// seen in a request answered 2xx, and prints {"sent":[...],"sdk_errors":[...]} on stdout.
//
// Page-side instrumentation (fetch, XMLHttpRequest, navigator.sendBeacon wrappers installed
// before any page script; the SDK itself is untouched) records every request to VW_HOST with
// its status and response text; Chromium's own view (requestfinished/requestfailed) is used
// for markers and failures. Console errors and page errors become sdk_errors.
//
// Route interception is removed (context.unrouteAll) once the page and the SDK bundle have
// loaded: while any route is installed Playwright answers CORS preflights itself (204,
// echoing the Origin), so the gateway would never see them. Without routes the OPTIONS
// preflights (the SDKs send Authorization or application/json) reach the gateway for real.
// Every host other than VW_HOST and the page origin is unresolvable
// (--host-resolver-rules), and a request to one is reported as an sdk_error.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const NM = path.join(__dirname, 'node_modules');

function envOrExit(tag, name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`${tag}: missing environment variable ${name}\n`);
    process.exit(2);
  }
  return v;
}

// Best-effort decoding of a request body to JSON values: gzip (by magic bytes), JSON,
// form "data=<base64|json>", base64 JSON.
function decodeBody(buf) {
  if (!buf || !buf.length) return [];
  let b = buf;
  if (b[0] === 0x1f && b[1] === 0x8b) {
    try { b = zlib.gunzipSync(b); } catch (e) { return []; }
  }
  const s = b.toString('utf8');
  const tryJson = (x) => { try { return [JSON.parse(x)]; } catch (e) { return null; } };
  let r = tryJson(s);
  if (r) return r;
  const m = /(?:^|&)data=([^&]*)/.exec(s);
  if (m) {
    const d = decodeURIComponent(m[1].replace(/\+/g, '%20'));
    r = tryJson(d) || tryJson(Buffer.from(d.replace(/ /g, '+'), 'base64').toString('utf8'));
    if (r) return r;
  }
  r = tryJson(Buffer.from(s, 'base64').toString('utf8'));
  return r || [];
}

function markersIn(obj, out) {
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'vw_seq') (Array.isArray(v) ? v : [v]).forEach((x) => out.add(String(x)));
      else markersIn(v, out);
    }
  }
  return out;
}

// Installed before any page script (addInitScript): records what the page's fetch/XHR/beacon
// calls to the API saw, without touching the SDK. `apiPrefix` is VW_HOST + '/'.
function instrumentPage(apiPrefix) {
  const vw = (window.__vw = { reqs: [], inflight: 0, beacons: [], errors: [] });
  const isApi = (u) => String(u).startsWith(apiPrefix);
  const bodyText = (b) => (typeof b === 'string' ? b : b == null ? null : `<${Object.prototype.toString.call(b).slice(8, -1)}>`);
  const origFetch = window.fetch;
  if (origFetch) {
    window.fetch = function (input, init) {
      const url = typeof input === 'string' ? input : input && input.url ? input.url : String(input);
      if (!isApi(url)) return origFetch.apply(this, arguments);
      const rec = { via: 'fetch', method: (init && init.method) || (input && input.method) || 'GET', url: String(url),
        keepalive: !!(init && init.keepalive), body: bodyText(init && init.body) };
      vw.inflight++;
      return origFetch.apply(this, arguments).then((res) => {
        rec.status = res.status;
        res.clone().text().then((t) => { rec.response = t; vw.reqs.push(rec); vw.inflight--; },
          (e) => { rec.response = null; rec.error = String(e); vw.reqs.push(rec); vw.inflight--; });
        return res;
      }, (err) => {
        rec.status = 0;
        rec.error = String(err && err.message ? err.message : err);
        vw.reqs.push(rec);
        vw.inflight--;
        throw err;
      });
    };
  }
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__vwRec = isApi(url) ? { via: 'xhr', method: String(method), url: String(url) } : null;
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function (body) {
    const rec = this.__vwRec;
    if (rec) {
      rec.body = bodyText(body);
      vw.inflight++;
      this.addEventListener('loadend', () => {
        rec.status = this.status;
        try { rec.response = this.responseText; } catch (e) { rec.response = null; }
        vw.reqs.push(rec);
        vw.inflight--;
      });
    }
    return send.apply(this, arguments);
  };
  if (navigator.sendBeacon) {
    const beacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = function (url, data) {
      const ok = beacon(url, data);
      if (isApi(url)) vw.beacons.push({ url: String(url), ok, body: bodyText(data) });
      return ok;
    };
  }
  window.addEventListener('error', (e) => vw.errors.push(`window error: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) => vw.errors.push(`unhandled rejection: ${e.reason && e.reason.message ? e.reason.message : e.reason}`));
}

function pageSnapshot() {
  const vw = window.__vw;
  return { inflight: vw.inflight, reqs: vw.reqs, beacons: vw.beacons, errors: vw.errors };
}

/**
 * opts:
 *   tag            log prefix (script name)
 *   sdkName, sdkVersion
 *   files          { '/path/on/origin': absolute file path }, served from the page origin
 *   dirs           { '/prefix/': absolute dir }, any file below it (e.g. lazily loaded chunks)
 *   headHtml       what goes into <head> (script tags) of the test page
 *   ready          page function -> truthy once the SDK global is there
 *   scenario       page function (arg) -> sent items, or {sent, pings, beaconMarkers} (may be
 *                  async); runs after unrouting
 *   scenarioArg    its argument (run id, key, api host...)
 *   busy           optional page function -> null when the SDK has nothing queued/in flight,
 *                  else a short description
 *   checkResponse  optional (rec) -> error string or null; rec = page-side request record
 *                  {via, method, url, status, response}
 *   afterSettled   optional async (page, ctx) run once everything was acknowledged (e.g. to
 *                  unload the page); returns {pings: number of extra beacons (resourceType
 *                  "ping") to wait for, sent: extra items (their markers are waited for too),
 *                  beaconMarkers}
 *   expectMarkers  optional (sent) -> list of markers that must be seen (default: every
 *                  vw_seq found in the properties, traits, $set, $set_once, $group_set,
 *                  event_properties, user_properties or group_properties of `sent` items)
 */
async function runBrowser(opts) {
  const tag = opts.tag;
  const RUN = envOrExit(tag, 'VW_RUN_ID');
  const API_HOST = envOrExit(tag, 'VW_HOST').replace(/\/+$/, '');
  const ORIGIN = envOrExit(tag, 'VW_PAGE_ORIGIN').replace(/\/+$/, '');
  const CHROMIUM = process.env.VW_CHROMIUM || '/usr/bin/chromium';
  const TIMEOUT_MS = Number(process.env.VW_TIMEOUT_MS || 60000);
  const T0 = Date.now();
  const API_URL = new URL(API_HOST);
  const API_ADDR = `${API_URL.hostname}:${API_URL.port || (API_URL.protocol === 'https:' ? 443 : 80)}`;
  const ORIGIN_HOST = new URL(ORIGIN).host;

  const realStdoutWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr);
  const log = (...a) => process.stderr.write(`${tag}: ${a.join(' ')}\n`);

  for (const need of [path.join(NM, 'playwright-core', 'package.json'), ...Object.values(opts.files || {}), CHROMIUM]) {
    if (!fs.existsSync(need)) {
      process.stderr.write(`${tag}: ${need} missing: run scripts/install-test-deps\n`);
      process.exit(1);
    }
  }
  const { chromium } = require(path.join(NM, 'playwright-core'));

  const sdkErrors = [];
  const addError = (e) => { if (!sdkErrors.includes(e)) sdkErrors.push(e); };
  const isApi = (url) => url.startsWith(API_HOST + '/');

  const pageHtml = `<!doctype html>
<html><head><meta charset="utf-8"><title>vendorwall test app</title>
${opts.headHtml}
</head><body><h1>vendorwall test app</h1><a id="next" href="/next">next</a></body></html>`;

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

  let sent = null;
  const deadline = setTimeout(async () => {
    if (finished) return;
    if (sent === null) {
      process.stderr.write(`${tag}: timed out after ${TIMEOUT_MS} ms before the scenario finished\n`);
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
      // The gateway listens on loopback because this is a test; declare its address "public"
      // so that Local/Private Network Access does not block the (public, non-secure) page
      // origin's requests before CORS is looked at (see mixpanel_browser.js).
      `--ip-address-space-overrides=${API_ADDR}=public`,
      // No other host is reachable: a request to the vendor's own hosts (CDN, settings, remote
      // config) fails at once instead of going out, and is reported below.
      `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${API_URL.hostname}`,
    ],
    timeout: 30000,
    ignoreHTTPSErrors: true,
  });
  const page = context.pages()[0] || (await context.newPage());
  log(`${opts.sdkName} ${opts.sdkVersion}, chromium ${context.browser() ? context.browser().version() : '(persistent)'}; page ${ORIGIN}/ -> ${API_HOST}`);

  await context.route(`${ORIGIN}/**`, (route) => {
    const u = new URL(route.request().url());
    if (u.pathname === '/' || u.pathname === '/index.html') {
      return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: pageHtml });
    }
    if (opts.files && opts.files[u.pathname]) {
      return route.fulfill({ status: 200, contentType: 'application/javascript; charset=utf-8', body: fs.readFileSync(opts.files[u.pathname]) });
    }
    for (const [prefix, dir] of Object.entries(opts.dirs || {})) {
      if (u.pathname.startsWith(prefix)) {
        const f = path.join(dir, path.normalize(u.pathname.slice(prefix.length)).replace(/^(\.\.[/\\])+/, ''));
        if (fs.existsSync(f) && fs.statSync(f).isFile()) {
          return route.fulfill({ status: 200, contentType: 'application/javascript; charset=utf-8', body: fs.readFileSync(f) });
        }
      }
    }
    addError(`browser: the page requested ${u.pathname} from its own origin (not served)`);
    return route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' });
  });
  await context.addInitScript(instrumentPage, API_HOST + '/');

  // Chromium's view of the network.
  const net = { finished: [], markersOk: new Set(), pings: 0, inflight: 0 };
  page.on('console', (msg) => {
    const text = msg.text();
    log(`console.${msg.type()}: ${text}`);
    if (msg.type() === 'error') addError(`browser console.error: ${text}`);
  });
  page.on('pageerror', (err) => addError(`browser pageerror: ${err.message}`));
  context.on('request', (req) => {
    const u = req.url();
    if (isApi(u)) { net.inflight++; return; }
    if (u.startsWith(ORIGIN + '/') || u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank') return;
    let host = u;
    try { host = new URL(u).host; } catch (e) { /* keep */ }
    if (host !== ORIGIN_HOST) addError(`browser: the SDK contacted another host: ${req.method()} ${u.split('?')[0]}`);
  });
  context.on('requestfailed', (req) => {
    const f = req.failure();
    log(`requestfailed ${req.method()} ${req.url()} ${f && f.errorText}`);
    if (isApi(req.url())) {
      net.inflight--;
      // a beacon/keepalive request cancelled by navigation still reached the server if the
      // server answered; Chromium reports those as net::ERR_ABORTED
      addError(`browser request failed: ${req.method()} ${req.url().split('?')[0]} ${f && f.errorText}`);
    }
  });
  context.on('requestfinished', async (req) => {
    if (!isApi(req.url())) return;
    let status = null;
    try { const r = await req.response(); status = r ? r.status() : null; } catch (e) { /* ignore */ }
    net.inflight--;
    const u = new URL(req.url());
    log(`finished ${req.method()} ${u.pathname}${u.search} ${req.resourceType()} -> ${status}`);
    net.finished.push({ method: req.method(), url: req.url(), type: req.resourceType(), status });
    if (req.method() === 'OPTIONS') {
      if (status < 200 || status >= 300) addError(`browser: CORS preflight OPTIONS ${u.pathname} answered HTTP ${status}`);
      return;
    }
    if (status < 200 || status >= 300) {
      addError(`browser: ${req.method()} ${u.pathname} answered HTTP ${status}`);
      return;
    }
    let buf = null;
    try { buf = req.postDataBuffer(); } catch (e) { buf = null; }
    const ms = new Set();
    if (buf) decodeBody(buf).forEach((o) => markersIn(o, ms));
    if (u.searchParams.get('data')) decodeBody(Buffer.from(`data=${encodeURIComponent(u.searchParams.get('data'))}`)).forEach((o) => markersIn(o, ms));
    ms.forEach((m) => net.markersOk.add(m));
  });

  // Beacons (navigator.sendBeacon, resourceType "ping") are counted from the DevTools protocol:
  // Playwright stops reporting the requests of a document once the page navigated away, and
  // the unload beacons are exactly those.
  const cdp = await context.newCDPSession(page);
  const pingIds = new Map();
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.type === 'Ping' && isApi(e.request.url)) pingIds.set(e.requestId, e.request.url);
  });
  cdp.on('Network.responseReceived', (e) => {
    if (!pingIds.has(e.requestId)) return;
    const st = e.response.status;
    log(`beacon ${new URL(pingIds.get(e.requestId)).pathname} -> ${st}`);
    if (st >= 200 && st < 300) net.pings++;
    else addError(`browser: beacon POST ${new URL(pingIds.get(e.requestId)).pathname} answered HTTP ${st}`);
    pingIds.delete(e.requestId);
  });
  cdp.on('Network.loadingFailed', (e) => {
    if (!pingIds.has(e.requestId)) return;
    addError(`browser: beacon POST ${new URL(pingIds.get(e.requestId)).pathname} failed: ${e.errorText}`);
    pingIds.delete(e.requestId);
  });
  await cdp.send('Network.enable');

  await page.goto(`${ORIGIN}/`, { waitUntil: 'load', timeout: 20000 });
  const ready = await page.waitForFunction(opts.ready, null, { timeout: 10000 }).then(() => true, () => false);
  if (!ready) throw new Error(`${opts.sdkName} global not defined after loading the page`);
  // From here on no route: preflights reach the gateway (see header).
  await context.unrouteAll({ behavior: 'wait' });

  // The scenario returns the items, or {sent, pings, beaconMarkers}: `pings` beacons must finish
  // with 2xx; Chromium does not expose the body of a navigator.sendBeacon(Blob) request, so the
  // markers of items sent that way (`beaconMarkers`) are covered by that count instead.
  let res = await page.evaluate(opts.scenario, opts.scenarioArg);
  if (Array.isArray(res)) res = { sent: res };
  sent = res.sent;
  const beaconMarkers = new Set(res.beaconMarkers || []);
  const markersOf = (items) => (opts.expectMarkers ? opts.expectMarkers(items)
    : [...new Set(items.flatMap((it) => [...markersIn({ a: it.properties, b: it.traits, c: it.user_properties, d: it.$set, e: it.$set_once, f: it.$group_set, g: it.event_properties, h: it.group_properties }, new Set())]))]);
  const wanted = markersOf(sent).filter((m) => !beaconMarkers.has(m));

  // Poll until settled: nothing in flight page-side or in Chromium, the SDK says it is idle,
  // every marker seen in a 2xx-answered request. Idle but incomplete for 4 s = dropped.
  const settle = async (expectPings) => {
    let stable = 0;
    let quietSince = null;
    let st = null;
    for (;;) {
      let busy = null;
      try {
        st = await page.evaluate(pageSnapshot);
        busy = opts.busy ? await page.evaluate(opts.busy) : null;
      } catch (e) {
        st = st || { inflight: 0, reqs: [], beacons: [], errors: [] };
        busy = null; // page navigated away
      }
      const missing = wanted.filter((m) => !net.markersOk.has(m));
      const pingsOk = net.pings >= expectPings;
      const quiet = st.inflight === 0 && net.inflight <= 0 && !busy;
      const complete = quiet && missing.length === 0 && pingsOk;
      stable = complete ? stable + 1 : 0;
      if (stable >= 3) return st;
      quietSince = quiet ? (quietSince || Date.now()) : null;
      const reason = quietSince && Date.now() - quietSince > 4000 ? 'SDK idle but not everything was acknowledged'
        : Date.now() - T0 > TIMEOUT_MS - 3000 ? 'not flushed before the deadline' : null;
      if (reason) {
        addError(`browser: ${reason}: page inflight=${st.inflight} chromium inflight=${net.inflight} busy=${busy} ` +
          `pings=${net.pings}/${expectPings} missing markers=${missing.join(',')}`);
        return st;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  let st = await settle(res.pings || 0);
  const pageReqs = st.reqs.slice();
  const pageErrors = st.errors.slice();
  const beacons = st.beacons.slice();
  if (opts.afterSettled) {
    const more = (await opts.afterSettled(page, { log, addError, net })) || {};
    for (const it of more.sent || []) sent.push(it);
    for (const m of more.beaconMarkers || []) beaconMarkers.add(m);
    wanted.push(...markersOf(more.sent || []).filter((m) => !beaconMarkers.has(m)));
    st = await settle((res.pings || 0) + (more.pings || 0));
  }

  for (const e of pageErrors) addError(`browser ${e}`);
  for (const r of pageReqs) {
    const p = new URL(r.url).pathname;
    if (!(r.status >= 200 && r.status < 300)) { addError(`browser ${r.via} ${r.method} ${p}: status ${r.status}${r.error ? ' ' + r.error : ''}`); continue; }
    const bad = opts.checkResponse ? opts.checkResponse(r) : null;
    if (bad) addError(`browser ${r.via} ${r.method} ${p}: ${bad}`);
  }
  for (const b of beacons) if (!b.ok) addError(`browser sendBeacon to ${b.url.split('?')[0]} returned false`);
  log(`done in ${Date.now() - T0} ms: ${net.finished.length} API requests (${net.pings} beacons)`);

  clearTimeout(deadline);
  emit(sent);
  await cleanup();
  process.exit(0);
}

function main(opts) {
  runBrowser(opts).catch((e) => {
    process.stderr.write(`${opts.tag}: crashed: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}

module.exports = { main, envOrExit, decodeBody, markersIn, NM };
