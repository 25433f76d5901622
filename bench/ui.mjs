#!/usr/bin/env node
// `npm run bench:ui`: does the workbench UI stay smooth with 10,000 pending requests and 100,000
// latency points while events stream? Frame times are measured with requestAnimationFrame inside
// the page, in Debian's Chromium (the end-to-end test's flags, a fresh profile), against the built
// `accept-workbench serve`.
//
// Setup: two listeners on 127.0.0.1. "held" (held discipline, a script that asks a person for
// every request, re-offers every 60 s) gets N real TCP connections opened by this process in
// bounded batches: they wait in the UI's pending queue. "accept" (accepts everything, `close`
// handler) is driven by the host's own simulator, started from the UI's Simulator view
// (`simulate.start`, high concurrency, loopback sources): first M decisions as fast as it goes,
// until the charts hold M latency points; then a second stream at R a second on top of them.
// Phases, each measured for S seconds: the Live view with the queue scrolled, without events;
// the Charts view's "all" window over the M points, without events; then, while the second
// stream runs (the N requests still pending, the M points still kept): the Live view scrolled,
// the Charts view's 1-minute window, and its "all" window. Per phase: the rAF intervals
// (median, p95, p99, max, frames over 1.5 refresh intervals), and the renderer main thread's busy
// time (CDP Performance.getMetrics TaskDuration) in all and per frame. Plain Node ESM on dist/.
// See BENCHMARKS.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const CHROMIUM = process.env.AW_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TARGET_MEDIAN_MS = 16;

const USAGE = `usage: node bench/ui.mjs [options]      (npm run bench:ui -- [options])

  --pending N       TCP connections left waiting in the pending queue (default 10000, max 15000)
  --points N        latency points: decisions simulated before the streaming phases (default 100000,
                    max 1000000)
  --concurrency C   the simulator's connections in flight (default 256)
  --rate R          the stream's new connections per second during the streaming phases
                    (default: points / (2 x seconds + 10), ~3,800 with the defaults)
  --batch N         pending connections opened at a time (default 500)
  --seconds S       length of each measured phase (default 8)
  --cap S           give up after this many seconds in all (default 420)
  --profile DIR     also write a CPU profile of the page per phase (.cpuprofile, for DevTools) to DIR
  --renderer DIR    serve this build of the renderer instead of dist/renderer (to compare builds)
  --json            print the figures as one JSON object on stdout (the log goes to stderr)
  -h, --help        this text
`;

