#!/usr/bin/env node
// `npm run bench:replay`: recorded requests per second of `accept-workbench replay` (what-if
// replay, offline) with a trivial condition script, over a synthetic session file.
//
// The session is generated in a temporary directory: header, listener, script, then per request
// one offer (every 10th request two: deferred once, then accepted) and its decision, then `end`.
// Two shapes, because the offer's SQOS dominates the cost of reading and replaying a file:
//   recorded  SQOS as the posix backend records it on Linux (two FLOWSPECs with their `derived`
//             sources, ~1.1 KB per offer line)
//   none      sqos null (the winsock backend, and platforms without TCP_INFO)
// Each round runs the built CLI once per shape: `node bin/accept-workbench replay FILE --script
// trivial.js --json`, and reads its summary line (requestsPerSecond: reading + replaying, as the
// command measures it; wall: the whole process, including Node start-up and loading QuickJS).
// --baseline runs another build in the same rounds, alternating, for a side-by-side comparison.
// Plain Node ESM, no dependencies. See BENCHMARKS.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 50_000;
const SHAPES = ['recorded', 'none'];

const USAGE = `usage: node bench/replay.mjs [options]      (npm run bench:replay -- [options])

  --requests N     requests in the synthetic session (default 200000)
  --rounds N       runs per shape (default 3)
  --shapes LIST    comma-separated subset of recorded,none (default both; see the top of this file)
  --baseline BIN   also run another build's CLI (path to its bin/accept-workbench), round by
                   round alternating with this one: a side-by-side comparison on a noisy machine
  --keep           keep the generated files and print where they are
  --json           print the figures as one JSON object on stdout (the table goes to stderr)
  -h, --help       this text
`;

