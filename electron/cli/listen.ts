// `accept-workbench listen`: one listener, headless, on real sockets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkbenchListener, DEFAULT_LISTENER_OPTIONS, type FinalDecision, type ListenerSummary } from '../host/listener';
import { loadSandbox, ScriptCompileError } from '../host/script/sandbox';
import { SessionRecorder } from '../host/session/recorder';
import { parseArgs, parseHostPort, UsageError, type OptionSpec } from './args';
import { LineWriter, fail } from './output';
import { APP_VERSION } from './version';
import type { Verdict } from '../host/types';

export const LISTEN_USAGE = `usage: accept-workbench listen --bind HOST:PORT [--backlog N] [--script FILE]
  [--discipline winsock|held] [--handler echo|hold|close|discard] [--fallback accept|reject|defer]
  [--budget-ms N] [--defer-timeout-ms N] [--reoffer-ms N] [--defer-accept-s N] [--fast-open]
  [--conditional-accept] [--record FILE] [--duration S] [--json]`;

const SPEC: Record<string, OptionSpec> = {
  bind: { type: 'string' },
  backlog: { type: 'int', min: 1, max: 65535 },
  script: { type: 'string' },
  discipline: { type: 'string', choices: ['winsock', 'held'] },
  handler: { type: 'string', choices: ['echo', 'hold', 'close', 'discard'] },
  fallback: { type: 'string', choices: ['accept', 'reject', 'defer'] },
  'budget-ms': { type: 'int', min: 1, max: 60_000 },
  'defer-timeout-ms': { type: 'int', min: 1, max: 86_400_000 },
  'reoffer-ms': { type: 'int', min: 0, max: 60_000 },
  'defer-accept-s': { type: 'int', min: 0, max: 3600 },
  'fast-open': { type: 'flag' },
  'conditional-accept': { type: 'flag' },
  record: { type: 'string' },
  duration: { type: 'number', min: 0 },
  json: { type: 'flag' },
  help: { type: 'flag' },
};

function describe(d: FinalDecision): string {
  const offers = `${d.attempts} offer${d.attempts === 1 ? '' : 's'}`;
  const note = d.verdict === 'accept' ? '' : ` (${d.result})`;
  return `#${d.id} ${d.caller.address}:${d.caller.port} ${d.verdict}${note} after ${offers}, ${d.latencyUs} µs, by ${d.by}`;
}

function summaryLine(s: ListenerSummary): string {
  const c = s.counts;
  const rt = s.roundTripUs.p50 === null ? '' : `; condition round trip p50 ${s.roundTripUs.p50.toFixed(1)} µs, p99 ${s.roundTripUs.p99?.toFixed(1)} µs`;
  return `summary: ${s.total} requests: ${c.accept} accepted, ${c.reject} rejected, ${c.expire} expired, ` +
    `${c.withdraw} withdrawn, ${c.error} errors; ${s.offers} offers${rt}`;
}

