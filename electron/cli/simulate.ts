// `accept-workbench simulate`: the caller side. Opens connections against a listener and reports
// what the clients observed (docs/simulate.md).
import {
  CLIENT_OUTCOMES, MAX_CONCURRENCY, MAX_COUNT, MAX_DATA_BYTES, SourceRangeError, isLoopback, parseSources, runSimulation,
  type ClientResult, type Percentiles, type SimulationProgress, type SimulationReport, type SourceRange,
} from '../host/simulator';
import { parseArgs, parseHostPort, UsageError, type OptionSpec } from './args';
import { LineWriter, fail, abortOnSignals } from './output';

export const SIMULATE_USAGE = `usage: accept-workbench simulate --target HOST:PORT --count N [--concurrency C] [--rate R]
  [--data TEXT | --data-hex HEX] [--sources FIRST-LAST] [--abort-ratio X] [--abort-after-ms N]
  [--hold-ms N] [--timeout-ms N] [--duration S] [--progress] [--each] [--json]`;

const SPEC: Record<string, OptionSpec> = {
  target: { type: 'string' },
  count: { type: 'int', min: 0, max: MAX_COUNT },
  concurrency: { type: 'int', min: 1, max: MAX_CONCURRENCY },
  rate: { type: 'number', min: 0.001, max: 1_000_000 },
  data: { type: 'string' },
  'data-hex': { type: 'string' },
  'fast-open': { type: 'flag' },
  sources: { type: 'string' },
  'abort-ratio': { type: 'number', min: 0, max: 1 },
  'abort-after-ms': { type: 'int', min: 0, max: 600_000 },
  'hold-ms': { type: 'int', min: 0, max: 600_000 },
  'timeout-ms': { type: 'int', min: 1, max: 600_000 },
  duration: { type: 'number', min: 0.001, max: 86_400 },
  progress: { type: 'flag' },
  each: { type: 'flag' },
  json: { type: 'flag' },
  help: { type: 'flag' },
};

interface SimulateConfig {
  host: string;
  port: number;
  count: number;
  concurrency: number;
  rate: number | null;
  data: Buffer | null;
  fastOpen: boolean;
  sources: SourceRange | null;
  abortRatio: number;
  abortAfterMs: number;
  holdMs: number | null;
  timeoutMs: number;
  durationMs: number | null;
  progress: boolean;
  each: boolean;
  json: boolean;
}

/** Parses and checks the arguments; throws UsageError with a one-line message. Null for --help. */
export function parseSimulateArgs(argv: string[]): SimulateConfig | null {
  const { options: o } = parseArgs(argv, SPEC);
  if (o.help) return null;
  if (o.target === undefined) throw new UsageError('simulate needs --target HOST:PORT');
  if (o.count === undefined) throw new UsageError(`simulate needs --count N (at most ${MAX_COUNT})`);
  const { host, port } = parseHostPort(String(o.target), '--target');
  if (port === 0) throw new UsageError('--target: port 0 cannot be connected to');
  if (o.data !== undefined && o['data-hex'] !== undefined) throw new UsageError('give --data or --data-hex, not both');
  let data: Buffer | null = null;
  if (o.data !== undefined) data = Buffer.from(String(o.data), 'utf8');
  if (o['data-hex'] !== undefined) {
    const hex = String(o['data-hex']).replace(/\s+/g, '');
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new UsageError(`--data-hex needs pairs of hex digits (got '${String(o['data-hex'])}')`);
    data = Buffer.from(hex, 'hex');
  }
  if (data && data.length > MAX_DATA_BYTES) throw new UsageError(`caller data is ${data.length} bytes; at most ${MAX_DATA_BYTES}`);
  if (o['fast-open'] && !data) throw new UsageError('--fast-open sends the caller data in the SYN: give --data or --data-hex');
  if (o['fast-open'] && process.platform !== 'linux') throw new UsageError('--fast-open needs Linux');
  let sources: SourceRange | null = null;
  if (o.sources !== undefined) {
    try {
      sources = parseSources(String(o.sources));
    } catch (e) {
      if (e instanceof SourceRangeError) throw new UsageError(e.message);
      throw e;
    }
    // Loopback sources reach loopback targets only, and ::1 only an IPv6 one.
    if (!isLoopback(host)) throw new UsageError(`--sources needs a loopback --target (127.x.x.x or [::1]), not ${host}`);
    const targetV6 = host.includes(':');
    if (targetV6 !== (sources.family === 'ipv6')) {
      throw new UsageError(`--sources ${String(o.sources)} and --target ${String(o.target)} are of different address families`);
    }
  }
  return {
    host, port,
    count: o.count as number,
    concurrency: (o.concurrency as number | undefined) ?? 10,
    rate: (o.rate as number | undefined) ?? null,
    data,
    fastOpen: o['fast-open'] === true,
    sources,
    abortRatio: (o['abort-ratio'] as number | undefined) ?? 0,
    abortAfterMs: (o['abort-after-ms'] as number | undefined) ?? 0,
    holdMs: (o['hold-ms'] as number | undefined) ?? null,
    timeoutMs: (o['timeout-ms'] as number | undefined) ?? 5000,
    durationMs: o.duration === undefined ? null : (o.duration as number) * 1000,
    progress: o.progress === true || process.stderr.isTTY === true,
    each: o.each === true,
    json: o.json === true,
  };
}