function badArgs(msg) {
  process.stderr.write(`bench:replay: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { requests: 200_000, rounds: 3, shapes: [...SHAPES], keep: false, json: false, baseline: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) badArgs(`${a} needs a value`);
      return v;
    };
    const count = (min) => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) badArgs(`${a} needs a whole number of at least ${min} (got '${v}')`);
      return n;
    };
    switch (a) {
      case '--requests': o.requests = count(1); break;
      case '--rounds': o.rounds = count(1); break;
      case '--shapes':
        o.shapes = value().split(',').filter(Boolean);
        for (const s of o.shapes) if (!SHAPES.includes(s)) badArgs(`unknown shape '${s}' (recorded, none)`);
        if (o.shapes.length === 0) badArgs('--shapes needs at least one shape');
        break;
      case '--baseline': {
        o.baseline = path.resolve(value());
        if (!fs.existsSync(o.baseline)) badArgs(`--baseline: no such file ${o.baseline}`);
        break;
      }
      case '--keep': o.keep = true; break;
      case '--json': o.json = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: badArgs(`unknown option ${a}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The synthetic session

const DERIVED_SENDING = {
  tokenRate: 'tcpi_pacing_rate', tokenBucketSize: 'tcpi_snd_cwnd*tcpi_snd_mss',
  latency: 'tcpi_rtt', delayVariation: 'tcpi_rttvar', maxSduSize: 'tcpi_snd_mss',
};
const DERIVED_RECEIVING = {
  tokenBucketSize: 'tcpi_rcv_space', latency: 'tcpi_rtt',
  delayVariation: 'tcpi_rttvar', maxSduSize: 'tcpi_advmss',
};
const NS = 4294967295; // QOS_NOT_SPECIFIED

function sqosFor(id) {
  const rtt = 5 + (id % 40);
  const rttvar = 2 + (id % 11);
  return {
    sending: {
      tokenRate: 4294967294, tokenBucketSize: 327680, peakBandwidth: NS, latency: rtt, delayVariation: rttvar,
      serviceType: NS, maxSduSize: 32768, minimumPolicedSize: NS, derived: DERIVED_SENDING,
    },
    receiving: {
      tokenRate: NS, tokenBucketSize: 65483, peakBandwidth: NS, latency: rtt, delayVariation: rttvar,
      serviceType: NS, maxSduSize: 65483, minimumPolicedSize: NS, derived: DERIVED_RECEIVING,
    },
    providerSpecific: '',
  };
}

function sockaddr(port) {
  const raw = Buffer.from([2, 0, port >> 8, port & 0xff, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]).toString('base64');
  return { family: 'ipv4', address: '127.0.0.1', port, raw };
}

/** Writes the session; returns its size in bytes. */
function generate(file, requests, shape) {
  const fd = fs.openSync(file, 'w');
  let lines = [];
  let size = 0;
  const put = (o) => {
    lines.push(JSON.stringify(o));
    if (lines.length >= 4096) flush();
  };
  const flush = () => {
    const text = lines.join('\n') + '\n';
    size += Buffer.byteLength(text);
    fs.writeSync(fd, text);
    lines = [];
  };
  const source = 'export default (req) => req.callerData.length === 0 ? "defer" : "accept";\n';
  put({
    type: 'session', format: 'accept-workbench/session', version: 1, t: 0, startTime: new Date().toISOString(),
    platform: 'linux', arch: 'x64', backend: 'posix', appVersion: '0.1.0', nodeVersion: process.versions.node,
  });
  put({
    type: 'listener', t: 1.2, listener: 1, address: '127.0.0.1', port: 24100,
    options: {
      bind: '127.0.0.1', port: 24100, backlog: 511, discipline: 'held', handler: 'close', fallback: 'reject',
      budgetMs: 20, deferTimeoutMs: 30000, reofferMs: 5, deferAcceptS: 0, fastOpen: false,
    },
  });
  put({ type: 'script', t: 1.3, listener: 1, version: 1, hash: 'b'.repeat(64), filename: 'policy.js', source });
  const callee = sockaddr(24100);
  let t = 2;
  let offers = 0;
  const round = (x) => Math.round(x * 1000) / 1000;
  const offer = (at, id, attempt, caller, sqos, data, verdict) => {
    offers++;
    put({
      type: 'offer', t: round(at), listener: 1, id, attempt, caller, callee,
      callerData: data, callerDataSource: data ? 'peek' : 'none', sqos, gqos: null, verdict, by: 'script',
      conditionUs: 9, result: verdict === 'accept' ? 'OK' : 'WSATRY_AGAIN', scriptVersion: 1,
    });
  };
  const decide = (at, id, caller, attempts, arrival) => put({
    type: 'decision', t: round(at), listener: 1, id, caller: { address: caller.address, port: caller.port },
    verdict: 'accept', attempts, latencyUs: Math.round((at - arrival) * 1000), by: 'script', result: 'OK',
  });
  // Deferred requests are offered again 5 ms later (reofferMs), in between later arrivals: their
  // records wait here (in time order) until the file reaches their time.
  const later = [];
  const upTo = (at) => {
    while (later.length && later[0].at <= at) later.shift().write();
  };
  for (let id = 1; id <= requests; id++) {
    t += 0.04;
    const caller = sockaddr(32768 + (id % 28000));
    const sqos = shape === 'recorded' ? sqosFor(id) : null;
    const arrival = t - 0.02;
    upTo(t);
    if (id % 10 === 0) {
      offer(t, id, 1, caller, sqos, '', 'defer'); // no bytes yet
      const again = t + 5;
      later.push({ at: again, write: () => offer(again, id, 2, caller, sqos, 'aGVsbG8=', 'accept') });
      later.push({ at: again + 0.005, write: () => decide(again + 0.005, id, caller, 2, arrival) });
    } else {
      offer(t, id, 1, caller, sqos, 'aGVsbG8=', 'accept');
      upTo(t + 0.005);
      decide(t + 0.005, id, caller, 1, arrival);
    }
  }
  if (later.length) t = later[later.length - 1].at;
  upTo(Infinity);
  put({ type: 'end', t: round(t + 1), reason: 'stopped', counts: { accept: requests, reject: 0, expire: 0, withdraw: 0, error: 0 }, offers });
  flush();
  fs.closeSync(fd);
  return size;
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

function runReplay(bin, session, script) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [bin, 'replay', session, '--script', script, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
    child.on('exit', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const last = out.trim().split('\n').pop() ?? '';
      let summary = null;
      try { summary = JSON.parse(last); } catch { /* reported below */ }
      if (code !== 0 || !summary || summary.type !== 'summary') {
        resolve({ ok: false, why: `exit ${code}: ${(err.trim() || last).split('\n')[0]}` });
      } else {
        resolve({ ok: true, summary, wallMs });
      }
    });
  });
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const log = (s) => (o.json ? process.stderr : process.stdout).write(`${s}\n`);
  // ACCEPT_WORKBENCH_BIN: run another build of the CLI instead of bin/.
  const bin = process.env.ACCEPT_WORKBENCH_BIN ? path.resolve(process.env.ACCEPT_WORKBENCH_BIN) : path.join(ROOT, 'bin', 'accept-workbench');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'electron', 'cli', 'replay.js')) && !process.env.ACCEPT_WORKBENCH_BIN) {
    log('bench:replay: the CLI is not built (dist/electron/cli/replay.js is missing); run `npm run build:ts` first');
    process.exit(1);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aw-bench-replay-'));
  const script = path.join(tmp, 'trivial.js');
  fs.writeFileSync(script, 'export default () => "accept"\n');
  const cpus = os.cpus();
  log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.type()} ${os.release()}, Node ${process.version}; ` +
    `load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const builds = [{ name: 'this build', bin, figures: {} }];
  if (o.baseline) {
    builds.push({ name: 'baseline', bin: o.baseline, figures: {} });
    log(`baseline: ${o.baseline} (rounds alternate: this build, then the baseline)`);
  }
  try {
    for (const shape of o.shapes) {
      const session = path.join(tmp, `session-${shape}.jsonl`);
      const t0 = performance.now();
      const bytes = generate(session, o.requests, shape);
      log(`${shape}: ${fmt(o.requests)} requests, ${(bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const rounds = builds.map(() => []);
      for (let i = 0; i < o.rounds; i++) {
        for (const [b, build] of builds.entries()) {
          const label = builds.length > 1 ? `${build.name}, round ${i + 1}` : `round ${i + 1}`;
          const r = await runReplay(build.bin, session, script);
          if (!r.ok) {
            log(`  ${label}: failed (${r.why})`);
            continue;
          }
          if (r.summary.requests !== o.requests || r.summary.changed !== 0) {
            log(`  ${label}: unexpected summary ${JSON.stringify(r.summary)}`);
          }
          const wallRate = (o.requests / r.wallMs) * 1000;
          rounds[b].push({ requestsPerSecond: r.summary.requestsPerSecond, elapsedMs: r.summary.elapsedMs, wallMs: Math.round(r.wallMs), wallRequestsPerSecond: Math.round(wallRate) });
          log(`  ${label}: ${fmt(r.summary.requestsPerSecond)} requests/s (replay ${(r.summary.elapsedMs / 1000).toFixed(2)} s; ` +
            `whole process ${(r.wallMs / 1000).toFixed(2)} s = ${fmt(wallRate)} requests/s)`);
        }
      }
      for (const [b, build] of builds.entries()) {
        if (!rounds[b].length) continue;
        const med = median(rounds[b].map((x) => x.requestsPerSecond));
        build.figures[shape] = { bytes, rounds: rounds[b], medianRequestsPerSecond: med, meetsTarget: med >= TARGET };
        const who = builds.length > 1 ? `${build.name}: ` : '';
        log(`  ${who}median ${fmt(med)} requests/s (target ${fmt(TARGET)}: ${med >= TARGET ? 'met' : 'NOT met'})`);
      }
    }
  } finally {
    if (o.keep) log(`files kept in ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  const figures = builds[0].figures;
  if (o.json) {
    const baseline = builds[1] ? { baseline: { bin: builds[1].bin, figures: builds[1].figures } } : {};
    process.stdout.write(JSON.stringify({ requests: o.requests, target: TARGET, node: process.version, cores: cpus.length, figures, ...baseline }) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`bench:replay: ${e?.stack ?? e}\n`);
  process.exit(1);
});