function badArgs(msg) {
  process.stderr.write(`bench:ui: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { pending: 10_000, points: 100_000, concurrency: 256, rate: null, batch: 500, seconds: 8, cap: 420, json: false, profile: null, renderer: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const int = (min, max) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min || v > max) badArgs(`${a} needs an integer ${min}-${max}`);
      return v;
    };
    if (a === '--pending') o.pending = int(0, 15_000);
    else if (a === '--points') o.points = int(1, 1_000_000);
    else if (a === '--concurrency') o.concurrency = int(1, 4000);
    else if (a === '--batch') o.batch = int(1, 4000);
    else if (a === '--rate') o.rate = int(1, 1_000_000);
    else if (a === '--seconds') o.seconds = int(1, 120);
    else if (a === '--cap') o.cap = int(30, 3600);
    else if (a === '--json') o.json = true;
    else if (a === '--renderer') { o.renderer = argv[++i]; if (!o.renderer) badArgs('--renderer needs a directory'); }
    else if (a === '--profile') { o.profile = argv[++i]; if (!o.profile) badArgs('--profile needs a directory'); }
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); process.exit(0); }
    else badArgs(`unknown option ${a}`);
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const t0 = Date.now();
const log = (text) => (o.json ? process.stderr : process.stdout).write(`${text}\n`);
/** A progress line with the seconds since the start. */
const step = (text) => log(`[${String(Math.round((Date.now() - t0) / 1000)).padStart(3)} s] ${text}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function need(file, what) {
  if (!fs.existsSync(path.join(ROOT, file))) {
    process.stderr.write(`bench:ui: ${what} (${file} is missing)\n`);
    process.exit(1);
  }
}
need('dist/electron/cli/serve.js', 'the TypeScript is not built: run npm run build:ts');
need('dist/renderer/index.html', 'the renderer is not built: run npm run build:renderer');
if (!fs.existsSync(CHROMIUM)) {
  process.stderr.write(`bench:ui: Chromium not found at ${CHROMIUM} (set AW_CHROMIUM, or install Debian's chromium)\n`);
  process.exit(1);
}
const { chromium } = require('playwright-core');
const { WebSocket } = require('ws');
const { WorkbenchClient } = require(path.join(ROOT, 'dist/electron/protocol/client.js'));
const { WebSocketTransport } = require(path.join(ROOT, 'dist/electron/protocol/transport.js'));

// ---- what is started, and how it is stopped ----------------------------------------------------

const cleanups = [];
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try { await fn(); } catch { /* best effort: the rest still gets stopped */ }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { void cleanup().then(() => process.exit(130)); });

/** `accept-workbench serve --json` on 127.0.0.1 with port 0; resolves with its URL. */
function startServe() {
  return new Promise((resolve, reject) => {
    const args = [path.join(ROOT, 'bin/accept-workbench'), 'serve', '--json', ...(o.renderer ? ['--renderer', path.resolve(o.renderer)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => new Promise((r) => {
      if (child.exitCode !== null) { r(); return; }
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(kill); r(); });
      child.kill('SIGINT');
    }));
    let out = '';
    const timer = setTimeout(() => reject(new Error('serve did not start within 20 s')), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"serving"'));
      if (!line || !timer) return;
      clearTimeout(timer);
      resolve(JSON.parse(line).url);
      out = '';
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}`)); });
  });
}

/** Creates and starts the two listeners over a short-lived control connection. */
async function setUpListeners(url) {
  const u = new URL(url);
  const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, { origin: `http://${u.host}` });
  const client = new WorkbenchClient(new WebSocketTransport(ws));
  await client.ready();
  const make = async (options, source, filename) => {
    const l = await client.call('listener.create', { options: { address: '127.0.0.1', port: 0, ...options }, script: { source, filename } });
    const started = await client.call('listener.start', { listener: l.id });
    if (started.state !== 'running') throw new Error(`listener ${l.id} did not start: ${started.error}`);
    return started;
  };
  // Waiting requests must stay waiting for the whole run: no re-offer storm, no expiry.
  const held = await make({ discipline: 'held', backlog: 4096, reofferMs: 60_000, deferTimeoutMs: 3_600_000, handler: 'hold' },
    'export default function condition() { return "ask"; }\n', 'ask.js');
  const accept = await make({ discipline: 'held', backlog: 4096, budgetMs: 1000, handler: 'close' },
    'export default function condition() { return "accept"; }\n', 'accept-all.js');
  // The bench watches through the page from here on: a second UI would double the event traffic.
  client.close();
  return { held, accept };
}

/** Opens `count` connections to `port` in batches; each batch waits for its connects. Resolves with the sockets. */
async function openPending(port, count, batch) {
  const sockets = [];
  cleanups.push(() => { for (const s of sockets) s.destroy(); });
  let failed = 0;
  const errors = {};
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const t = setTimeout(() => { failed++; errors.timeout = (errors.timeout ?? 0) + 1; s.destroy(); resolve(); }, 10_000);
      s.once('connect', () => { clearTimeout(t); sockets.push(s); resolve(); });
      s.once('error', (e) => { clearTimeout(t); failed++; errors[e.code ?? 'error'] = (errors[e.code ?? 'error'] ?? 0) + 1; resolve(); });
    })));
  }
  return { sockets, failed, errors };
}

// ---- measuring in the page ---------------------------------------------------------------------

/** Runs in the page: requestAnimationFrame intervals for `ms`, and how far the queue scrolled. */
function frameProbe({ ms }) {
  const deltas = [];
  let last = null;
  const grid = document.querySelector('[role="grid"][aria-label="Pending requests"]');
  let scrollEvents = 0;
  let scrolledPx = 0;
  let top = grid ? grid.scrollTop : 0;
  const onScroll = () => {
    scrollEvents++;
    scrolledPx += Math.abs(grid.scrollTop - top);
    top = grid.scrollTop;
  };
  grid?.addEventListener('scroll', onScroll, { passive: true });
  const end = performance.now() + ms;
  return new Promise((resolve) => {
    const frame = (t) => {
      if (last !== null) deltas.push(t - last);
      last = t;
      if (t < end) requestAnimationFrame(frame);
      else {
        grid?.removeEventListener('scroll', onScroll);
        resolve({ deltas, scrollEvents, scrolledPx });
      }
    };
    requestAnimationFrame(frame);
  });
}

/**
 * Scrolls the pending queue with mouse-wheel events, as a person does (through the browser's
 * input and scrolling path, not by setting scrollTop from a script): 2,400 px a second (about 86
 * rows), down to the end and back. Each event carries the distance due since the last one, so a
 * busy page gets fewer, larger wheel steps rather than a slower scroll. Returns a stop function.
 */
