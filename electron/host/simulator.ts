// Caller simulator: the client side of the workbench. Opens real TCP connections against a
// listener and reports what each client observed (served, refused, reset, EOF, timeout, ...).
// Plain Node; the CLI drives it today, a UI host can drive it with progress callbacks and an
// AbortSignal. Semantics are documented in docs/simulate.md.
import { setMaxListeners } from 'node:events';
import * as net from 'node:net';
import { fastOpenConnect } from '../../native/index';
import { performance } from 'node:perf_hooks';

/** What one client observed, in the order the summary lists them. */
export const CLIENT_OUTCOMES = ['served', 'refused', 'reset', 'eof', 'timeout', 'aborted', 'open', 'error'] as const;
export type ClientOutcome = typeof CLIENT_OUTCOMES[number];

/** Refused above this: a run must stay bounded. */
export const MAX_COUNT = 1_000_000;
export const MAX_CONCURRENCY = 10_000;
export const MAX_DATA_BYTES = 64 * 1024;

export interface ClientPlan {
  host: string;
  port: number;
  localAddress?: string;
  /** 0 or absent: the kernel picks. */
  localPort?: number;
  /** Sent after connect; null/empty: nothing is sent. */
  data?: Uint8Array | null;
  /** Delay between connect and sending `data`, ms. */
  sendAfterMs?: number;
  /** Send `data` in the SYN with TCP Fast Open (Linux; needs data, no sendAfterMs). */
  fastOpen?: boolean;
  /** Reset our own connection (RST) this long after connect, ms; null: never. */
  abortAfterMs?: number | null;
  /** Close this long after sending (after connect when nothing is sent): 'served' or 'open'.
   * Once connected, the hold replaces the answer deadline. */
  holdMs?: number | null;
  /** Deadline from the start of the connect: 'timeout' if not connected by then (and, unless
   * answerTimeoutMs is set, if nothing decisive happened by then). */
  timeoutMs: number;
  /** When set, the answer deadline counts from connect instead of from start. */
  answerTimeoutMs?: number;
  /** What a connection still open and silent at the deadline counts as. Default 'timeout'. */
  idleOutcome?: 'timeout' | 'open';
  signal?: AbortSignal;
}

