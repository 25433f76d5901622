// Session reader: loads and checks a session file (format v1, see docs/session-format.md).
//
// The checks of each line are in ./validate.ts (they mirror docs/session.schema.json). Problems
// are reported as one-line SessionFormatErrors naming the line and the field.
// streamSessionRecords reads the records of some types faster, as flat values matched against
// the shapes of earlier lines (./shapes.ts); the result and the errors are the same.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { EndEvent, SessionEvent, SessionHeader } from './events';
import { LineShapes, type RecordLayout } from './shapes';
import { checkHeaderLine, isPlainObject, validateSessionLine } from './validate';

export { validateSessionLine, type LineProblem } from './validate';
export type { RecordLayout } from './shapes';

export class SessionFormatError extends Error {
  override readonly name = 'SessionFormatError';
  /** File name as shown in the message. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** Field path within the line, e.g. "verdict" or "caller.port"; absent for whole-line problems. */
  readonly field?: string;
  /** The message without the "file:line: " prefix. */
  readonly detail: string;

  constructor(file: string, line: number, detail: string, field?: string) {
    super(`${file}:${line}: ${field !== undefined ? `field "${field}": ` : ''}${detail}`);
    this.file = file;
    this.line = line;
    this.field = field;
    this.detail = detail;
  }
}

export interface Session {
  header: SessionHeader;
  /** Every record after the header, in file order (the `end` record included). */
  events: SessionEvent[];
  /** One-line warnings, e.g. "line 42 is cut short (file truncated?); ignored". */
  warnings: string[];
  /** The `end` record, or null when the recording stopped without closing. */
  end: EndEvent | null;
}

export interface ReadSessionOptions {
  /** Name used in messages; default: the file's base name. */
  name?: string;
  /** Called after each chunk is read. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Stops the reading between chunks: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Read size in bytes; default 1 MiB. */
  chunkSize?: number;
}

export interface StreamSessionOptions extends ReadSessionOptions {
  onHeader?: (header: SessionHeader) => void;
  /** Called for each record after the header, in order, with its 1-based line number. */
  onEvent: (event: SessionEvent, line: number) => void;
}

export interface StreamSessionResult {
  header: SessionHeader;
  warnings: string[];
  end: EndEvent | null;
  /** Records passed to onEvent (streamSessionRecords: and to onRecord). */
  count: number;
  /** streamSessionRecords: records read by matching a learned line shape (the rest were parsed). */
  shaped: number;
}

/** Loads a whole session file into memory. Rejects with SessionFormatError on a malformed file. */
export async function readSession(path: string, opts: ReadSessionOptions = {}): Promise<Session> {
  const events: SessionEvent[] = [];
  const r = await streamSession(path, { ...opts, onEvent: (e) => { events.push(e); } });
  return { header: r.header, events, warnings: r.warnings, end: r.end };
}

/** Synchronous readSession (for tools and tests; the host should prefer the async forms). */
export function readSessionSync(path: string, opts: { name?: string } = {}): Session {
  return parseSession(fs.readFileSync(path, 'utf8'), { name: opts.name ?? nodePath.basename(path) });
}

/** Parses the text of a session file. */
export function parseSession(text: string, opts: { name?: string } = {}): Session {
  const events: SessionEvent[] = [];
  const p = new LineParser(opts.name ?? 'session', (e) => { events.push(e); });
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break;
    p.line(text.slice(pos, nl), true);
    pos = nl + 1;
  }
  if (pos < text.length) p.line(text.slice(pos), false);
  const header = p.finish();
  return { header, events, warnings: p.warnings, end: p.end };
}

/**
 * Reads a session file in chunks, calling onEvent per record, so large files never sit in memory
 * whole. Rejects with SessionFormatError at the first malformed line (records before it have been
 * delivered); file system errors reject as they are.
 */
export async function streamSession(path: string, opts: StreamSessionOptions): Promise<StreamSessionResult> {
  const name = opts.name ?? nodePath.basename(path);
  let count = 0;
  const p = new LineParser(name, (e, line) => { count++; opts.onEvent(e, line); }, opts.onHeader);
  return readLines(path, p, opts, () => count);
}

export interface StreamRecordsOptions extends StreamSessionOptions {
  /** The record types delivered as values (to onRecord) instead of event objects (to onEvent). */
  layouts: readonly RecordLayout[];
  /**
   * A record of one of the layouts' types, with its 1-based line number: `values` holds the
   * layout's fields in order, then its text if it has one. The array is reused: copy what you keep.
   */
  onRecord: (layout: number, values: readonly unknown[], line: number) => void;
  /**
   * Match lines against the shapes of earlier ones instead of parsing them (default true; false
   * parses and checks every line in full, for comparison). The results are the same.
   */
  shapes?: boolean;
  /** The text of a layout's `text` value when a line is parsed in full; default JSON.stringify. */
  serialize?: (value: unknown) => string;
}

/**
 * streamSession for readers that want the values of a few fields of the frequent records
 * (offers, decisions) rather than whole objects: those records go to onRecord, the others to
 * onEvent. Same checks, same errors, same order; counts both in `count`.
 */
export async function streamSessionRecords(path: string, opts: StreamRecordsOptions): Promise<StreamSessionResult> {
  const name = opts.name ?? nodePath.basename(path);
  let count = 0;
  const p = new LineParser(name, (e, line) => { count++; opts.onEvent(e, line); }, opts.onHeader, {
    layouts: opts.layouts,
    onRecord: (layout, values, line) => { count++; opts.onRecord(layout, values, line); },
    shapes: opts.shapes ?? true,
    serialize: opts.serialize ?? JSON.stringify,
  });
  return readLines(path, p, opts, () => count);
}