async function startWheel(page, cdp) {
  const box = await page.evaluate(() => {
    const g = document.querySelector('[role="grid"][aria-label="Pending requests"]');
    if (!g) return null;
    const r = g.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2, max: g.scrollHeight - g.clientHeight, pos: g.scrollTop };
  });
  if (!box || box.max <= 0) return async () => {};
  const PX_PER_S = 2400;
  let stopped = false;
  let pos = box.pos;
  let dir = 1;
  let at = Date.now();
  const loop = (async () => {
    while (!stopped) {
      await sleep(10);
      const now = Date.now();
      const dy = Math.round(Math.min(240, (PX_PER_S * (now - at)) / 1000)) * dir;
      at = now;
      if (dy === 0) continue;
      await cdp.send('Input.dispatchMouseEvent', { type: 'mouseWheel', x: box.x, y: box.y, deltaX: 0, deltaY: dy });
      pos += dy;
      if (pos >= box.max) dir = -1;
      else if (pos <= 0) dir = 1;
    }
  })();
  return async () => { stopped = true; await loop; };
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const round = (v, d = 1) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

async function perfMetrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
}

/** Reads "N / M done" of the page's current simulation (the Simulator view stays mounted). */
async function simDone(page) {
  // Read, not waited for: before the simulation starts there is no such element.
  const text = (await page.evaluate(() => document.querySelector('[data-testid="sim-progress"]')?.textContent ?? '')) ?? '';
  const m = /^([\d,]+) \//.exec(text);
  return m ? Number(m[1].replace(/,/g, '')) : 0;
}

