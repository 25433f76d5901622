#!/usr/bin/env node
// `npm run bench:decide`: how long a person's decision takes from the client API call to the
// verdict applied natively, over the WebSocket transport of `accept-workbench serve`, with the
// in-process transport measured side by side in the same run as the floor.
//
// Per sample: a real TCP client connects to a listener whose script says "ask" (held discipline,
// re-offer every 10 s so only the decision can wake it) and sends one byte; the bench waits for
// the request's offer event, then times
//   applied: client.call('decide') → its response (the host answers once the native side's
//            re-offer has taken the verdict), and
//   served:  the same call → the accepted client's echo arriving (what the caller sees).
// Samples run one after the other. Plain Node ESM on the built dist/. See BENCHMARKS.md.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const TARGETS = { p50: 5, p99: 20 };

const USAGE = `usage: node bench/decide.mjs [options]      (npm run bench:decide -- [options])

  --samples N     decisions measured per transport (default 1000)
  --warmup N      decisions before measuring (default 100)
  --transports L  comma-separated subset of websocket,in-process (default both)
  --json          print the figures as one JSON object on stdout (the table goes to stderr)
  -h, --help      this text
`;

function badArgs(msg) {
  process.stderr.write(`bench:decide: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { samples: 1000, warmup: 100, transports: ['websocket', 'in-process'], json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const int = (min, max) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min || v > max) badArgs(`${a} needs an integer ${min}-${max}`);
      return v;
    };
    if (a === '--samples') o.samples = int(1, 1_000_000);
    else if (a === '--warmup') o.warmup = int(0, 1_000_000);
    else if (a === '--transports') {
      o.transports = String(argv[++i] ?? '').split(',').filter(Boolean);
      for (const t of o.transports) if (!['websocket', 'in-process'].includes(t)) badArgs(`unknown transport ${t}`);
      if (o.transports.length === 0) badArgs('--transports needs a list');
    } else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE); process.exit(0); }
    else badArgs(`unknown option ${a}`);
  }
  return o;
}

function loadDist() {
  try {
    return {
      client: require(path.join(ROOT, 'dist/electron/protocol/client.js')),
      transport: require(path.join(ROOT, 'dist/electron/protocol/transport.js')),
      host: require(path.join(ROOT, 'dist/electron/host/host.js')),
      connection: require(path.join(ROOT, 'dist/electron/host/connection.js')),
      sandbox: require(path.join(ROOT, 'dist/electron/host/script/sandbox.js')),
    };
  } catch (e) {
    process.stderr.write(`bench:decide: the TypeScript is not built (npm run build:ts): ${e.message}\n`);
    process.exit(1);
  }
}

/** Starts `accept-workbench serve --json`; resolves with its URL and a stop function. */
function startServe() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/accept-workbench'), 'serve', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('serve did not start within 20 s')); }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"serving"'));
      if (!line) return;
      clearTimeout(timer);
      const info = JSON.parse(line);
      resolve({
        url: info.url,
        stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGINT'); }),
      });
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}`)); });
  });
}

async function connectWebSocket(dist, url) {
  const { WebSocket } = require('ws');
  const u = new URL(url);
  const wsUrl = `ws://${u.host}/ws?token=${u.searchParams.get('token')}`;
  const ws = new WebSocket(wsUrl, { origin: `http://${u.host}` });
  const client = new dist.client.WorkbenchClient(new dist.transport.WebSocketTransport(ws));
  await client.ready();
  return client;
}