async function readLines(path: string, p: LineParser, opts: ReadSessionOptions, count: () => number): Promise<StreamSessionResult> {
  const fh = await fs.promises.open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const buf = Buffer.allocUnsafe(Math.max(4096, opts.chunkSize ?? (1 << 20)));
    let carry: Buffer | null = null;
    let bytesRead = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      const { bytesRead: n } = await fh.read(buf, 0, buf.length, null);
      if (n === 0) break;
      bytesRead += n;
      // Splitting bytes at 0x0A is safe for UTF-8: it never occurs inside a multi-byte sequence.
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0 || nl >= n) break;
        if (carry) {
          p.line(Buffer.concat([carry, buf.subarray(start, nl)]).toString('utf8'), true);
          carry = null;
        } else {
          p.line(buf.toString('utf8', start, nl), true);
        }
        start = nl + 1;
      }
      if (start < n) {
        const rest = Buffer.from(buf.subarray(start, n)); // copy: buf is reused
        carry = carry ? Buffer.concat([carry, rest]) : rest;
      }
      opts.onProgress?.(bytesRead, Math.max(total, bytesRead));
    }
    if (carry) p.line(carry.toString('utf8'), false);
  } finally {
    await fh.close();
  }
  const header = p.finish();
  return { header, warnings: p.warnings, end: p.end, count: count(), shaped: p.shaped };
}

// ---------------------------------------------------------------------------------------------
// Line by line parsing

class LineParser {
  header: SessionHeader | null = null;
  end: EndEvent | null = null;
  readonly warnings: string[] = [];
  private lineNo = 0;
  private endLine = 0;

  private readonly shapes: LineShapes | null;
  private readonly paths: string[][][] = [];
  private readonly textPaths: (string[] | null)[] = [];
  private readonly values: unknown[][] = [];
  /** Records read by matching a shape. */
  shaped = 0;

  constructor(
    private readonly name: string,
    private readonly onEvent: (e: SessionEvent, line: number) => void,
    private readonly onHeader?: (h: SessionHeader) => void,
    private readonly records?: {
      layouts: readonly RecordLayout[];
      onRecord: (layout: number, values: readonly unknown[], line: number) => void;
      shapes: boolean;
      serialize: (value: unknown) => string;
    },
  ) {
    this.shapes = records ? new LineShapes(records.layouts) : null;
    for (const l of records?.layouts ?? []) {
      this.paths.push(l.fields.map((f) => f.split('.')));
      this.textPaths.push(l.text !== undefined ? l.text.split('.') : null);
      this.values.push(new Array<unknown>(l.fields.length + (l.text !== undefined ? 1 : 0)).fill(undefined));
    }
  }

  /** `terminated`: the line ended with a newline (false only for the file's last line). */
  line(raw: string, terminated: boolean): void {
    const n = ++this.lineNo;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') {
      if (n === 1) throw this.error(n, 'empty line; expected the session header');
      return; // blank lines between records carry nothing
    }
    const shapes = this.shapes;
    if (shapes !== null && n !== 1 && this.records!.shapes) {
      const layout = shapes.match(text);
      if (layout >= 0) {
        // A valid record (see ./shapes.ts); only where it is in the file is left to check.
        if (this.end) throw this.error(n, `a record after the end record (line ${this.endLine})`);
        this.shaped++;
        this.records!.onRecord(layout, shapes.values[layout]!, n);
        return;
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (!terminated) {
        if (n === 1) throw this.error(n, 'line 1 is cut short (file truncated?); there is no complete session header');
        this.warnings.push(`line ${n} is cut short (file truncated?); ignored`);
        return;
      }
      const why = err instanceof Error ? err.message.replace(/\s+/g, ' ') : String(err);
      throw this.error(n, `not valid JSON (${why.length > 100 ? `${why.slice(0, 100)}...` : why})`);
    }
    if (!isPlainObject(value)) throw this.error(n, 'not a JSON object');

    if (n === 1) {
      const problem = checkHeaderLine(value);
      if (problem) throw this.error(n, problem.message, problem.field);
      this.header = value as unknown as SessionHeader;
      this.onHeader?.(this.header);
      return;
    }
    if (value.type === 'session') {
      throw this.error(n, 'a second session header (only line 1 may be one)', 'type');
    }
    const problem = validateSessionLine(value);
    if (problem) throw this.error(n, problem.message, problem.field);
    if (this.end) throw this.error(n, `a record after the end record (line ${this.endLine})`);
    const event = value as unknown as SessionEvent;
    if (event.type === 'end') { this.end = event; this.endLine = n; }
    const layout = shapes !== null ? shapes.layoutOf(event.type) : -1;
    if (layout < 0) {
      this.onEvent(event, n);
      return;
    }
    const records = this.records!;
    if (records.shapes) shapes!.learn(text, value, layout);
    // The same values a match would give.
    const values = this.values[layout]!;
    const paths = this.paths[layout]!;
    for (let i = 0; i < paths.length; i++) values[i] = valueAt(value, paths[i]!);
    const textPath = this.textPaths[layout];
    if (textPath) {
      const v = valueAt(value, textPath);
      values[paths.length] = v === null || v === undefined ? null : records.serialize(v);
    }
    records.onRecord(layout, values, n);
  }

  finish(): SessionHeader {
    if (!this.header) throw this.error(1, 'the file is empty; expected the session header');
    return this.header;
  }

  private error(line: number, message: string, field?: string): SessionFormatError {
    return new SessionFormatError(this.name, line, message, field);
  }
}

function valueAt(value: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = value;
  for (const key of path) v = isPlainObject(v) && Object.hasOwn(v, key) ? v[key] : undefined;
  return v;
}