async function measure(page, cdp, name, { scroll }) {
  const before = await perfMetrics(cdp);
  const doneBefore = await simDone(page);
  const t0 = Date.now();
  if (o.profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  const stopWheel = scroll ? await startWheel(page, cdp) : async () => {};
  const { deltas, scrollEvents, scrolledPx } = await page.evaluate(frameProbe, { ms: o.seconds * 1000 });
  await stopWheel();
  const wallS = (Date.now() - t0) / 1000;
  if (o.profile) {
    const { profile } = await cdp.send('Profiler.stop');
    fs.mkdirSync(o.profile, { recursive: true });
    fs.writeFileSync(path.join(o.profile, `${name.replace(/[^a-z0-9]+/gi, '-').replace(/-+$/, '')}.cpuprofile`), JSON.stringify(profile));
  }
  const after = await perfMetrics(cdp);
  const doneAfter = await simDone(page);
  const sorted = Float64Array.from(deltas).sort();
  const frames = deltas.length;
  const busyMs = (after.TaskDuration - before.TaskDuration) * 1000;
  const scriptMs = (after.ScriptDuration - before.ScriptDuration) * 1000;
  const r = {
    phase: name,
    frames,
    medianMs: round(pct(sorted, 50)),
    p95Ms: round(pct(sorted, 95)),
    p99Ms: round(pct(sorted, 99)),
    maxMs: round(sorted[frames - 1] ?? null),
    /** Frames that took longer than 1.5 refresh intervals (at 60 Hz): at least one refresh missed. */
    overOneRefresh: frames ? round((100 * deltas.filter((d) => d > 25).length) / frames) : null,
    busyPercent: round((100 * busyMs) / (wallS * 1000)),
    busyPerFrameMs: frames ? round(busyMs / frames) : null,
    scriptPercent: round((100 * scriptMs) / (wallS * 1000)),
    decisionsPerSecond: Math.round((doneAfter - doneBefore) / wallS),
    scrolledPxPerSecond: Math.round(scrolledPx / wallS),
    scrollEvents,
  };
  step(`${name}: ${frames} frames, median ${r.medianMs} ms, p95 ${r.p95Ms} ms, max ${r.maxMs} ms; `
    + `main thread busy ${r.busyPercent}% (${r.busyPerFrameMs} ms a frame); ${r.decisionsPerSecond} decisions/s streaming`
    + `${scroll ? `; queue scrolled ${r.scrolledPxPerSecond} px/s (${scrollEvents} scroll events)` : ''}`);
  return r;
}

// ---- the run --------------------------------------------------------------------------------------

async function main() {
  const cap = setTimeout(() => {
    process.stderr.write(`bench:ui: gave up after ${o.cap} s (--cap)\n`);
    void cleanup().then(() => process.exit(1));
  }, o.cap * 1000);
  cap.unref();
  const load0 = os.loadavg()[0];
  const started = Date.now();

  const rate = o.rate ?? Math.floor(o.points / (2 * o.seconds + 10));
  step(`starting serve, ${o.pending} pending connections, ${o.points} streamed decisions at up to ${rate}/s, ${o.seconds} s per phase`);
  const url = await startServe();
  const { held, accept } = await setUpListeners(url);
  step(`listeners: held (ask) on port ${held.bound.port}, accept-all on port ${accept.bound.port}`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const phases = [];
  // 0. An empty page: the floor every phase is measured against (the display's refresh interval).
  phases.push(await measure(page, cdp, 'empty page (the floor)', { scroll: false }));
  await page.goto(url);
  await page.getByTestId('connection').getByText('Connected to the host').waitFor({ timeout: 20_000 });

  // 1. The pending queue: N real connections, in batches, until the UI shows them all.
  const t1 = Date.now();
  const pending = await openPending(held.bound.port, o.pending, o.batch);
  const want = o.pending - pending.failed;
  const countText = page.getByTestId('pending-count');
  let shown = 0;
  for (const until = Date.now() + 120_000; Date.now() < until;) {
    shown = Number(/^(\d+)/.exec((await countText.textContent()) ?? '')?.[1] ?? 0);
    if (shown >= want) break;
    await sleep(250);
  }
  step(`${pending.sockets.length} connections open (${pending.failed} failed${pending.failed ? `: ${JSON.stringify(pending.errors)}` : ''}); `
    + `the UI shows ${shown} waiting after ${((Date.now() - t1) / 1000).toFixed(1)} s`);

  // 2. Live view, queue scrolled, nothing streaming: the floor of the other phases.
  phases.push(await measure(page, cdp, 'live, scrolling, no events', { scroll: true }));

  // The caller simulator of the host, started from the Simulator view as a person would.
  const simState = () => page.getByTestId('sim-run').first().getAttribute('data-state');
  const simulate = async (count, perSecond) => {
    await page.getByRole('tab', { name: 'Simulator' }).click();
    const form = page.getByRole('form', { name: 'Simulation' });
    await form.getByLabel('Target').selectOption(String(accept.id));
    await form.getByLabel('Connections').fill(String(count));
    await form.getByLabel('Concurrency').fill(String(o.concurrency));
    await form.getByLabel('Rate (per second)').fill(perSecond === null ? '' : String(perSecond));
    await form.getByLabel('Timeout (ms)').fill('10000');
    // Many source addresses: 100,000 short connections from one would run through its ports.
    await form.getByLabel('Source addresses').fill('127.0.0.2-127.0.0.254');
    await form.getByRole('button', { name: 'Start' }).click();
    await page.getByTestId('sim-run').and(page.locator('[data-state="running"]')).waitFor({ timeout: 20_000 });
  };
  const untilSimulationEnds = async () => {
    const t0 = Date.now();
    for (const until = Date.now() + o.cap * 1000; Date.now() < until && (await simState()) === 'running';) await sleep(500);
    return (Date.now() - t0) / 1000;
  };
  const outcomes = async () => JSON.parse(await page.evaluate(() => {
    const run = document.querySelector('[data-testid="sim-run"]');
    const rows = [...(run ?? document).querySelectorAll('[data-testid^="outcome-"]')].map((r) => [r.getAttribute('data-testid').slice(8), Number((r.children[1]?.textContent ?? '').replace(/,/g, ''))]);
    return JSON.stringify(Object.fromEntries(rows));
  }));

  // 3. The latency points: N decisions of the accept-all listener, as fast as the simulator goes,
  // until the charts hold all of them ("all" window).
  await simulate(o.points, null);
  const fillS = await untilSimulationEnds();
  const fillOutcomes = await outcomes();
  step(`${o.points} decisions simulated in ${fillS.toFixed(1)} s (${Math.round(o.points / fillS)}/s); outcomes ${JSON.stringify(fillOutcomes)}`);
  await page.getByRole('tab', { name: 'Charts' }).click();
  await page.getByLabel('Listener to chart').selectOption('running');
  await page.getByTestId(`charts-${accept.id}`).waitFor();
  await page.getByRole('radio', { name: 'all' }).click();
  const pointsText = page.getByTestId(`charts-${accept.id}`).getByTestId('latency-points');
  const chartPoints = async () => Number(/^([\d,]+)/.exec((await pointsText.textContent()) ?? '')?.[1]?.replace(/,/g, '') ?? 0);
  let points = 0;
  for (const until = Date.now() + 30_000; Date.now() < until;) {
    points = await chartPoints();
    if (points >= o.points) break;
    await sleep(500);
  }
  step(`the charts hold ${points} latency points for the accept-all listener`);
  phases.push(await measure(page, cdp, `charts (all, ${points} points), no events`, { scroll: false }));

  // 4. A second stream on top, at `rate`, for the phases measured while events stream: the queue
  // still holds its pending requests and the charts their points.
  const streamCount = rate * (3 * o.seconds + 10);
  await simulate(streamCount, rate);
  const simStart = Date.now();
  await page.getByRole('tab', { name: 'Live' }).click();
  await sleep(1000); // let the stream get going
  phases.push(await measure(page, cdp, 'live, scrolling, events streaming', { scroll: true }));
  await page.getByRole('tab', { name: 'Charts' }).click();
  await page.getByRole('radio', { name: '1 min' }).click();
  phases.push(await measure(page, cdp, 'charts (1 min), events streaming', { scroll: false }));
  await page.getByRole('radio', { name: 'all' }).click();
  phases.push(await measure(page, cdp, `charts (all, ${(await chartPoints()).toLocaleString('en')}+ points), events streaming`, { scroll: false }));
  const streamingPoints = await chartPoints();
  const simS = (await untilSimulationEnds()) + (Date.now() - simStart) / 1000;
  const streamOutcomes = await outcomes();
  step(`stream ${await simState()} after ${simS.toFixed(1)} s; outcomes ${JSON.stringify(streamOutcomes)}; the charts hold ${await chartPoints()} points`);
  const stillPending = Number(/^(\d+)/.exec((await page.getByTestId('pending-count').textContent()) ?? '')?.[1] ?? 0);

  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${os.platform()} ${os.release()}, Node ${process.version}, ${(await browser.version())}`;
  const load1 = os.loadavg()[0];
  step('stopping the browser, the connections and serve');
  await cleanup();
  step('stopped');
  clearTimeout(cap);

  log('');
  log(`machine: ${machine}; 1-min load ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  log(`pending requests in the UI: ${shown} (still ${stillPending} at the end); latency points in the charts: ${points} before the stream, ${streamingPoints} during its last phase`);
  log('phase                                   frames  median ms  p95 ms  p99 ms  max ms  >1 refresh  main thread  per frame  decisions/s');
  for (const p of phases) {
    log(`${p.phase.padEnd(39)} ${String(p.frames).padStart(6)}  ${String(p.medianMs).padStart(9)}  ${String(p.p95Ms).padStart(6)}  ${String(p.p99Ms).padStart(6)}  ${String(p.maxMs).padStart(6)}  ${`${p.overOneRefresh}%`.padStart(10)}  ${`${p.busyPercent}%`.padStart(11)}  ${`${p.busyPerFrameMs} ms`.padStart(9)}  ${String(p.decisionsPerSecond).padStart(11)}`);
  }
  const worst = Math.max(...phases.map((p) => p.medianMs ?? Infinity));
  const floor = phases[0].medianMs;
  const missed = Math.max(...phases.map((p) => p.overOneRefresh ?? 0));
  log('');
  log(`target: median frame time <= ${TARGET_MEDIAN_MS} ms in every phase: ${worst <= TARGET_MEDIAN_MS ? 'met' : `NOT met (worst median ${worst} ms, ${round(worst - TARGET_MEDIAN_MS)} ms over)`}`);
  log(`the empty page's median is ${floor} ms: requestAnimationFrame runs once per display refresh (60 Hz here), so no page`
    + ` measures less; ${worst <= floor ? 'every phase\'s median is at that floor' : `the worst median is ${round(worst - floor)} ms above it`};`
    + ` at most ${missed}% of a phase's frames took longer than one refresh (see BENCHMARKS.md)`);
  if (pageErrors.length > 0) log(`page errors: ${pageErrors.slice(0, 5).join(' | ')}`);
  if (o.json) {
    process.stdout.write(JSON.stringify({
      targetMedianMs: TARGET_MEDIAN_MS, met: worst <= TARGET_MEDIAN_MS, worstMedianMs: worst, floorMedianMs: floor, pending: { asked: o.pending, open: pending.sockets.length, shown, stillPending },
      points: { asked: o.points, kept: points, duringStream: streamingPoints },
      fill: { seconds: round(fillS), outcomes: fillOutcomes },
      stream: { rate, count: streamCount, concurrency: o.concurrency, seconds: round(simS), outcomes: streamOutcomes },
      seconds: o.seconds, phases, machine, loadavg: [round(load0, 2), round(load1, 2)], pageErrors,
    }) + '\n');
  }
}

main().catch(async (e) => {
  process.stderr.write(`bench:ui: ${e.stack ?? e.message}\n`);
  await cleanup();
  process.exit(1);
});