async function connectInProcess(dist) {
  const sandbox = await dist.sandbox.loadSandbox();
  const host = new dist.host.AcceptHost({ sandbox, appVersion: 'bench' });
  const [hostSide, uiSide] = dist.transport.inProcessPair();
  dist.connection.attachConnection(host, hostSide);
  const client = new dist.client.WorkbenchClient(uiSide);
  await client.ready();
  return { client, close: () => host.close() };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function stats(values) {
  const s = Float64Array.from(values).sort();
  return { samples: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : null };
}

/** Runs `count` decisions through `client`; returns [applied ms[], served ms[]]. */
async function measure(client, count) {
  const l = await client.call('listener.create', {
    options: { discipline: 'held', reofferMs: 10_000, handler: 'echo' },
    script: { source: 'export default () => "ask";', filename: 'ask.js' },
  });
  const { bound } = await client.call('listener.start', { listener: l.id });
  const asked = new Map(); // request id → resolve
  const seen = new Set();
  client.onEvents((batch) => {
    for (const e of batch.events) {
      if (e.type !== 'offer' || e.listener !== l.id || !e.ask) continue;
      seen.add(e.id);
      const w = asked.get('next');
      if (w) { asked.delete('next'); w(e.id); }
    }
  });
  const applied = [];
  const served = [];
  for (let i = 0; i < count; i++) {
    const nextId = new Promise((resolve) => asked.set('next', resolve));
    const sock = net.connect({ host: '127.0.0.1', port: bound.port });
    sock.setNoDelay(true);
    const echoed = new Promise((resolve, reject) => {
      sock.once('data', () => resolve(performance.now()));
      sock.once('error', reject);
    });
    sock.write('x');
    const id = await nextId;
    const t0 = performance.now();
    const res = await client.call('decide', { decisions: [{ listener: l.id, requestId: id, verdict: 'accept' }] });
    const t1 = performance.now();
    if (!res.results[0].ok) throw new Error(`decide failed: ${res.results[0].error}`);
    const t2 = await echoed;
    applied.push(t1 - t0);
    served.push(t2 - t0);
    sock.destroy();
  }
  await client.call('listener.stop', { listener: l.id });
  await client.call('listener.remove', { listener: l.id });
  return { applied, served };
}

const fmt = (v) => (v === null ? '-' : v.toFixed(3));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dist = loadDist();
  const log = o.json ? process.stderr : process.stdout;
  const results = {};
  for (const t of o.transports) {
    let client;
    let close;
    if (t === 'websocket') {
      const serve = await startServe();
      client = await connectWebSocket(dist, serve.url);
      close = async () => { client.close(); await serve.stop(); };
    } else {
      const c = await connectInProcess(dist);
      client = c.client;
      close = async () => c.close();
    }
    if (o.warmup > 0) await measure(client, o.warmup);
    const m = await measure(client, o.samples);
    results[t] = { applied: stats(m.applied), served: stats(m.served) };
    await close();
    log.write(`${t}: ${o.samples} decisions measured\n`);
  }
  log.write(`\nmachine: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${os.platform()} ${os.release()}, Node ${process.version}\n`);
  log.write('transport    measure   p50 ms   p90 ms   p99 ms   max ms\n');
  for (const [t, r] of Object.entries(results)) {
    for (const k of ['applied', 'served']) {
      const s = r[k];
      log.write(`${t.padEnd(12)} ${k.padEnd(8)} ${fmt(s.p50).padStart(7)}  ${fmt(s.p90).padStart(7)}  ${fmt(s.p99).padStart(7)}  ${fmt(s.max).padStart(7)}\n`);
    }
  }
  const ws = results.websocket?.applied;
  if (ws) {
    const met = ws.p50 <= TARGETS.p50 && ws.p99 <= TARGETS.p99;
    log.write(`\ntarget (websocket, applied): p50 <= ${TARGETS.p50} ms, p99 <= ${TARGETS.p99} ms: ${met ? 'met' : 'NOT met'}\n`);
    if (results['in-process']) {
      log.write(`websocket / in-process p50: ${(ws.p50 / results['in-process'].applied.p50).toFixed(2)}x\n`);
    }
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ samples: o.samples, targets: TARGETS, results, node: process.version, cpus: os.cpus().length }) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`bench:decide: ${e.message}\n`);
  process.exit(1);
});
