// `accept-workbench replay SESSION --script FILE`: what-if replay of a recorded session against a
// new condition script, offline. The rules are in docs/replay.md and electron/host/replay/whatif.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { replaySessionFile, type ReplayOutcome, type ReplayScriptError, type RequestResult, type WhatIfSummary } from '../host/replay/whatif';
import { loadSandbox, ScriptCompileError } from '../host/script/sandbox';
import { SessionFormatError } from '../host/session/reader';
import { parseArgs, UsageError, type OptionSpec } from './args';
import { LineWriter, fail, abortOnSignals } from './output';

export const REPLAY_USAGE = `usage: accept-workbench replay SESSION --script FILE [--json] [--progress]
  runs FILE's condition function over every request recorded in SESSION (offline, no sockets)
  and lists the requests whose final verdict changes. Exit 0: none changed, 1: some changed,
  2: bad arguments, session file or script, 130: interrupted.`;

const SPEC: Record<string, OptionSpec> = {
  script: { type: 'string' },
  json: { type: 'flag' },
  progress: { type: 'flag' },
  help: { type: 'flag' },
};

/**
 * Progress on stderr for long runs, at most every 500 ms: only when stderr is a terminal (then
 * one line rewritten in place) or when asked for (then one line each), so pipes and tests stay clean.
 */
export class ProgressReporter {
  readonly enabled: boolean;
  private readonly tty: boolean;
  private last = 0;
  private shown = false;

  constructor(private readonly label: string, forced: boolean) {
    this.tty = process.stderr.isTTY === true;
    this.enabled = forced || this.tty;
    this.last = performance.now();
  }

  /**
   * `lines` null: the caller does not count lines; megabytes are shown instead. `before` runs just
   * before a report is written (after the previous one is erased): flush stdout there, so that its
   * lines do not end up behind the progress text on a terminal.
   */
  update(lines: number | null, bytesRead: number, totalBytes: number, before?: () => void): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 500) return;
    this.last = now;
    this.clear();
    before?.();
    const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
    const pct = totalBytes > 0 ? Math.floor((bytesRead / totalBytes) * 100) : 0;
    let detail: string;
    if (lines === null) {
      detail = `${fmt(bytesRead / 1e6)} of ${fmt(totalBytes / 1e6)} MB`;
    } else {
      // Total lines estimated from the mean line length so far.
      const total = bytesRead > 0 && totalBytes > bytesRead ? `~${fmt((lines * totalBytes) / bytesRead)}` : fmt(lines);
      detail = `${fmt(lines)} of ${total} lines`;
    }
    const text = `${this.label}: ${pct}% (${detail})`;
    if (this.tty) {
      process.stderr.write(`\r${text}\x1b[K`);
      this.shown = true;
    } else {
      process.stderr.write(`${text}\n`);
    }
  }

  /** Removes the in-place line before other output. */
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

function outcome(o: ReplayOutcome): string {
  return `${o.verdict} (${o.by})`;
}

function changedLine(r: RequestResult, multiListener: boolean): string {
  const who = `${multiListener ? `listener ${r.listener} ` : ''}#${r.id} ${formatEndpoint(r.caller)}`;
  return `${who} recorded ${outcome(r.recorded!)} → now ${outcome(r.now)}`;
}

function formatEndpoint(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function summaryLine(s: WhatIfSummary): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const unfinished = s.unfinished ? `, ${n(s.unfinished)} not decided in the recording` : '';
  const head = s.aborted ? 'replay interrupted after' : 'replay:';
  return `${head} ${n(s.requests)} requests: ${n(s.same)} same, ${n(s.changed)} changed${unfinished}; ` +
    `${n(s.errors)} script error${s.errors === 1 ? '' : 's'}; ${n(s.offers)} offers ` +
    `(${n(s.syntheticOffers)} beyond the recorded ones); ${(s.elapsedMs / 1000).toFixed(2)} s, ${n(s.requestsPerSecond)} requests/s`;
}