export async function listenCommand(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(argv, SPEC);
    if (parsed.options.help) {
      process.stdout.write(LISTEN_USAGE + '\n');
      return;
    }
    if (parsed.options.bind === undefined) throw new UsageError('listen needs --bind HOST:PORT');
  } catch (e) {
    if (e instanceof UsageError) fail(`listen: ${e.message} (see accept-workbench listen --help)`);
    throw e;
  }
  const o = parsed.options;
  let bind;
  try {
    bind = parseHostPort(String(o.bind), '--bind');
  } catch (e) {
    fail(`listen: ${(e as Error).message}`);
  }
  const json = o.json === true;
  const out = new LineWriter();

  const sandbox = await loadSandbox();
  let scriptSource: string | undefined;
  const scriptFile = o.script === undefined ? undefined : String(o.script);
  if (scriptFile !== undefined) {
    try {
      scriptSource = fs.readFileSync(scriptFile, 'utf8');
    } catch (e) {
      fail(`cannot read script '${scriptFile}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  const listener = new WorkbenchListener(1, {
    address: bind.host,
    port: bind.port,
    backlog: (o.backlog as number | undefined) ?? DEFAULT_LISTENER_OPTIONS.backlog,
    discipline: (o.discipline as 'winsock' | 'held' | undefined) ?? 'winsock',
    handler: (o.handler as 'echo' | 'hold' | 'close' | 'discard' | undefined) ?? 'echo',
    fallback: (o.fallback as Verdict | undefined) ?? 'reject',
    budgetMs: (o['budget-ms'] as number | undefined) ?? DEFAULT_LISTENER_OPTIONS.budgetMs,
    deferTimeoutMs: (o['defer-timeout-ms'] as number | undefined) ?? DEFAULT_LISTENER_OPTIONS.deferTimeoutMs,
    reofferMs: (o['reoffer-ms'] as number | undefined) ?? DEFAULT_LISTENER_OPTIONS.reofferMs,
    deferAcceptS: (o['defer-accept-s'] as number | undefined) ?? 0,
    fastOpen: o['fast-open'] === true,
    ...(o['conditional-accept'] === true ? { conditionalAccept: true } : {}),
  }, sandbox, null);

  if (scriptSource !== undefined && scriptFile !== undefined) {
    try {
      listener.setScript(scriptSource, path.basename(scriptFile));
    } catch (e) {
      if (e instanceof ScriptCompileError) fail(`${scriptFile}:${e.line}:${e.column}: ${e.message}`);
      throw e;
    }
  }

  let recorder: SessionRecorder | null = null;
  if (o.record !== undefined) {
    try {
      recorder = SessionRecorder.open(String(o.record), { appVersion: APP_VERSION, backend: listener.backend });
    } catch (e) {
      fail(`cannot write session file '${String(o.record)}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    recorder.onError = (err) => process.stderr.write(`accept-workbench: recording stopped: ${err.message}\n`);
    listener.attachRecorder(recorder);
  }

  listener.on('decision', (d: FinalDecision) => {
    if (json) out.json({ type: 'decision', id: d.id, caller: d.caller, verdict: d.verdict, attempts: d.attempts, latencyUs: d.latencyUs, by: d.by, result: d.result });
    else out.line(describe(d));
  });
  listener.on('log', (l: { id: number; message: string }) => {
    if (json) out.json({ type: 'log', id: l.id, message: l.message });
    else out.line(`log #${l.id}: ${l.message}`);
  });
  listener.on('script-error', (e: { id: number; code: string; message: string; line?: number; column?: number }) => {
    const where = e.line !== undefined ? `${scriptFile ?? 'script'}:${e.line}:${e.column ?? 0}: ` : '';
    if (json) out.json({ type: 'error', id: e.id, code: e.code, message: e.message, ...(e.line !== undefined ? { line: e.line, column: e.column } : {}) });
    else out.line(`error #${e.id}: ${where}${e.code}: ${e.message}`);
  });
  listener.on('accept-error', (e: { code: string; message: string }) => {
    if (json) out.json({ type: 'error', code: e.code, message: e.message });
    else out.line(`error: ${e.code}: ${e.message}`);
  });

  try {
    listener.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    recorder?.close({ reason: 'listen failed' });
    const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.message;
    fail(`cannot listen on ${bind.host}:${bind.port}: ${why}`);
  }

  if (json) out.json({ type: 'listening', address: listener.address, port: listener.port, discipline: listener.options.discipline, backend: listener.backend });
  else out.line(`listening on ${listener.address}:${listener.port} (${listener.options.discipline} discipline, ${listener.backend} backend${scriptFile ? `, script ${scriptFile}` : ', accepting every request'})`);
  out.flush();

  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    if (timer) clearTimeout(timer);
    const summary = listener.stop();
    recorder?.close({ reason, counts: summary.counts, offers: summary.offers });
    if (json) {
      out.json({ type: 'summary', ...summary.counts, total: summary.total, offers: summary.offers, roundTripUs: summary.roundTripUs, reason });
    } else {
      out.line(summaryLine(summary));
    }
    out.end(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (o.duration !== undefined) timer = setTimeout(() => stop('duration'), (o.duration as number) * 1000);
}