export interface ClientResult {
  outcome: ClientOutcome;
  connected: boolean;
  /** Our own address and port once connected. */
  local: { address: string; port: number } | null;
  /** Start of connect → connected, ms; null when it never connected. */
  connectMs: number | null;
  /** Start of connect → outcome, ms. */
  outcomeMs: number;
  bytesOut: number;
  bytesIn: number;
  /** errno code for refused, reset and error outcomes (e.g. ECONNRESET, EADDRNOTAVAIL). */
  error?: string;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/**
 * One client. Resolves with what it observed, or null when `signal` aborted it before it had an
 * outcome (its socket is closed then).
 */
export function runClient(plan: ClientPlan): Promise<ClientResult | null> {
  return new Promise((resolve) => {
    const start = performance.now();
    const data = plan.data && plan.data.length > 0 ? plan.data : null;
    const aborting = plan.abortAfterMs !== null && plan.abortAfterMs !== undefined;
    // Without a hold the client leaves as soon as it has been answered: a full echo of what it
    // sent, or any byte when it sent nothing.
    const servedAt = Math.max(1, data ? data.length : 0);
    let connected = false;
    let connectMs: number | null = null;
    let local: ClientResult['local'] = null;
    let bytesOut = 0;
    let bytesIn = 0;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void): void => { timers.push(setTimeout(fn, Math.max(0, ms))); };

    let socket: net.Socket;
    let fastOpened = false;
    let synBytes = 0; // of data, how much rode in the SYN
    if (plan.fastOpen && data) {
      // The data leaves with the SYN (when the kernel has a cookie): the socket starts connecting
      // in the kernel, and Node takes it over already "connected".
      try {
        const { fd, sent } = fastOpenConnect({
          host: plan.host, port: plan.port, data,
          ...(plan.localAddress ? { localAddress: plan.localAddress } : {}),
          ...(plan.localPort ? { localPort: plan.localPort } : {}),
        });
        socket = new net.Socket({ fd, readable: true, writable: true });
        fastOpened = true;
        synBytes = sent;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'ERROR';
        resolve({ outcome: code === 'ECONNREFUSED' ? 'refused' : 'error', connected: false, local: null, connectMs: null,
          outcomeMs: performance.now() - start, bytesOut: 0, bytesIn: 0, error: code });
        return;
      }
    } else {
      socket = new net.Socket();
    }
    const finish = (outcome: ClientOutcome | null, error?: string, how: 'close' | 'reset' | 'none' = 'close'): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      plan.signal?.removeEventListener('abort', onAbort);
      if (how === 'reset' && connected && !socket.destroyed) socket.resetAndDestroy();
      else if (how !== 'none') socket.destroy();
      if (outcome === null) { resolve(null); return; }
      const r: ClientResult = {
        outcome, connected, local, connectMs, outcomeMs: performance.now() - start, bytesOut, bytesIn,
      };
      if (error !== undefined) r.error = error;
      resolve(r);
    };
    const onAbort = (): void => finish(null);
    if (plan.signal?.aborted) { resolve(null); return; }
    plan.signal?.addEventListener('abort', onAbort, { once: true });

    const holding = plan.holdMs !== null && plan.holdMs !== undefined;
    const deadline = (): void => {
      if (!connected) finish('timeout');
      else finish(bytesIn > 0 ? 'served' : plan.idleOutcome ?? 'timeout');
    };
    later(plan.timeoutMs, deadline);

    socket.on('connect', () => {
      connected = true;
      connectMs = fastOpened ? null : performance.now() - start;
      local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
      // Connected: the deadline now bounds the wait for an answer; a hold replaces it.
      if (holding || plan.answerTimeoutMs !== undefined) {
        for (const t of timers.splice(0)) clearTimeout(t);
        if (!holding) later(plan.answerTimeoutMs as number, deadline);
      }
      if (aborting) {
        // The caller goes away before a decision: the listener should see a withdrawal.
        const abort = (): void => finish('aborted', undefined, 'reset');
        if (plan.abortAfterMs === 0) { abort(); return; }
        later(plan.abortAfterMs as number, abort);
      }
      const hold = (): void => {
        if (holding) later(plan.holdMs as number, () => finish(bytesIn > 0 ? 'served' : 'open'));
      };
      if (data && fastOpened) {
        // What rode in the SYN is on its way; the rest (all of it without a cookie) goes now.
        if (synBytes < data.length) socket.write(data.subarray(synBytes));
        bytesOut += data.length;
        hold();
      } else if (data) {
        const send = (): void => {
          if (done) return;
          socket.write(data);
          bytesOut += data.length;
          hold();
        };
        if (!plan.sendAfterMs) send(); else later(plan.sendAfterMs, send);
      } else {
        hold();
      }
    });
    socket.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      if (!holding && bytesIn >= servedAt) finish('served');
    });
    socket.on('end', () => finish(bytesIn > 0 ? 'served' : 'eof'));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'ERROR';
      if (code === 'ECONNREFUSED') finish('refused', code, 'none');
      else if (RESET_CODES.has(code)) finish('reset', code, 'none');
      else finish('error', code, 'none');
    });
    socket.on('close', () => finish(bytesIn > 0 ? 'served' : 'eof'));

    if (fastOpened) {
      // Node does not announce a socket it adopted; with Fast Open there is no connect latency
      // to measure apart from the answer.
      setImmediate(() => socket.emit('connect'));
      return;
    }
    try {
      socket.connect({ host: plan.host, port: plan.port, localAddress: plan.localAddress, localPort: plan.localPort || undefined });
    } catch (e) {
      // Synchronous argument errors (e.g. a localAddress of the wrong family).
      finish('error', (e as NodeJS.ErrnoException).code ?? 'EINVAL', 'none');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Source addresses

/** A run of loopback source addresses: 127.0.0.0/8 (IPv4) or ::1 alone (IPv6). */
export interface SourceRange {
  family: 'ipv4' | 'ipv6';
  /** IPv4: the first address as a 32-bit number. */
  first: number;
  size: number;
}

export class SourceRangeError extends Error {}

function ipv4ToNumber(text: string): number | null {
  if (net.isIPv4(text) === false) return null;
  return text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "127.0.0.2-127.0.0.254", "127.0.0.9" or "::1". Anything outside loopback is refused. */
export function parseSources(text: string): SourceRange {
  const t = text.trim();
  if (t === '::1' || t === '[::1]') return { family: 'ipv6', first: 0, size: 1 };
  const parts = t.split('-');
  if (parts.length > 2) throw new SourceRangeError(`--sources must be an address or a range FIRST-LAST (got '${text}')`);
  const nums = parts.map((p) => ipv4ToNumber(p.trim()));
  for (let i = 0; i < parts.length; i++) {
    const n = nums[i];
    if (n === null) {
      const what = net.isIPv6(parts[i].trim()) ? 'of IPv6 only ::1 can be a source' : 'not an IPv4 address';
      throw new SourceRangeError(`--sources: '${parts[i].trim()}' is ${what}; sources must be in 127.0.0.0/8 or ::1`);
    }
    if (n >>> 24 !== 127) {
      throw new SourceRangeError(`--sources: '${parts[i].trim()}' is not a loopback address; sources must be in 127.0.0.0/8 or ::1`);
    }
  }
  const first = nums[0] as number;
  const last = (nums[1] ?? first) as number;
  if (last < first) throw new SourceRangeError(`--sources: the range ${text} ends before it starts`);
  return { family: 'ipv4', first, size: last - first + 1 };
}

/** The i-th client's source address: the range in turn, round robin. */
export function sourceAt(range: SourceRange, i: number): string {
  if (range.family === 'ipv6') return '::1';
  return numberToIpv4(range.first + (i % range.size));
}

/** Is `host` a loopback address literal (127.0.0.0/8 or ::1)? */
export function isLoopback(host: string): boolean {
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

// ---------------------------------------------------------------------------------------------
// Statistics

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Nearest-rank percentiles of the first `n` values of `values` (sorted in place), rounded to µs. */
export function percentiles(values: Float64Array, n: number): Percentiles {
  if (n === 0) return { p50: null, p90: null, p99: null, max: null };
  const s = values.subarray(0, n).sort();
  const at = (p: number): number => round3(s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]);
  return { p50: at(50), p90: at(90), p99: at(99), max: round3(s[n - 1]) };
}

/** Which of `count` clients abort, spread evenly and deterministically: client i aborts when the
 * running total floor((i+1)·ratio) goes up at i. */
export function abortsAt(i: number, ratio: number): boolean {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  const eps = 1e-9; // 0.29 * 100 is 28.999999999999996
  return Math.floor((i + 1) * ratio + eps) > Math.floor(i * ratio + eps);
}

// ---------------------------------------------------------------------------------------------
// A run of many clients

export interface SimulationOptions {
  host: string;
  port: number;
  count: number;
  /** Max connections in flight. Default 10. */
  concurrency?: number;
  /** Max new connections per second; null: as fast as concurrency allows. */
  rate?: number | null;
  data?: Uint8Array | null;
  /** Send the data in the SYN (TCP Fast Open, Linux). */
  fastOpen?: boolean;
  sources?: SourceRange | null;
  /** Share of clients (0..1) that reset their own connection after connecting. */
  abortRatio?: number;
  /** How long after connecting an aborting client resets, ms. Default 0 (at once). */
  abortAfterMs?: number;
  holdMs?: number | null;
  /** Per connection, from the start of its connect. Default 5000. */
  timeoutMs?: number;
  /** Stop starting new connections after this long (the running ones finish). */
  durationMs?: number | null;
  /** Aborting stops the run: no new connections, running ones are closed and not counted. */
  signal?: AbortSignal;
  onResult?: (result: ClientResult, index: number) => void;
  onProgress?: (progress: SimulationProgress) => void;
  progressIntervalMs?: number;
}

export interface SimulationProgress {
  started: number;
  done: number;
  inFlight: number;
  count: number;
  outcomes: Record<ClientOutcome, number>;
  elapsedMs: number;
}

export interface SimulationReport {
  target: { host: string; port: number };
  /** Connections asked for. */
  requested: number;
  /** Connections with an outcome (the outcomes add up to this). */
  count: number;
  started: number;
  /** Started but closed without an outcome because the run was stopped. */
  cancelled: number;
  connected: number;
  outcomes: Record<ClientOutcome, number>;
  /** errno code → how many, for the 'error' outcome. */
  errors: Record<string, number>;
  connectMs: Percentiles;
  outcomeMs: Percentiles;
  bytesOut: number;
  bytesIn: number;
  elapsedMs: number;
  /** 'done', 'duration', or the stop reason (the AbortSignal's reason when it is a string, else 'stopped'). */
  reason: string;
}

export function emptyOutcomes(): Record<ClientOutcome, number> {
  return Object.fromEntries(CLIENT_OUTCOMES.map((o) => [o, 0])) as Record<ClientOutcome, number>;
}

export function runSimulation(opts: SimulationOptions): Promise<SimulationReport> {
  const count = opts.count;
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) throw new RangeError(`count must be 0-${MAX_COUNT}`);
  const concurrency = Math.max(1, Math.min(MAX_CONCURRENCY, opts.concurrency ?? 10));
  const rate = opts.rate ?? null;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const abortRatio = opts.abortRatio ?? 0;
  const outcomes = emptyOutcomes();
  const errors: Record<string, number> = {};
  // Latencies in typed arrays: a million connections cost 16 MB, not a million objects.
  const connectMs = new Float64Array(count);
  const outcomeMs = new Float64Array(count);
  let nConnect = 0;
  let done = 0;
  let started = 0;
  let inFlight = 0;
  let cancelled = 0;
  let connected = 0;
  let bytesOut = 0;
  let bytesIn = 0;
  let reason = 'done';
  let stopped = false;
  const t0 = performance.now();
  // The clients get their own controller so a 'duration' stop does not cut them short.
  const clientStop = new AbortController();
  setMaxListeners(0, clientStop.signal); // one listener per client in flight

  return new Promise((resolve) => {
    let pumpTimer: NodeJS.Timeout | undefined;
    let durationTimer: NodeJS.Timeout | undefined;
    let progressTimer: NodeJS.Timeout | undefined;
    let finished = false;

    const progress = (): SimulationProgress => ({
      started, done, inFlight, count, outcomes: { ...outcomes }, elapsedMs: performance.now() - t0,
    });
    const finishIfIdle = (): void => {
      if (finished || inFlight > 0 || (!stopped && started < count)) return;
      finished = true;
      clearTimeout(pumpTimer);
      clearTimeout(durationTimer);
      clearInterval(progressTimer);
      opts.signal?.removeEventListener('abort', onSignal);
      resolve({
        target: { host: opts.host, port: opts.port },
        requested: count, count: done, started, cancelled, connected, outcomes, errors,
        connectMs: percentiles(connectMs, nConnect), outcomeMs: percentiles(outcomeMs, done),
        bytesOut, bytesIn, elapsedMs: round3(performance.now() - t0), reason,
      });
    };
    const stop = (why: string, closeRunning: boolean): void => {
      if (stopped) return;
      stopped = true;
      reason = why;
      clearTimeout(pumpTimer);
      if (closeRunning) clientStop.abort();
      finishIfIdle();
    };
    const onSignal = (): void => {
      const r: unknown = opts.signal?.reason;
      stop(typeof r === 'string' ? r : 'stopped', true);
    };

    const launch = (i: number): void => {
      started++;
      inFlight++;
      const aborts = abortsAt(i, abortRatio);
      runClient({
        host: opts.host,
        port: opts.port,
        localAddress: opts.sources ? sourceAt(opts.sources, i) : undefined,
        data: aborts ? null : opts.data ?? null, // an aborting client goes away without a word
        fastOpen: opts.fastOpen === true,
        abortAfterMs: aborts ? opts.abortAfterMs ?? 0 : null,
        holdMs: opts.holdMs ?? null,
        timeoutMs,
        idleOutcome: 'timeout',
        signal: clientStop.signal,
      }).then((r) => {
        inFlight--;
        if (r === null) {
          cancelled++;
        } else {
          outcomes[r.outcome]++;
          if (r.outcome === 'error') errors[r.error ?? 'ERROR'] = (errors[r.error ?? 'ERROR'] ?? 0) + 1;
          if (r.connected) connected++;
          if (r.connectMs !== null) connectMs[nConnect++] = r.connectMs;
          outcomeMs[done++] = r.outcomeMs;
          bytesOut += r.bytesOut;
          bytesIn += r.bytesIn;
          opts.onResult?.(r, i);
        }
        pump();
        finishIfIdle();
      }, () => { inFlight--; cancelled++; finishIfIdle(); });
    };

    const pump = (): void => {
      clearTimeout(pumpTimer);
      pumpTimer = undefined;
      while (!stopped && started < count && inFlight < concurrency) {
        if (rate !== null) {
          // Connection i starts no earlier than i/rate seconds after the run started.
          const due = t0 + (started * 1000) / rate;
          const wait = due - performance.now();
          if (wait > 0) { pumpTimer = setTimeout(pump, Math.ceil(wait)); return; }
        }
        launch(started);
      }
    };

    if (opts.signal?.aborted) { onSignal(); return; }
    opts.signal?.addEventListener('abort', onSignal, { once: true });
    if (opts.durationMs !== null && opts.durationMs !== undefined) {
      durationTimer = setTimeout(() => stop('duration', false), opts.durationMs);
    }
    if (opts.onProgress) {
      const cb = opts.onProgress;
      progressTimer = setInterval(() => cb(progress()), opts.progressIntervalMs ?? 500);
    }
    pump();
    finishIfIdle();
  });
}