export async function replayCommand(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(argv, SPEC, 1);
    if (parsed.options.help) {
      process.stdout.write(REPLAY_USAGE + '\n');
      return;
    }
    if (parsed.positionals.length === 0) throw new UsageError('replay needs a SESSION file');
    if (parsed.options.script === undefined) throw new UsageError('replay needs --script FILE');
  } catch (e) {
    if (e instanceof UsageError) fail(`replay: ${e.message} (see accept-workbench replay --help)`);
    throw e;
  }
  const o = parsed.options;
  const sessionFile = parsed.positionals[0]!;
  const scriptFile = String(o.script);
  const json = o.json === true;

  let source = '';
  try {
    source = fs.readFileSync(scriptFile, 'utf8');
  } catch (e) {
    fail(`cannot read script '${scriptFile}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    if (!fs.statSync(sessionFile).isFile()) fail(`cannot read session file '${sessionFile}': not a file`);
  } catch (e) {
    fail(`cannot read session file '${sessionFile}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }

  const sandbox = await loadSandbox();
  let script;
  try {
    script = sandbox.compile(source, path.basename(scriptFile));
  } catch (e) {
    if (e instanceof ScriptCompileError) fail(`${scriptFile}:${e.line}:${e.column}: ${e.message}`);
    throw e;
  }

  const out = new LineWriter();
  const progress = new ProgressReporter('replay', o.progress === true);
  const stopped = abortOnSignals();

  // Human output names the listener only when the session has more than one.
  const listeners = new Set<number>();
  const onResult = (r: RequestResult): void => {
    if (!r.changed) return;
    if (json) {
      out.json({ type: 'changed', listener: r.listener, id: r.id, caller: r.caller, recorded: r.recorded, now: r.now });
    } else {
      out.line(changedLine(r, listeners.size > 1));
    }
  };
  const onError = (e: ReplayScriptError): void => {
    const pos = e.line !== undefined ? { line: e.line, column: e.column } : {};
    if (json) {
      out.json({ type: 'error', listener: e.listener, id: e.id, attempt: e.attempt, code: e.code, message: e.message, ...pos });
    } else {
      const where = e.line !== undefined ? `${scriptFile}:${e.line}:${e.column ?? 1}: ` : '';
      const who = `${listeners.size > 1 ? `listener ${e.listener} ` : ''}#${e.id}`;
      out.line(`error ${who} (offer ${e.attempt}): ${where}${e.code}: ${e.message}`);
    }
  };

  let summary: WhatIfSummary;
  try {
    const r = await replaySessionFile(sessionFile, script, {
      signal: stopped,
      onResult,
      onError,
      onListener: (l) => listeners.add(l.id),
      onProgress: progress.enabled ? (p) => progress.update(p.lines, p.bytesRead ?? 0, p.totalBytes ?? 0, () => out.flush()) : undefined,
      name: path.basename(sessionFile),
    });
    summary = r.summary;
  } catch (e) {
    progress.clear();
    const code = (e as NodeJS.ErrnoException).code;
    const message = e instanceof SessionFormatError ? e.message
      : code ? `cannot read session file '${sessionFile}': ${code}` : null;
    if (message === null) throw e;
    // What was printed for the requests before the bad line goes out first.
    return new Promise<void>(() => out.end(() => fail(message)));
  } finally {
    script.dispose();
  }
  progress.clear();
  for (const w of summary.warnings) process.stderr.write(`accept-workbench: warning: ${path.basename(sessionFile)}: ${w}\n`);

  if (json) {
    out.json({
      type: 'summary',
      requests: summary.requests,
      same: summary.same,
      changed: summary.changed,
      unfinished: summary.unfinished,
      errors: summary.errors,
      offers: summary.offers,
      syntheticOffers: summary.syntheticOffers,
      elapsedMs: summary.elapsedMs,
      requestsPerSecond: summary.requestsPerSecond,
      ...(summary.aborted ? { aborted: true } : {}),
    });
  } else {
    out.line(summaryLine(summary));
  }
  const code = summary.aborted ? 130 : summary.changed > 0 ? 1 : 0;
  out.end(() => process.exit(code));
}
