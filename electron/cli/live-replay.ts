// `accept-workbench replay SESSION --live --target HOST:PORT`: re-drives a recording's callers
// against a live listener and reports, per request, what the client observed then and now
// (docs/simulate.md). Exit 0 when nothing differs, 1 when something does, 2 on bad input.
import { LiveReplayError, loadLivePlan, runLiveReplay, type LivePlan, type LiveReplayReport, type LiveResult } from '../host/replay/live';
import { isLoopback } from '../host/simulator';
import { SessionFormatError } from '../host/session/reader';
import { parseArgs, parseHostPort, UsageError, type OptionSpec } from './args';
import { LineWriter, fail, abortOnSignals } from './output';

export const LIVE_REPLAY_USAGE = `usage: accept-workbench replay SESSION --live --target HOST:PORT [--speed X] [--timeout-ms N]
  [--listener ID] [--any-port] [--json]`;

const SPEC: Record<string, OptionSpec> = {
  live: { type: 'flag' },
  target: { type: 'string' },
  speed: { type: 'number', min: 0.001, max: 10_000 },
  'timeout-ms': { type: 'int', min: 1, max: 600_000 },
  listener: { type: 'int', min: 0 },
  'any-port': { type: 'flag' },
  json: { type: 'flag' },
  help: { type: 'flag' },
};

const endpoint = (address: string, port: number | null): string =>
  `${address.includes(':') ? `[${address}]` : address}:${port ?? '*'}`;

function requestJson(r: LiveResult): Record<string, unknown> {
  const q = r.request;
  const ms = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    type: 'request', listener: q.listener, id: q.id,
    caller: { address: q.caller.address, port: q.caller.port },
    source: r.source, atMs: ms(r.startedAtMs), recorded: q.verdict, then: q.then, now: r.now, differs: r.differs,
    connectMs: ms(r.client.connectMs), outcomeMs: ms(r.client.outcomeMs), bytesOut: r.client.bytesOut, bytesIn: r.client.bytesIn,
    ...(r.client.error !== undefined ? { error: r.client.error } : {}),
    ...(r.portChanged ? { portChanged: true } : {}),
  };
}

function requestLine(r: LiveResult): string {
  const q = r.request;
  const then = q.verdict === null ? 'unknown (no final state recorded)' : `${q.then} (${q.verdict})`;
  const now = `${r.now}${r.client.error ? ` (${r.client.error})` : ''}`;
  const mark = r.differs ? '  DIFFERS' : q.then === 'unknown' ? '' : '  same';
  return `#${q.id} ${endpoint(q.caller.address, q.caller.port)} as ${endpoint(r.source.address, r.source.port)} ` +
    `at +${r.startedAtMs.toFixed(1)} ms: then ${then}, now ${now}${mark}`;
}

function summaryLine(rep: LiveReplayReport, target: string, speed: number): string {
  const changes = Object.entries(rep.changes).map(([k, n]) => `${k.replace('->', ' → ')} ${n}`).join(', ');
  const stopped = rep.reason === 'done' ? '' : `; stopped (${rep.reason}): ${rep.requests - rep.replayed - rep.cancelled} not started, ${rep.cancelled} cancelled`;
  return `replayed ${rep.replayed} of ${rep.requests} requests against ${target} at speed ${speed}: ` +
    `${rep.same} same, ${rep.differ} differ${changes ? ` (${changes})` : ''}, ${rep.unknown} unknown${stopped}`;
}

export async function liveReplayCommand(argv: string[]): Promise<void> {
  let file: string;
  let host: string;
  let port: number;
  let o;
  try {
    const parsed = parseArgs(argv, SPEC, 1);
    o = parsed.options;
    if (o.help) {
      process.stdout.write(LIVE_REPLAY_USAGE + '\n');
      return;
    }
    if (parsed.positionals.length === 0) throw new UsageError('replay --live needs a SESSION file');
    file = parsed.positionals[0];
    if (o.target === undefined) throw new UsageError('replay --live needs --target HOST:PORT');
    ({ host, port } = parseHostPort(String(o.target), '--target'));
    if (port === 0) throw new UsageError('--target: port 0 cannot be connected to');
    // Callers are mapped into 127.0.0.0/8 (or ::1), which reaches loopback targets only.
    if (!isLoopback(host)) throw new UsageError(`--target must be a loopback address (127.x.x.x or [::1]), not ${host}`);
  } catch (e) {
    if (e instanceof UsageError) fail(`replay: ${e.message}`);
    throw e;
  }
  const speed = (o.speed as number | undefined) ?? 1;
  const json = o.json === true;
  const target = endpoint(host, port);

  let plan: LivePlan;
  try {
    plan = await loadLivePlan(file, { listener: o.listener as number | undefined });
  } catch (e) {
    if (e instanceof SessionFormatError || e instanceof LiveReplayError) fail(e.message);
    const err = e as NodeJS.ErrnoException;
    fail(`cannot read session file '${file}': ${err.code ?? err.message}`);
  }
  for (const w of plan.warnings) process.stderr.write(`accept-workbench: ${file}: ${w}\n`);
  if (plan.synData > 0) {
    process.stderr.write(`accept-workbench: replay: ${plan.synData} request(s) had caller data in a Fast Open SYN; ` +
      (process.platform === 'linux'
        ? 'they send it with Fast Open again (in the SYN once the kernel holds the listener\'s cookie, and where net.ipv4.tcp_fastopen allows)\n'
        : 'Fast Open needs Linux, so it is sent right after connect\n'));
  }
  if (plan.lateData > 0) {
    process.stderr.write(`accept-workbench: replay: ${plan.lateData} accepted caller(s) sent bytes after the condition ` +
      'function last looked; those bytes are not in the recording and are not replayed\n');
  }

  const out = new LineWriter();
  const stopped = abortOnSignals();

  // Results arrive as clients finish; print them in the recording's order, each as soon as
  // every earlier one is out (a cancelled request leaves a gap that the end flushes past).
  const waiting = new Map<number, LiveResult>();
  let nextOut = 0;
  const print = (r: LiveResult): void => (json ? out.json(requestJson(r)) : out.line(requestLine(r)));
  const report = await runLiveReplay(plan, {
    host, port, speed, timeoutMs: (o['timeout-ms'] as number | undefined) ?? 5000,
    keepPorts: o['any-port'] !== true, signal: stopped,
    onResult: (r) => {
      waiting.set(r.index, r);
      for (let x = waiting.get(nextOut); x; x = waiting.get(nextOut)) { waiting.delete(nextOut++); print(x); }
    },
  });
  for (const r of [...waiting.values()].sort((a, b) => a.index - b.index)) print(r);
  if (report.portChanged > 0) {
    process.stderr.write(`accept-workbench: replay: ${report.portChanged} caller(s) could not get their recorded port; the kernel picked one\n`);
  }
  if (json) out.json({ type: 'summary', target, speed, ...report });
  else out.line(summaryLine(report, target, speed));
  out.end(() => process.exit(report.differ > 0 ? 1 : 0));
}
