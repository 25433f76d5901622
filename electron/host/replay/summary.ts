// Summary of a recorded session (what `inspect` prints, and what a UI shows for a loaded session):
// listeners, script versions, final verdicts and deciders, latency percentiles, deferrals, errors
// and handler totals, plus one row per request. Streams: feed records in file order.
import type { DecisionEvent, OfferEvent, SessionEvent, SessionHeader, VerdictCounts } from '../session/events';
import { streamSession, type ReadSessionOptions } from '../session/reader';
import type { CallerDataSource, Decider, Discipline, FinalVerdict, HandlerKind, Verdict } from '../types';

export interface ListenerSummaryRow {
  id: number;
  address: string;
  port: number;
  discipline: Discipline;
  handler: HandlerKind;
  fallback: Verdict;
  budgetMs: number;
  deferTimeoutMs: number;
  reofferMs: number;
}

export interface ScriptSummaryRow {
  listener: number;
  version: number;
  filename: string;
  /** First 12 hex digits of the sha256. */
  hash: string;
}

/** One request as `inspect --csv` writes it. Final fields are null for a request never decided. */
export interface RequestRow {
  listener: number;
  id: number;
  callerAddress: string;
  callerPort: number;
  /** ms since the session start: the decision's time less its latency, or the first offer's time. */
  arrivalMs: number;
  finalMs: number | null;
  verdict: FinalVerdict | null;
  by: Decider | 'system' | null;
  attempts: number;
  latencyUs: number | null;
  /** Caller data of the last offer; null when the request was never offered. */
  callerDataBytes: number | null;
  callerDataSource: CallerDataSource | null;
  result: string | null;
}

export interface SessionSummary {
  header: Pick<SessionHeader, 'startTime' | 'platform' | 'arch' | 'backend' | 'appVersion'>;
  /** The file ends with an `end` record. */
  complete: boolean;
  endReason: string | null;
  /** Time of the last record, ms. */
  durationMs: number;
  listeners: ListenerSummaryRow[];
  scripts: ScriptSummaryRow[];
  /** Decided requests plus those the recording never decided (unfinished). */
  requests: number;
  unfinished: number;
  offers: number;
  verdicts: VerdictCounts;
  deciders: Record<Decider | 'system', number>;
  /** Arrival to final state over decided requests, µs; null when there are none. */
  latencyUs: { p50: number | null; p90: number | null; p99: number | null; max: number | null };
  defers: {
    /** Offers per decided request. */
    meanAttempts: number | null;
    maxAttempts: number;
    /** Decided requests that were deferred at least once, and their share of all decided ones. */
    deferredRequests: number;
    deferredShare: number | null;
  };
  errors: { total: number; byCode: Record<string, number> };
  handlers: { connections: number; bytesIn: number; bytesOut: number; resets: number; closes: number; localCloses: number };
  warnings: string[];
}

interface Pending {
  listener: number;
  id: number;
  callerAddress: string;
  callerPort: number;
  firstT: number;
  offers: number;
  deferred: boolean;
  dataBytes: number;
  dataSource: CallerDataSource;
}

