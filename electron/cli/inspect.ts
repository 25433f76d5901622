// `accept-workbench inspect SESSION [--csv FILE] [--json]`: what a recorded session holds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summariseSessionFile, type RequestRow, type SessionSummary } from '../host/replay/summary';
import { SessionFormatError } from '../host/session/reader';
import { parseArgs, UsageError, type OptionSpec } from './args';
import { fail } from './output';
import { ProgressReporter } from './replay';

export const INSPECT_USAGE = `usage: accept-workbench inspect SESSION [--csv FILE] [--json] [--progress]
  summarises a recorded session: listeners, scripts, verdicts, latency, deferrals, errors,
  handler totals; --csv FILE also writes one row per request. Exit 2 on a bad file.`;

const SPEC: Record<string, OptionSpec> = {
  csv: { type: 'string' },
  json: { type: 'flag' },
  progress: { type: 'flag' },
  help: { type: 'flag' },
};

const CSV_COLUMNS = [
  'listener', 'id', 'caller_address', 'caller_port', 'arrival_ms', 'final_ms', 'verdict', 'by', 'attempts',
  'latency_us', 'caller_data_bytes', 'caller_data_source', 'result',
] as const;

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(r: RequestRow): string {
  return [
    r.listener, r.id, r.callerAddress, r.callerPort, r.arrivalMs, r.finalMs, r.verdict, r.by, r.attempts,
    r.latencyUs, r.callerDataBytes, r.callerDataSource, r.result,
  ].map(csvField).join(',');
}

class CsvWriteError extends Error {}

/** Buffered synchronous file writer: rows arrive synchronously from the reader. */
class CsvFile {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly fd: number) {}

  row(text: string): void {
    this.parts.push(text, '\r\n');
    this.size += text.length + 2;
    if (this.size > 1 << 20) this.flush();
  }

  flush(): void {
    try {
      if (this.parts.length) fs.writeSync(this.fd, this.parts.join(''));
    } catch (e) {
      throw new CsvWriteError((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
    this.parts = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}

function us(v: number | null): string {
  return v === null ? 'n/a' : `${Math.round(v).toLocaleString('en-US')} µs`;
}

function humanReport(file: string, s: SessionSummary): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines: string[] = [];
  const h = s.header;
  lines.push(`session ${file}: started ${h.startTime} on ${h.platform}/${h.arch} (${h.backend} backend, workbench ${h.appVersion}), ` +
    `${(s.durationMs / 1000).toFixed(3)} s, ${s.complete ? `closed (${s.endReason})` : 'not closed (no end record)'}`);
  lines.push(`listeners: ${s.listeners.length}`);
  for (const l of s.listeners) {
    const addr = l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
    lines.push(`  ${l.id}: ${addr} ${l.discipline} discipline, handler ${l.handler}, fallback ${l.fallback}, ` +
      `budget ${l.budgetMs} ms, defer timeout ${l.deferTimeoutMs} ms, re-offer ${l.reofferMs} ms`);
  }
  lines.push(`scripts: ${s.scripts.length}`);
  for (const sc of s.scripts) lines.push(`  listener ${sc.listener} version ${sc.version}: ${sc.filename} (sha256 ${sc.hash}…)`);
  const v = s.verdicts;
  lines.push(`requests: ${n(s.requests)} (${n(s.offers)} offers${s.unfinished ? `, ${n(s.unfinished)} never decided` : ''})`);
  lines.push(`  verdicts: ${n(v.accept)} accept, ${n(v.reject)} reject, ${n(v.expire)} expire, ${n(v.withdraw)} withdraw, ${n(v.error)} error`);
  const d = s.deciders;
  lines.push(`  decided by: ${n(d.script)} script, ${n(d.fallback)} fallback, ${n(d.person)} person, ${n(d.default)} default, ${n(d.system)} system`);
  const lat = s.latencyUs;
  lines.push(`latency: p50 ${us(lat.p50)}, p90 ${us(lat.p90)}, p99 ${us(lat.p99)}, max ${us(lat.max)}`);
  const df = s.defers;
  lines.push(`defers: ${df.meanAttempts === null ? 'n/a' : df.meanAttempts.toFixed(2)} offers per request on average, at most ${n(df.maxAttempts)}; ` +
    `${n(df.deferredRequests)} requests deferred at least once (${df.deferredShare === null ? 'n/a' : `${(df.deferredShare * 100).toFixed(1)}%`})`);
  const codes = Object.entries(s.errors.byCode).map(([c, k]) => `${c} ${n(k)}`).join(', ');
  lines.push(`errors: ${n(s.errors.total)}${codes ? ` (${codes})` : ''}`);
  const hd = s.handlers;
  lines.push(`handlers: ${n(hd.connections)} connections ended, ${n(hd.bytesIn)} bytes in, ${n(hd.bytesOut)} bytes out, ` +
    `${n(hd.resets)} resets, ${n(hd.closes)} closed by the peer, ${n(hd.localCloses)} closed by the workbench`);
  return lines.join('\n');
}

export async function inspectCommand(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(argv, SPEC, 1);
    if (parsed.options.help) {
      process.stdout.write(INSPECT_USAGE + '\n');
      return;
    }
    if (parsed.positionals.length === 0) throw new UsageError('inspect needs a SESSION file');
  } catch (e) {
    if (e instanceof UsageError) fail(`inspect: ${e.message} (see accept-workbench inspect --help)`);
    throw e;
  }
  const o = parsed.options;
  const sessionFile = parsed.positionals[0]!;
  const name = path.basename(sessionFile);
  try {
    if (!fs.statSync(sessionFile).isFile()) fail(`cannot read session file '${sessionFile}': not a file`);
  } catch (e) {
    fail(`cannot read session file '${sessionFile}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }

  let csv: CsvFile | null = null;
  const csvFile = o.csv === undefined ? null : String(o.csv);
  if (csvFile !== null) {
    try {
      csv = new CsvFile(fs.openSync(csvFile, 'w'));
    } catch (e) {
      fail(`cannot write CSV file '${csvFile}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    csv.row(CSV_COLUMNS.join(','));
  }

  const progress = new ProgressReporter('inspect', o.progress === true);
  let summary: SessionSummary;
  try {
    summary = await summariseSessionFile(sessionFile, {
      name,
      onRequest: csv ? (r) => csv.row(csvRow(r)) : undefined,
      onProgress: progress.enabled ? (read, total) => progress.update(null, read, total) : undefined,
    });
    csv?.close();
  } catch (e) {
    progress.clear();
    if (csv && csvFile) {
      // A half-written CSV of a bad file would look like a complete one.
      try { csv.close(); fs.unlinkSync(csvFile); } catch { /* already reported below */ }
    }
    if (e instanceof SessionFormatError) fail(e.message);
    if (e instanceof CsvWriteError) fail(`cannot write CSV file '${csvFile}': ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) fail(`cannot read session file '${sessionFile}': ${code}`);
    throw e;
  }
  progress.clear();
  for (const w of summary.warnings) process.stderr.write(`accept-workbench: warning: ${name}: ${w}\n`);
  const text = o.json === true ? JSON.stringify({ type: 'inspect', file: name, ...summary }) : humanReport(name, summary);
  process.stdout.write(text + '\n', () => process.exit(0));
}