const fmtMs = (x: number | null): string => (x === null ? '-' : x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0));
const pad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const target = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function progressLine(p: SimulationProgress): string {
  const parts = CLIENT_OUTCOMES.filter((k) => p.outcomes[k] > 0).map((k) => `${p.outcomes[k]} ${k}`);
  return `simulate: ${p.done}/${p.count} done, ${p.inFlight} in flight, ${(p.elapsedMs / 1000).toFixed(1)} s` +
    (parts.length ? `: ${parts.join(', ')}` : '');
}

function eachLine(r: ClientResult, i: number): string {
  const from = r.local ? target(r.local.address, r.local.port) : '-';
  const err = r.error ? ` (${r.error})` : '';
  return `#${i} ${from} ${r.outcome}${err} connect ${fmtMs(r.connectMs)} ms, outcome ${fmtMs(r.outcomeMs)} ms, ` +
    `${r.bytesOut} bytes out, ${r.bytesIn} in`;
}

function eachJson(r: ClientResult, i: number): Record<string, unknown> {
  const ms = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    type: 'connection', index: i, local: r.local, outcome: r.outcome, connected: r.connected,
    connectMs: ms(r.connectMs), outcomeMs: ms(r.outcomeMs), bytesOut: r.bytesOut, bytesIn: r.bytesIn,
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}

function reportLines(r: SimulationReport, concurrency: number): string[] {
  const lines: string[] = [];
  const stopped = r.reason === 'done' ? '' : ` (stopped: ${r.reason}; ${r.requested - r.started} not started, ${r.cancelled} cancelled)`;
  lines.push(`simulated ${r.count} of ${r.requested} connections to ${target(r.target.host, r.target.port)} in ` +
    `${(r.elapsedMs / 1000).toFixed(2)} s, concurrency ${concurrency}${stopped}`);
  lines.push(`  clients      count   share`);
  for (const k of CLIENT_OUTCOMES) {
    const n = r.outcomes[k];
    if (n === 0 && k !== 'served') continue;
    const share = r.count ? `${((100 * n) / r.count).toFixed(1)}%` : '-';
    const detail = k === 'error' ? `  ${Object.entries(r.errors).map(([c, x]) => `${c} ${x}`).join(', ')}` : '';
    lines.push(`  ${k.padEnd(9)} ${pad(String(n), 8)} ${pad(share, 7)}${detail}`);
  }
  lines.push(`  connected ${pad(String(r.connected), 8)}; ${r.bytesOut} bytes sent, ${r.bytesIn} received`);
  const row = (name: string, p: Percentiles): string =>
    `  ${name.padEnd(9)} ${[p.p50, p.p90, p.p99, p.max].map((x) => pad(fmtMs(x), 8)).join(' ')}`;
  lines.push(`  latency ms      p50      p90      p99      max`);
  lines.push(row('connect', r.connectMs));
  lines.push(row('outcome', r.outcomeMs));
  return lines;
}

export async function simulateCommand(argv: string[]): Promise<void> {
  let cfg: SimulateConfig | null;
  try {
    cfg = parseSimulateArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) fail(`simulate: ${e.message}`);
    throw e;
  }
  if (cfg === null) {
    process.stdout.write(SIMULATE_USAGE + '\n');
    return;
  }
  const c = cfg;
  const out = new LineWriter();
  const tty = process.stderr.isTTY === true;
  // The first Ctrl-C ends the run with a partial report; a second one does not wait for it.
  const stopped = abortOnSignals();

  const report = await runSimulation({
    host: c.host, port: c.port, count: c.count, concurrency: c.concurrency, rate: c.rate, data: c.data, fastOpen: c.fastOpen,
    sources: c.sources, abortRatio: c.abortRatio, abortAfterMs: c.abortAfterMs, holdMs: c.holdMs,
    timeoutMs: c.timeoutMs, durationMs: c.durationMs, signal: stopped,
    onResult: c.each ? (r, i) => (c.json ? out.json(eachJson(r, i)) : out.line(eachLine(r, i))) : undefined,
    onProgress: c.progress
      ? (p) => process.stderr.write(tty ? `\r\x1b[K${progressLine(p)}` : `${progressLine(p)}\n`)
      : undefined,
  });
  if (c.progress && tty) process.stderr.write('\r\x1b[K');
  if (c.json) {
    out.json({
      type: 'summary', target: target(report.target.host, report.target.port), count: report.count,
      requested: report.requested, started: report.started, cancelled: report.cancelled, connected: report.connected,
      outcomes: report.outcomes, errors: report.errors, connectMs: report.connectMs, outcomeMs: report.outcomeMs,
      bytesOut: report.bytesOut, bytesIn: report.bytesIn, elapsedMs: report.elapsedMs, reason: report.reason,
    });
  } else {
    for (const l of reportLines(report, c.concurrency)) out.line(l);
  }
  out.end(() => process.exit(0));
}
