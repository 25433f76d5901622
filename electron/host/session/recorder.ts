// Session recorder: writes a session file (format v1, see docs/session-format.md) as JSON Lines.
//
// Lines are written with fs.writeSync, but the lines produced within one event-loop turn are joined
// into one write (flushed on setImmediate), so a burst of thousands of events costs a few system
// calls, not thousands. A crash loses at most the current turn; a normal exit flushes synchronously.
// Write errors never throw into the caller (it is usually on the accept path): the first one is
// kept in `error`, reported once to `onError`, and recording stops there, so the file ends with at
// most one cut-short line, which the reader loads with a warning.
import * as fs from 'node:fs';
import { SESSION_FORMAT, SESSION_VERSION } from './events';
import type { EndEvent, SessionEvent, SessionHeader, VerdictCounts } from './events';

/** An event as given to record(): `t` is optional, the recorder stamps it when absent. */
export type SessionEventInput = WithOptionalT<Exclude<SessionEvent, EndEvent>>;
type WithOptionalT<E> = E extends unknown ? Omit<E, 't'> & { t?: number } : never;

export interface SessionRecorderOptions {
  appVersion: string;
  backend: SessionHeader['backend'];
  /** Called once, with the first write error. */
  onError?: (err: Error) => void;
  /** Pending bytes (UTF-16 units) in one turn above which record() flushes at once. Default 1 MiB. */
  maxPendingBytes?: number;
  /** Refuse a file that exists (EEXIST) instead of truncating it. Default false. */
  exclusive?: boolean;
}

/** Fields of the `end` record; counts and offers default to the recorder's own tallies. */
export interface SessionEndInput {
  reason?: string;
  counts?: VerdictCounts;
  offers?: number;
  t?: number;
}

const DEFAULT_MAX_PENDING = 1 << 20;

// One 'exit' listener for all open recorders (one per recorder would trip MaxListenersExceeded).
const openRecorders = new Set<SessionRecorder>();
let exitHookInstalled = false;
function flushAllOnExit(): void {
  for (const r of openRecorders) r.flush();
}

export class SessionRecorder {
  readonly path: string;
  readonly header: SessionHeader;
  onError: ((err: Error) => void) | undefined;

  private fd: number;
  private readonly start: bigint;
  private readonly maxPending: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private immediate: NodeJS.Immediate | null = null;
  private closedFlag = false;
  private firstError: Error | null = null;
  private droppedCount = 0;
  private offerCount = 0;
  private readonly tally: VerdictCounts = { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };

  private constructor(path: string, fd: number, header: SessionHeader, start: bigint, opts: SessionRecorderOptions) {
    this.path = path;
    this.fd = fd;
    this.header = header;
    this.start = start;
    this.onError = opts.onError;
    this.maxPending = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING;
  }

  /**
   * Creates (or truncates, unless `exclusive`) `path` and writes the header line at once. Throws if
   * the file cannot be opened or the header cannot be written: that happens at setup, not on the
   * accept path.
   */
  static open(path: string, opts: SessionRecorderOptions): SessionRecorder {
    const fd = fs.openSync(path, opts.exclusive ? 'wx' : 'w');
    const start = process.hrtime.bigint();
    const header: SessionHeader = {
      type: 'session',
      format: SESSION_FORMAT,
      version: SESSION_VERSION,
      t: 0,
      startTime: new Date().toISOString(),
      platform: process.platform,
      arch: process.arch,
      backend: opts.backend,
      appVersion: opts.appVersion,
      nodeVersion: process.versions.node,
    };
    try {
      writeAll(fd, Buffer.from(JSON.stringify(header) + '\n', 'utf8'));
    } catch (err) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
      throw err;
    }
    const rec = new SessionRecorder(path, fd, header, start, opts);
    openRecorders.add(rec);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', flushAllOnExit);
    }
    return rec;
  }

  /** The first write error, or null. Once set, nothing more is written. */
  get error(): Error | null { return this.firstError; }
  /** Events not written because of a write error or because the recorder was closed. */
  get dropped(): number { return this.droppedCount; }
  get closed(): boolean { return this.closedFlag; }
  /** Offers recorded so far. */
  get offers(): number { return this.offerCount; }
  /** Final states recorded so far (decision events by verdict). */
  get counts(): VerdictCounts { return { ...this.tally }; }

  /** Milliseconds since the session started, rounded to µs (the `t` the recorder stamps). */
  elapsed(): number {
    return Math.round(Number(process.hrtime.bigint() - this.start) / 1e3) / 1e3;
  }

  /** Appends one event. Never throws on write errors; does nothing after close(). */
  record(event: SessionEventInput): void {
    if (this.closedFlag || this.firstError) { this.droppedCount++; return; }
    if (event.type === 'offer') this.offerCount++;
    else if (event.type === 'decision' && event.verdict in this.tally) this.tally[event.verdict]++;
    this.enqueue(event);
  }

  /** Writes everything pending now. Never throws. */
  flush(): void {
    if (this.immediate) { clearImmediate(this.immediate); this.immediate = null; }
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.firstError) { this.droppedCount += lines; return; }
    try {
      writeAll(this.fd, Buffer.from(text, 'utf8'));
    } catch (err) {
      this.droppedCount += lines;
      this.fail(err);
    }
  }

  /**
   * Writes the `end` record, flushes and closes the file. Idempotent; never throws.
   * Counts and offers default to what this recorder saw.
   */
  close(end: SessionEndInput = {}): void {
    if (this.closedFlag) return;
    if (!this.firstError) {
      this.enqueue({
        type: 'end',
        t: end.t,
        reason: end.reason ?? 'closed',
        counts: end.counts ?? { ...this.tally },
        offers: end.offers ?? this.offerCount,
      });
    }
    this.flush();
    this.closedFlag = true;
    openRecorders.delete(this);
    // After EBADF the descriptor number is not ours any more (it may already name another file).
    if ((this.firstError as NodeJS.ErrnoException | null)?.code !== 'EBADF') {
      try { fs.closeSync(this.fd); } catch (err) { this.fail(err); }
    }
    this.fd = -1;
  }

  private enqueue(event: WithOptionalT<SessionEvent>): void {
    const { type, t, ...rest } = event;
    const stamp = t ?? this.elapsed();
    let line: string;
    try {
      // `type` and `t` first: the file reads better and tools can sniff them cheaply.
      line = JSON.stringify({ type, t: stamp, ...rest }) + '\n';
    } catch (err) {
      // An event that cannot be serialised (a BigInt, a cycle) is a bug upstream; record that
      // instead of throwing into the accept path.
      const message = `could not record a ${type} event: ${err instanceof Error ? err.message : String(err)}`;
      line = JSON.stringify({ type: 'error', t: stamp, code: 'record', message }) + '\n';
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= this.maxPending) {
      this.flush();
    } else if (!this.immediate) {
      this.immediate = setImmediate(() => { this.immediate = null; this.flush(); });
      // Do not keep the process alive for a flush: the 'exit' hook writes what is left.
      this.immediate.unref();
    }
  }

  private fail(err: unknown): void {
    if (this.firstError) return;
    this.firstError = err instanceof Error ? err : new Error(String(err));
    this.pending = [];
    this.pendingBytes = 0;
    const cb = this.onError;
    if (cb) {
      try { cb(this.firstError); } catch { /* a faulty callback must not reach the accept path */ }
    }
  }
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    const n = fs.writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw new Error(`short write to session file (${off} of ${buf.length} bytes)`);
    off += n;
  }
}
