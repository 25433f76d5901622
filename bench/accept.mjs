#!/usr/bin/env node
// `npm run bench:accept`: connections per second of three servers on loopback, side by side.
//
//   workbench  node bin/accept-workbench listen --script bench/decide-every.js --handler close
//              (every connection goes native -> condition script -> native)
//   node       net.createServer(s => s.destroy())               (bench/node-server.mjs)
//   raw C      blocking accept -> close loop, backlog 511         (bench/raw_accept.c)
//
// Load: bench/connect_client.c, N connections one after the other per client thread. Servers run
// alternately, one at a time, for several rounds (the order rotates each round), each run
// preceded by a warm-up. Plain Node ESM, no dependencies. See BENCHMARKS.md.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(ROOT, '.bench-out');
const HOST = '127.0.0.1';
const TARGETS = { overNode: 2.0, overRaw: 0.6, rtP50: 25, rtP99: 150 };
const SERVER_NAMES = ['workbench', 'node', 'raw'];
const LABEL = { workbench: 'workbench', node: 'node', raw: 'raw C' };

const USAGE = `usage: node bench/accept.mjs [options]      (npm run bench:accept -- [options])

  --rounds N          rounds; each round runs every server once (default 3)
  --connections N     measured connections per run (default 20000)
  --warmup N          warm-up connections before each measured run (default 500; 0 = none)
  --threads T         client threads (default 1, the "one client" figure)
  --cap S             stop a run after S seconds even if N is not reached (default 60)
  --client-mode M     wait (default): after connect, wait for the server to close, then close;
                      fire: connect then close at once (outruns slow servers, see BENCHMARKS.md)
  --servers LIST      comma-separated subset of workbench,node,raw (default all three)
  --port-base P       first listener port (default 24000; must stay below 32768)
  --json              print the figures as one JSON object on stdout at the end
                      (the table then goes to stderr)
  -h, --help          this text
`;

// ---------------------------------------------------------------------------------------------
// Arguments

function badArgs(msg) {
  process.stderr.write(`bench:accept: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    rounds: 3,
    connections: 20000,
    warmup: 500,
    threads: 1,
    cap: 60,
    clientMode: 'wait',
    servers: [...SERVER_NAMES],
    portBase: 24000,
    json: false,
  };
  const ints = {
    '--rounds': ['rounds', 1, 1000],
    '--connections': ['connections', 1, 100_000_000],
    '--warmup': ['warmup', 0, 10_000_000],
    '--threads': ['threads', 1, 256],
    '--cap': ['cap', 1, 86_400],
    '--port-base': ['portBase', 1024, 32767],
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) badArgs(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === '--json') {
      if (value !== undefined) badArgs('--json takes no value');
      o.json = true;
    } else if (ints[a]) {
      const [key, min, max] = ints[a];
      const s = next();
      if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) {
        badArgs(`${a} must be an integer from ${min} to ${max}, got "${s}"`);
      }
      o[key] = Number(s);
    } else if (a === '--client-mode') {
      const s = next();
      if (s !== 'wait' && s !== 'fire') badArgs(`--client-mode must be wait or fire, got "${s}"`);
      o.clientMode = s;
    } else if (a === '--servers') {
      const list = next().split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of list) if (!SERVER_NAMES.includes(s)) badArgs(`unknown server "${s}" (use ${SERVER_NAMES.join(',')})`);
      if (list.length === 0) badArgs('--servers needs at least one server');
      o.servers = SERVER_NAMES.filter((s) => list.includes(s));
    } else {
      badArgs(`unknown argument "${argv[i]}"`);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// Progress always goes to stderr; the table to stdout, or to stderr when --json owns stdout.
const progress = (s) => process.stderr.write(s + '\n');
const report = opts.json ? progress : (s) => process.stdout.write(s + '\n');

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const fmtInt = (n) => (n == null ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const fmtNum = (n, d = 1) => (n == null ? 'n/a' : n.toFixed(d));

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    os: `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    // Other work on the same cores skews every figure: say how busy the machine was.
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// Compile bench/NAME.c into .bench-out/NAME when the binary is missing or older than the source.
function ensureBinary(name, extraFlags = []) {
  const src = path.join(ROOT, 'bench', `${name}.c`);
  const out = path.join(OUT_DIR, name);
  let fresh = false;
  try {
    fresh = fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs;
  } catch {
    fresh = false;
  }
  if (fresh) return { ok: true, path: out };
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const args = ['-O2', '-Wall', '-o', out, src, ...extraFlags];
  progress(`compiling: cc ${args.map((a) => path.relative(ROOT, a) || a).join(' ')}`);
  const r = spawnSync('cc', args, { cwd: ROOT, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    return { ok: false, error: (r.error?.message ?? r.stderr ?? '').trim() || `cc exited ${r.status}` };
  }
  return { ok: true, path: out };
}

// Ephemeral ports collide with the client's own source ports: stay below them (and below 32768).
function portCeiling() {
  let low = 32768;
  try {
    const [lo] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && lo > 1024) low = Math.min(low, lo);
  } catch {
    // not Linux, or not readable: 32768 it is
  }
  return low;
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: HOST, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function pickPorts(names) {
  const ceiling = portCeiling();
  const taken = new Set();
  const ports = {};
  let candidate = opts.portBase;
  for (const name of names) {
    while (candidate < ceiling && (taken.has(candidate) || !(await portIsFree(candidate)))) candidate++;
    if (candidate >= ceiling) return { error: `no free port from ${opts.portBase} to ${ceiling - 1}` };
    ports[name] = candidate;
    taken.add(candidate);
    candidate++;
  }
  return { ports };
}

// ---------------------------------------------------------------------------------------------
// Child processes

const live = new Set(); // children to kill if the harness is interrupted

function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    process.stderr.write(`\nbench:accept: interrupted (${sig})\n`);
    process.exit(130);
  });
}