/** Byte length of standard padded base64 without decoding it. */
export function base64Bytes(b64: string): number {
  if (b64.length === 0) return 0;
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export class SessionSummariser {
  private header: SessionSummary['header'] | null = null;
  private end: string | null = null;
  private complete = false;
  private lastT = 0;
  private readonly listeners = new Map<number, ListenerSummaryRow>();
  private readonly scripts: ScriptSummaryRow[] = [];
  private readonly pending = new Map<number, Map<number, Pending>>();
  private latencies = new Float64Array(1024);
  private decided = 0;
  private offers = 0;
  private attemptsTotal = 0;
  private maxAttempts = 0;
  private deferredRequests = 0;
  private readonly verdicts: VerdictCounts = { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };
  private readonly deciders: Record<Decider | 'system', number> = { script: 0, fallback: 0, person: 0, default: 0, system: 0 };
  private readonly errorCodes: Record<string, number> = {};
  private errorTotal = 0;
  private readonly handlers = { connections: 0, bytesIn: 0, bytesOut: 0, resets: 0, closes: 0, localCloses: 0 };

  /** `onRequest`: called per request when it is decided, and for undecided ones at finish(). */
  constructor(private readonly onRequest?: (row: RequestRow) => void) {}

  setHeader(h: SessionHeader): void {
    this.header = { startTime: h.startTime, platform: h.platform, arch: h.arch, backend: h.backend, appVersion: h.appVersion };
  }

  push(e: SessionEvent): void {
    if (e.t > this.lastT) this.lastT = e.t;
    switch (e.type) {
      case 'listener':
        this.listeners.set(e.listener, {
          id: e.listener, address: e.address, port: e.port, discipline: e.options.discipline, handler: e.options.handler,
          fallback: e.options.fallback, budgetMs: e.options.budgetMs, deferTimeoutMs: e.options.deferTimeoutMs, reofferMs: e.options.reofferMs,
        });
        break;
      case 'script':
        this.scripts.push({ listener: e.listener, version: e.version, filename: e.filename, hash: e.hash.slice(0, 12) });
        break;
      case 'offer':
        this.offer(e);
        break;
      case 'decision':
        this.decision(e);
        break;
      case 'handler':
        this.handlers.connections++;
        this.handlers.bytesIn += e.bytesIn;
        this.handlers.bytesOut += e.bytesOut;
        if (e.event === 'reset') this.handlers.resets++;
        else if (e.event === 'close') this.handlers.closes++;
        else this.handlers.localCloses++;
        break;
      case 'error':
        // Script failures are also on their offers; the error records count each once.
        this.errorTotal++;
        this.errorCodes[e.code] = (this.errorCodes[e.code] ?? 0) + 1;
        break;
      case 'end':
        this.complete = true;
        this.end = e.reason;
        break;
      default:
        break;
    }
  }

  private requestsOf(listener: number): Map<number, Pending> {
    let m = this.pending.get(listener);
    if (!m) this.pending.set(listener, (m = new Map()));
    return m;
  }

  private offer(e: OfferEvent): void {
    this.offers++;
    const m = this.requestsOf(e.listener);
    let p = m.get(e.id);
    if (!p) {
      p = {
        listener: e.listener, id: e.id, callerAddress: e.caller.address, callerPort: e.caller.port,
        firstT: e.t, offers: 0, deferred: false, dataBytes: 0, dataSource: 'none',
      };
      m.set(e.id, p);
    }
    p.offers++;
    if (e.verdict === 'defer') p.deferred = true;
    p.dataBytes = base64Bytes(e.callerData);
    p.dataSource = e.callerDataSource;
  }

  private decision(d: DecisionEvent): void {
    const m = this.requestsOf(d.listener);
    const p = m.get(d.id);
    m.delete(d.id);
    this.verdicts[d.verdict]++;
    this.deciders[d.by]++;
    if (this.decided === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.decided++] = d.latencyUs;
    this.attemptsTotal += d.attempts;
    if (d.attempts > this.maxAttempts) this.maxAttempts = d.attempts;
    if (p?.deferred) this.deferredRequests++;
    this.onRequest?.({
      listener: d.listener, id: d.id, callerAddress: d.caller.address, callerPort: d.caller.port,
      arrivalMs: Math.round((d.t - d.latencyUs / 1000) * 1000) / 1000, finalMs: d.t,
      verdict: d.verdict, by: d.by, attempts: d.attempts, latencyUs: d.latencyUs,
      callerDataBytes: p ? p.dataBytes : null, callerDataSource: p ? p.dataSource : null, result: d.result,
    });
  }

  finish(warnings: string[] = []): SessionSummary {
    let unfinished = 0;
    for (const m of this.pending.values()) {
      for (const p of m.values()) {
        unfinished++;
        this.onRequest?.({
          listener: p.listener, id: p.id, callerAddress: p.callerAddress, callerPort: p.callerPort,
          arrivalMs: p.firstT, finalMs: null, verdict: null, by: null, attempts: p.offers, latencyUs: null,
          callerDataBytes: p.dataBytes, callerDataSource: p.dataSource, result: null,
        });
      }
      m.clear();
    }
    const sorted = this.latencies.slice(0, this.decided).sort();
    const n = this.decided;
    return {
      header: this.header ?? { startTime: '', platform: '', arch: '', backend: 'posix', appVersion: '' },
      complete: this.complete,
      endReason: this.end,
      durationMs: Math.round(this.lastT * 1000) / 1000,
      listeners: [...this.listeners.values()],
      scripts: this.scripts,
      requests: n + unfinished,
      unfinished,
      offers: this.offers,
      verdicts: { ...this.verdicts },
      deciders: { ...this.deciders },
      latencyUs: {
        p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: n ? sorted[n - 1]! : null,
      },
      defers: {
        meanAttempts: n ? Math.round((this.attemptsTotal / n) * 100) / 100 : null,
        maxAttempts: this.maxAttempts,
        deferredRequests: this.deferredRequests,
        deferredShare: n ? Math.round((this.deferredRequests / n) * 10000) / 10000 : null,
      },
      errors: { total: this.errorTotal, byCode: { ...this.errorCodes } },
      handlers: { ...this.handlers },
      warnings,
    };
  }
}

/** Summarises a session file, streaming it. Rejects with SessionFormatError on a malformed file. */
export async function summariseSessionFile(
  path: string,
  opts: ReadSessionOptions & { onRequest?: (row: RequestRow) => void } = {},
): Promise<SessionSummary> {
  const s = new SessionSummariser(opts.onRequest);
  const r = await streamSession(path, {
    name: opts.name,
    chunkSize: opts.chunkSize,
    onProgress: opts.onProgress,
    onHeader: (h) => s.setHeader(h),
    onEvent: (e) => s.push(e),
  });
  return s.finish(r.warnings);
}