// A running server. stdout is consumed as it comes (a per-decision line per connection for the
// workbench): lines are only counted, never parsed, except until the "listening" line and the
// last few kilobytes at exit, where the summary line is.
function startServer(cmd, args) {
  const child = track(spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const state = {
    child,
    lines: 0,
    listening: null,
    tail: [],
    tailBytes: 0,
    stderr: '',
    exited: null,
  };
  let pending = ''; // text before the listening line is complete
  let onListening;
  const listeningP = new Promise((r) => (onListening = r));

  child.stdout.on('data', (buf) => {
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) state.lines++;
    state.tail.push(buf);
    state.tailBytes += buf.length;
    while (state.tail.length > 1 && state.tailBytes - state.tail[0].length >= 65536) {
      state.tailBytes -= state.tail.shift().length;
    }
    if (!state.listening) {
      pending += buf.toString('utf8');
      let nl;
      while (!state.listening && (nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        const msg = parseJson(line);
        if (msg && msg.type === 'listening') {
          state.listening = msg;
          pending = '';
          onListening(msg);
        }
      }
    }
  });
  child.stderr.on('data', (buf) => {
    state.stderr = (state.stderr + buf.toString('utf8')).slice(-4000);
  });
  const exitP = new Promise((resolve) => {
    child.once('error', (err) => {
      state.stderr += `\n${err.message}`;
      state.exited = { code: null, signal: null, error: err.message };
      resolve(state.exited);
    });
    child.once('close', (code, signal) => {
      state.exited ??= { code, signal };
      resolve(state.exited);
    });
  });
  state.exitP = exitP;
  state.ready = (timeoutMs) =>
    Promise.race([
      listeningP.then((msg) => ({ ok: true, msg })),
      exitP.then((e) => ({ ok: false, why: `exited before listening (${describeExit(e)})` })),
      sleep(timeoutMs).then(() => ({ ok: false, why: `no "listening" line within ${timeoutMs / 1000} s` })),
    ]);
  state.stop = async () => {
    if (!state.exited) {
      child.kill('SIGINT');
      const done = await Promise.race([exitP, sleep(10000).then(() => null)]);
      if (!done) {
        child.kill('SIGKILL');
        await exitP;
        state.killed = true;
      }
    }
    return findSummary(Buffer.concat(state.tail).toString('utf8'));
  };
  return state;
}

function parseJson(line) {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

function findSummary(text) {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const msg = parseJson(lines[i].trim());
    if (msg && msg.type === 'summary') return msg;
  }
  return null;
}

function describeExit(e) {
  if (!e) return 'still running';
  if (e.error) return e.error;
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

// Runs the client to completion; resolves with its JSON result or { error }.
function runClient(clientPath, port, count) {
  return new Promise((resolve) => {
    const timeoutMs = 5000;
    const args = ['-t', String(opts.threads), '-c', String(opts.cap), '-T', String(timeoutMs), '-m', opts.clientMode, HOST, String(port), String(count)];
    const child = track(spawn(clientPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err = (err + b).slice(-2000)));
    // The client stops itself at the cap; this only catches a client stuck in one call.
    const guard = setTimeout(() => child.kill('SIGKILL'), (opts.cap + 2 * timeoutMs / 1000 + 15) * 1000);
    child.once('error', (e) => {
      clearTimeout(guard);
      resolve({ error: e.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      const r = parseJson(out.trim());
      if (code === 0 && r) resolve(r);
      else resolve({ error: `client ${signal ? `killed by ${signal}` : `exited ${code}`}: ${err.trim() || out.trim()}` });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Servers

function serverCommand(name, port, bins) {
  switch (name) {
    case 'workbench': {
      // ACCEPT_WORKBENCH_BIN: run another build of the CLI (or a stand-in) instead of bin/.
      const bin = process.env.ACCEPT_WORKBENCH_BIN ? path.resolve(process.env.ACCEPT_WORKBENCH_BIN) : path.join(ROOT, 'bin', 'accept-workbench');
      if (!fs.existsSync(bin)) return { skip: `${path.relative(ROOT, bin)} not found (the CLI has not landed yet)` };
      return {
        cmd: process.execPath,
        args: [bin, 'listen', '--bind', `${HOST}:${port}`, '--script', 'bench/decide-every.js', '--handler', 'close', '--json'],
        readyMs: 20000,
      };
    }
    case 'node':
      return { cmd: process.execPath, args: [path.join(ROOT, 'bench', 'node-server.mjs'), HOST, String(port)], readyMs: 10000 };
    case 'raw':
      if (!bins.raw.ok) return { skip: `could not compile bench/raw_accept.c: ${bins.raw.error}` };
      return { cmd: bins.raw.path, args: [HOST, String(port)], readyMs: 5000 };
    default:
      throw new Error(name);
  }
}

function roundTripOf(summary) {
  const rt = summary?.roundTripUs;
  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  if (!rt || typeof rt !== 'object') return null;
  return { p50: num(rt.p50), p99: num(rt.p99), samples: num(rt.samples) };
}

// One server, one run: start, warm up, measure, stop.
async function runOnce(name, port, bins) {
  const spec = serverCommand(name, port, bins);
  if (spec.skip) return { skipped: spec.skip };
  const server = startServer(spec.cmd, spec.args);
  const ready = await server.ready(spec.readyMs);
  if (!ready.ok) {
    await server.stop();
    return { error: `${ready.why}${server.stderr.trim() ? `: ${server.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}` };
  }
  const loadPort = Number.isInteger(ready.msg.port) && ready.msg.port > 0 ? ready.msg.port : port;
  let warm = null;
  if (opts.warmup > 0) warm = await runClient(bins.client.path, loadPort, opts.warmup);
  const linesBefore = server.lines;
  const res = warm?.error ? warm : await runClient(bins.client.path, loadPort, opts.connections);
  const linesDuring = server.lines - linesBefore;
  const diedEarly = server.exited ? describeExit(server.exited) : null;
  const summary = await server.stop();
  const run = {
    port: loadPort,
    linesDuringRun: linesDuring,
    // raw C and node print `accepted`; the CLI's summary spreads its counts (`accept`, `reject`, ...).
    serverAccepted: [summary?.accepted, summary?.accept].find((x) => typeof x === 'number') ?? null,
    summaryFound: !!summary,
  };
  if (name === 'workbench') run.roundTripUs = roundTripOf(summary);
  if (diedEarly) return { ...run, error: `server exited during the run (${diedEarly}): ${server.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  if (res.error) return { ...run, error: res.error };
  return {
    ...run,
    connections: res.connections,
    errors: res.errors,
    seconds: res.seconds,
    connsPerSec: res.seconds > 0 ? res.connections / res.seconds : null,
    capped: res.capped,
    slowConnects: res.slowConnects,
    maxConnectMs: res.maxConnectMs,
    waitTimeouts: res.waitTimeouts,
    errorCounts: res.errorCounts,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const m = machine();
  const bins = {
    client: ensureBinary('connect_client', ['-pthread']),
    raw: opts.servers.includes('raw') ? ensureBinary('raw_accept') : { ok: false, error: 'not selected' },
  };
  if (!bins.client.ok) {
    process.stderr.write(`bench:accept: could not compile bench/connect_client.c:\n${bins.client.error}\n`);
    process.exit(1);
  }

  const picked = await pickPorts(opts.servers);
  if (picked.error) {
    process.stderr.write(`bench:accept: ${picked.error}\n`);
    process.exit(1);
  }
  const { ports } = picked;

  progress(
    `bench:accept: ${opts.rounds} round(s) x ${fmtInt(opts.connections)} connections, ` +
      `${opts.threads} client thread(s), client mode ${opts.clientMode}, warm-up ${fmtInt(opts.warmup)}, cap ${opts.cap} s`,
  );
  progress(`machine: ${m.cpu}, ${m.cores} cores, ${m.os}, node ${m.node}, load average ${m.loadavgAtStart.join(' ')}`);
  progress(`ports: ${opts.servers.map((s) => `${LABEL[s]} ${ports[s]}`).join(', ')}`);

  const results = Object.fromEntries(opts.servers.map((s) => [s, { port: ports[s], runs: [] }]));
  for (let r = 0; r < opts.rounds; r++) {
    // Rotate the order each round so no server always runs first, or right after another.
    const order = opts.servers.map((_, i) => opts.servers[(i + r) % opts.servers.length]);
    for (const name of order) {
      const slot = results[name];
      if (slot.skipped) continue;
      const run = await runOnce(name, ports[name], bins);
      if (run.skipped) {
        slot.skipped = run.skipped;
        progress(`round ${r + 1}/${opts.rounds} ${LABEL[name]}: skipped: ${run.skipped}`);
        continue;
      }
      run.round = r + 1;
      slot.runs.push(run);
      if (run.error) {
        progress(`round ${r + 1}/${opts.rounds} ${LABEL[name]}: FAILED: ${run.error}`);
      } else {
        const rt = run.roundTripUs;
        progress(
          `round ${r + 1}/${opts.rounds} ${LABEL[name].padEnd(9)} ${fmtInt(run.connections).padStart(9)} conn in ` +
            `${run.seconds.toFixed(3)} s = ${fmtInt(run.connsPerSec).padStart(7)}/s` +
            (run.errors ? `, ${run.errors} errors` : '') +
            (run.slowConnects ? `, ${run.slowConnects} slow connects (max ${fmtNum(run.maxConnectMs, 0)} ms)` : '') +
            (run.capped ? `, capped at ${opts.cap} s` : '') +
            (name === 'workbench' ? `, round trip p50/p99 ${fmtNum(rt?.p50)}/${fmtNum(rt?.p99)} µs` : ''),
        );
      }
      await sleep(200); // let the previous server's sockets go before the next run
    }
  }

  // Figures
  for (const name of opts.servers) {
    const slot = results[name];
    slot.median = median(slot.runs.map((x) => (x.error ? null : x.connsPerSec)));
    const good = slot.runs.filter((x) => !x.error).length;
    slot.status = slot.skipped ? 'skipped' : good === 0 ? 'failed' : good < slot.runs.length ? 'partial' : 'ok';
    if (name === 'workbench') {
      slot.roundTripUs = {
        p50: median(slot.runs.map((x) => x.roundTripUs?.p50)),
        p99: median(slot.runs.map((x) => x.roundTripUs?.p99)),
      };
    }
  }
  const med = (n) => results[n]?.median ?? null;
  const ratio = (a, b) => (med(a) != null && med(b) ? med(a) / med(b) : null);
  const ratios = { workbenchOverNode: ratio('workbench', 'node'), workbenchOverRaw: ratio('workbench', 'raw') };
  const rt = results.workbench?.roundTripUs ?? { p50: null, p99: null };

  // Table
  const rule = '-'.repeat(26 + 11 * (opts.rounds + 1) + 9);
  report('');
  report(`bench:accept  connections/s on ${HOST}, ${fmtInt(opts.connections)} per run, ${opts.threads} client thread(s), client mode ${opts.clientMode}`);
  report(`machine: ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, node ${m.node}; load average at start ${m.loadavgAtStart.join(' ')}`);
  if (m.loadavgAtStart[0] >= 0.5) report(`warning: the machine was busy at start (1-min load ${m.loadavgAtStart[0]}); figures will be noisy`);
  report(rule);
  report(
    'server'.padEnd(11) + 'port'.padStart(6) + '  ' +
      Array.from({ length: opts.rounds }, (_, i) => `round ${i + 1}`.padStart(11)).join('') +
      'median'.padStart(11) + 'errors'.padStart(9),
  );
  report(rule);
  for (const name of opts.servers) {
    const slot = results[name];
    let row = LABEL[name].padEnd(11) + String(slot.port).padStart(6) + '  ';
    if (slot.skipped && slot.runs.length === 0) {
      report(row + `skipped: ${slot.skipped}`);
      continue;
    }
    for (let i = 0; i < opts.rounds; i++) {
      const run = slot.runs.find((x) => x.round === i + 1);
      row += (run ? (run.error ? 'failed' : fmtInt(run.connsPerSec)) : '-').padStart(11);
    }
    const errs = slot.runs.reduce((s, x) => s + (x.errors ?? 0), 0);
    report(row + fmtInt(slot.median).padStart(11) + String(errs).padStart(9));
  }
  report(rule);
  const verdict = (v, ok) => (v == null ? '' : ok ? '  ok' : '  MISSED');
  report(`workbench / node    ${fmtNum(ratios.workbenchOverNode, 2).padStart(8)}   (target >= ${TARGETS.overNode.toFixed(1)})${verdict(ratios.workbenchOverNode, ratios.workbenchOverNode >= TARGETS.overNode)}`);
  report(`workbench / raw C   ${fmtNum(ratios.workbenchOverRaw, 2).padStart(8)}   (target >= ${TARGETS.overRaw.toFixed(1)})${verdict(ratios.workbenchOverRaw, ratios.workbenchOverRaw >= TARGETS.overRaw)}`);
  report(`condition round trip p50 ${fmtNum(rt.p50).padStart(6)} µs (target <= ${TARGETS.rtP50})${verdict(rt.p50, rt.p50 <= TARGETS.rtP50)}` +
    `   p99 ${fmtNum(rt.p99).padStart(6)} µs (target <= ${TARGETS.rtP99})${verdict(rt.p99, rt.p99 <= TARGETS.rtP99)}`);
  if (results.workbench && !results.workbench.skipped) {
    const per = results.workbench.runs.map((x) => `${fmtNum(x.roundTripUs?.p50)}/${fmtNum(x.roundTripUs?.p99)}`).join(', ');
    report(`  (per round p50/p99 µs: ${per || 'n/a'}; medians over rounds; from the CLI's summary line)`);
  }

  // Anything that makes a figure doubtful.
  const notes = [];
  for (const name of opts.servers) {
    for (const run of results[name].runs) {
      const where = `${LABEL[name]} round ${run.round}`;
      if (run.error) {
        notes.push(`${where} failed: ${run.error}`);
        continue;
      }
      if (run.slowConnects) notes.push(`${where}: ${run.slowConnects} connect(s) took >= 200 ms (max ${fmtNum(run.maxConnectMs, 0)} ms): the listener dropped SYNs (full accept queue), the figure includes SYN retransmit waits`);
      if (run.capped) notes.push(`${where}: stopped by the ${opts.cap} s cap after ${fmtInt(run.connections)} connections`);
      if (run.errors) notes.push(`${where}: ${run.errors} failed connects ${JSON.stringify(run.errorCounts)}`);
      if (run.waitTimeouts) notes.push(`${where}: ${run.waitTimeouts} connections not closed by the server within 5 s`);
      const expected = opts.warmup + run.connections;
      if (run.serverAccepted != null && run.serverAccepted < expected) {
        notes.push(`${where}: the server accepted ${fmtInt(run.serverAccepted)} of ${fmtInt(expected)} connections the client completed`);
      }
      if (name === 'workbench' && !run.summaryFound) notes.push(`${where}: no "summary" line on the CLI's stdout (round trip n/a)`);
      else if (name === 'workbench' && !run.roundTripUs) notes.push(`${where}: the summary line has no roundTripUs (round trip n/a)`);
    }
  }
  if (notes.length) {
    report('notes:');
    for (const n of notes) report(`  - ${n}`);
  }

  if (opts.json) {
    const out = {
      benchmark: 'bench:accept',
      date: new Date().toISOString(),
      machine: m,
      config: {
        host: HOST,
        rounds: opts.rounds,
        connections: opts.connections,
        warmup: opts.warmup,
        threads: opts.threads,
        capSeconds: opts.cap,
        clientMode: opts.clientMode,
      },
      servers: results,
      ratios,
      roundTripUs: rt,
      targets: TARGETS,
      notes,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    for (const c of live) c.kill('SIGKILL');
    process.stderr.write(`bench:accept: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
