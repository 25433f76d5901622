// What-if replay: runs a new condition script over the requests of a recorded session, offline
// (no sockets), and compares each request's new final verdict with the recorded one.
//
// The rules are stated for users in docs/replay.md; in short:
// - Recorded offers are the *slots* at which a request can be offered: same time, same inputs
//   (caller, callee, caller data, SQOS). Recorded events are processed in file order (the order of
//   their `t`), and the re-offers the replay invents (synthetic offers) are slotted in between by
//   time, so one compiled script sees every request of every listener in the order it would have.
// - A request decided (accept / reject) earlier than recorded stops there: its later slots are
//   ignored.
// - After a slot at which the recording stopped offering the request (its verdict was final, or
//   the script asked a person and the request was parked) a request the new script merely defers
//   is re-offered at the listener's reofferMs cadence, with the inputs of the latest slot, until
//   its next recorded slot, or its end.
// - "ask" parks the request: later slots are skipped until a recorded person decision (an offer
//   with by "person"), which is applied there; without one the request waits for its end.
// - The end of a request the new script has not decided: the recorded final state when the
//   system made it (withdraw, expire, error: at its recorded time); otherwise, when the recording
//   decided it, expiry at arrival + deferTimeoutMs; in any case expiry when the recording ends.
// - A script error gives the listener's fallback verdict (by "fallback") and is reported.
//
// Known limits: arrivals and the slots of other requests are those recorded, so the head-of-line
// blocking of the winsock discipline is not re-simulated; `req.queue.kernel` is null (the
// recording does not hold it) and held/deferred are the replay's own counts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ConditionScript, ScriptCallResult } from '../script/sandbox';
import type {
  DecisionEvent, OfferEvent, RecordedListenerOptions, SessionEvent, SessionHeader,
} from '../session/events';
import { SessionFormatError, streamSessionRecords, type RecordLayout, type Session } from '../session/reader';
import { isPlainObject } from '../session/validate';
import type { CallerDataSource, ConditionRequest, Decider, Family, FinalVerdict, ListenerInfo } from '../types';

/** A request's final state as the recording or the replay has it. */
export interface ReplayOutcome {
  verdict: FinalVerdict;
  by: Decider | 'system';
  /** Offers the request had (script offers and a person's). */
  attempts: number;
}

export interface RequestResult {
  listener: number;
  id: number;
  caller: { address: string; port: number };
  /** null: the recording has no decision for it (it stopped first); then it is not compared. */
  recorded: ReplayOutcome | null;
  now: ReplayOutcome;
  /** The final verdict differs from the recorded one. */
  changed: boolean;
}

/** A failure of the new script on one offer (the offer got the listener's fallback verdict). */
export interface ReplayScriptError {
  listener: number;
  id: number;
  attempt: number;
  code: string;
  message: string;
  line?: number;
  column?: number;
}

export interface ReplayProgress {
  /** Records processed so far (lines of the file when streaming it). */
  lines: number;
  /** Where bytes are known (streaming a file), how far into it; else null. */
  bytesRead: number | null;
  totalBytes: number | null;
  requests: number;
}

export interface WhatIfSummary {
  /** Requests compared or left unfinished: same + changed + unfinished. */
  requests: number;
  same: number;
  changed: number;
  /** Requests the recording has no decision for. */
  unfinished: number;
  /** Offers on which the new script failed. */
  errors: number;
  /** Offers the replay made: script calls plus applied person decisions. */
  offers: number;
  /** Of those, re-offers the recording does not have (see the rules above). */
  syntheticOffers: number;
  elapsedMs: number;
  requestsPerSecond: number;
  /** Stopped through the AbortSignal: the counts cover what was done until then. */
  aborted: boolean;
  /** Reader warnings, e.g. a cut-short last line. */
  warnings: string[];
}

export interface WhatIfOptions {
  /** Stops the replay (checked before each record and between synthetic offers). */
  signal?: AbortSignal;
  /** Called once per request, when both its recorded and its new final state are known. */
  onResult?: (result: RequestResult) => void;
  onError?: (error: ReplayScriptError) => void;
  /** ctx.log / console.log messages of the new script, per call. */
  onLog?: (log: { listener: number; id: number; attempt: number; message: string }) => void;
  onProgress?: (progress: ReplayProgress) => void;
  /** Called for each `listener` record (a listener started). */
  onListener?: (listener: ListenerInfo & { options: RecordedListenerOptions }) => void;
  /** dwCallbackData for every call; the recording does not hold it (the CLI listener uses 0). */
  callbackData?: number;
  /** Name used in format errors; default: the file's base name, or "session" for one in memory. */
  name?: string;
}

/**
 * Synthetic offers are at least this far apart, so that a listener recorded with reofferMs 0 (the
 * live engine then re-offers as fast as it loops) still replays in bounded time.
 */
export const MIN_REOFFER_MS = 1;

/** Thrown by WhatIfReplay.push once the signal is aborted (replaySession[File] turn it into `aborted: true`). */
export class ReplayAborted extends Error {}

/**
 * Ids of requests already reported (to catch records about a request after its decision). Request
 * ids are small and dense (the acceptor numbers them 1, 2, ...), so a bitset; others go to a Set.
 */
class IdSet {
  private bits = new Uint8Array(1024);
  private readonly others = new Set<number>();

  add(id: number): void {
    if (id >= 1 << 28) {
      this.others.add(id);
      return;
    }
    const byte = id >>> 3;
    if (byte >= this.bits.length) {
      let n = this.bits.length;
      while (n <= byte) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[byte]! |= 1 << (id & 7);
  }

  has(id: number): boolean {
    if (id >= 1 << 28) return this.others.has(id);
    const byte = id >>> 3;
    return byte < this.bits.length && (this.bits[byte]! & (1 << (id & 7))) !== 0;
  }
}

interface ListenerState {
  options: RecordedListenerOptions;
  info: ListenerInfo;
  cadenceMs: number;
  requests: Map<number, RequestState>;
  /** Requests whose recorded decision has been seen and that are reported already. */
  reported: IdSet;
  /** Requests offered in the replay and not final yet (req.queue.held), and those deferred. */
  held: number;
  deferred: number;
}

interface RequestState {
  listener: ListenerState;
  id: number;
  caller: { address: string; port: number };
  /** Time of the first recorded offer (NaN: none yet): arrival is at most this. */
  firstT: number;
  /** The latest recorded offer: the inputs of the next offer. */
  input: OfferEvent | null;
  /** Decoded input.callerData and serialized input.sqos, for repeated (synthetic) offers. */
  inputData: Uint8Array | null;
  inputSqos: string | null | undefined;
  attempts: number;
  deferredOnce: boolean;
  /** Waiting for a person ("ask"). */
  parked: boolean;
  /** Bumped to cancel scheduled synthetic offers. */
  generation: number;
  /** Expiry time once known (arrival + deferTimeoutMs), else NaN. */
  deadline: number;
  now: ReplayOutcome | null;
  recorded: ReplayOutcome | null;
}

const OFFER = 1;
const EXPIRE = 0;

interface Timer {
  time: number;
  /** EXPIRE sorts before OFFER at the same time: the live engine checks expiry first. */
  kind: number;
  seq: number;
  request: RequestState;
  generation: number;
}

/** A binary min-heap of timers by (time, kind, seq). */
class TimerHeap {
  private readonly items: Timer[] = [];

  get size(): number { return this.items.length; }
  peek(): Timer | undefined { return this.items[0]; }

  push(t: Timer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Timer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.time !== b.time ? a.time < b.time : a.kind !== b.kind ? a.kind < b.kind : a.seq < b.seq;
}

const EMPTY = new Uint8Array(0);

/**
 * The replay engine. Feed it the records of one session in file order (push), then call finish().
 * Synchronous: the caller decides how to read the file and when to yield.
 */
export class WhatIfReplay {
  private readonly listeners = new Map<number, ListenerState>();
  private readonly timers = new TimerHeap();
  private seq = 0;
  private records = 0;
  private finished = false;
  private readonly startedAt = performance.now();
  private readonly counts = { requests: 0, same: 0, changed: 0, unfinished: 0, errors: 0, offers: 0, syntheticOffers: 0 };
  private readonly callbackData: number;
  // One request object reused for every call: the sandbox copies what it needs during run().
  private readonly req: ConditionRequest;
  private readonly queue = { kernel: null, held: 0, deferred: 0 };
  private readonly sqos = new SqosSerializer();

  constructor(
    private readonly script: ConditionScript,
    private readonly opts: WhatIfOptions = {},
  ) {
    this.callbackData = opts.callbackData ?? 0;
    this.req = {
      id: 0,
      caller: { family: 'ipv4', address: '', port: 0 },
      callee: { family: 'ipv4', address: '', port: 0 },
      callerData: EMPTY,
      callerDataSource: 'none',
      sqos: null, // travels as sqosJson (parsed in the sandbox only when the script reads it)
      gqos: null,
      attempt: 1,
      queue: this.queue,
      listener: { id: 0, address: '', port: 0, discipline: 'winsock' },
      callbackData: this.callbackData,
    };
  }

  /** Records processed so far. */
  get recordCount(): number { return this.records; }
  get requestCount(): number { return this.counts.requests; }

  /**
   * One record of the session (after the header), in file order. `line` is used in the
   * SessionFormatError thrown for records that contradict earlier ones.
   */
  push(event: SessionEvent, line: number): void {
    if (this.opts.signal?.aborted) throw new ReplayAborted();
    this.records++;
    const t = event.t;
    this.runTimers(t);
    switch (event.type) {
      case 'listener': {
        const o = event.options;
        const existing = this.listeners.get(event.listener);
        const info: ListenerInfo = { id: event.listener, address: event.address, port: event.port, discipline: o.discipline };
        if (existing) {
          existing.options = o;
          existing.info = info;
          existing.cadenceMs = Math.max(o.reofferMs, MIN_REOFFER_MS);
        } else {
          this.listeners.set(event.listener, {
            options: o, info, cadenceMs: Math.max(o.reofferMs, MIN_REOFFER_MS), requests: new Map(), reported: new IdSet(), held: 0, deferred: 0,
          });
        }
        this.opts.onListener?.({ ...info, options: o });
        break;
      }
      case 'offer':
        this.recordedOffer(event, line);
        break;
      case 'decision':
        this.recordedDecision(event, line);
        break;
      default:
        // script, handler, log, error: the recording's own, not inputs of the replay. `end`: the
        // timers before it have run; what is still waiting expires in finish().
        break;
    }
  }

  /**
   * The recording is over: requests still waiting expire at its end (the `end` record's time, or
   * the last record's), and requests the recording never decided are reported as unfinished.
   */
  finish(warnings: string[] = []): WhatIfSummary {
    if (!this.finished) {
      this.finished = true;
      for (const l of this.listeners.values()) {
        for (const r of [...l.requests.values()]) {
          if (!r.now) this.finalize(r, 'expire', 'system');
          this.emit(r);
        }
      }
    }
    return this.summary(false, warnings);
  }

  /** The summary so far (aborted: the replay was stopped before the end). */
  summary(aborted: boolean, warnings: string[] = []): WhatIfSummary {
    const elapsedMs = performance.now() - this.startedAt;
    return {
      ...this.counts,
      elapsedMs: Math.round(elapsedMs * 10) / 10,
      requestsPerSecond: elapsedMs > 0 ? Math.round(this.counts.requests / (elapsedMs / 1000)) : 0,
      aborted,
      warnings,
    };
  }

  // ---- recorded events ------------------------------------------------------------------------

  private listenerOf(listener: number, line: number): ListenerState {
    const l = this.listeners.get(listener);
    if (!l) throw new SessionFormatError(this.opts.name ?? 'session', line, `no listener ${listener} was started before this line`, 'listener');
    return l;
  }

  private requestOf(l: ListenerState, id: number, caller: { address: string; port: number }): RequestState {
    let r = l.requests.get(id);
    if (!r) {
      r = {
        listener: l, id, caller: { address: caller.address, port: caller.port }, firstT: NaN,
        input: null, inputData: null, inputSqos: undefined, attempts: 0, deferredOnce: false, parked: false,
        generation: 0, deadline: NaN, now: null, recorded: null,
      };
      l.requests.set(id, r);
    }
    return r;
  }

  private recordedOffer(e: OfferEvent, line: number): void {
    const l = this.listenerOf(e.listener, line);
    const r = this.requestOf(l, e.id, e.caller);
    if (r.recorded || l.reported.has(e.id)) {
      throw new SessionFormatError(this.opts.name ?? 'session', line, `an offer of request ${e.id} after its decision`, 'id');
    }
    if (Number.isNaN(r.firstT)) r.firstT = e.t;
    r.input = e;
    r.inputSqos = undefined;
    r.inputData = null;
    if (r.now) return; // decided earlier than recorded: later slots do not matter
    if (r.parked) {
      if (e.by === 'person') this.personDecision(r, e);
      return; // waiting for a person: no offer in this slot
    }
    r.generation++; // this slot replaces any synthetic re-offer still scheduled
    // The recording stopped offering after this slot when its verdict was final or it parked.
    this.offer(r, e.t, e.verdict !== 'defer' || e.ask === true, false);
  }

  private recordedDecision(d: DecisionEvent, line: number): void {
    const l = this.listenerOf(d.listener, line);
    const r = this.requestOf(l, d.id, d.caller);
    if (r.recorded || l.reported.has(d.id)) {
      throw new SessionFormatError(this.opts.name ?? 'session', line, `a second decision for request ${d.id}`, 'id');
    }
    r.recorded = { verdict: d.verdict, by: d.by, attempts: d.attempts };
    if (!r.now) {
      if (r.attempts === 0) {
        // Never offered (e.g. withdrawn before its first offer): nothing to decide differently.
        this.finalize(r, d.verdict, d.by);
      } else if (d.by === 'system') {
        // Withdrawn, expired or failed in the system: that happens whatever the script said.
        this.finalize(r, d.verdict, 'system');
      } else {
        // The recording decided it; the replay keeps it waiting until it expires.
        r.deadline = d.t - d.latencyUs / 1000 + l.options.deferTimeoutMs;
        if (r.deadline <= d.t) this.finalize(r, 'expire', 'system');
        else this.timers.push({ time: r.deadline, kind: EXPIRE, seq: this.seq++, request: r, generation: r.generation });
      }
    }
    this.settled(r);
  }

  // ---- the replay's own actions -------------------------------------------------------------

  /** Runs every timer due before time t (ties go to the recorded event). */
  private runTimers(t: number): void {
    const timers = this.timers;
    const signal = this.opts.signal;
    for (let top = timers.peek(); top !== undefined && top.time < t; top = timers.peek()) {
      timers.pop();
      const r = top.request;
      if (r.now) continue;
      if (top.kind === EXPIRE) {
        this.finalize(r, 'expire', 'system');
        this.settled(r);
        continue;
      }
      if (top.generation !== r.generation || r.parked) continue;
      if (signal?.aborted) throw new ReplayAborted();
      // Deadline not known yet (the recorded decision is still ahead): arrival is at most firstT.
      if (top.time >= r.firstT + r.listener.options.deferTimeoutMs) {
        this.finalize(r, 'expire', 'system');
        this.settled(r);
        continue;
      }
      this.offer(r, top.time, true, true);
    }
  }

  private offer(r: RequestState, time: number, openEnded: boolean, synthetic: boolean): void {
    const l = r.listener;
    const input = r.input!;
    r.attempts++;
    if (r.attempts === 1) l.held++;
    this.counts.offers++;
    if (synthetic) this.counts.syntheticOffers++;

    if (r.inputSqos === undefined) {
      r.inputData = input.callerData === '' ? EMPTY : Buffer.from(input.callerData, 'base64');
      r.inputSqos = hasSqosJson(input) ? input.sqosJson : input.sqos === null ? null : this.sqos.json(input.sqos);
    }
    const req = this.req;
    req.id = r.id;
    req.caller = input.caller;
    req.callee = input.callee;
    req.callerData = r.inputData!;
    req.callerDataSource = input.callerDataSource;
    req.attempt = r.attempts;
    req.listener = l.info;
    this.queue.held = l.held;
    this.queue.deferred = l.deferred;
    const result: ScriptCallResult = this.script.run(req, {
      budgetMs: l.options.budgetMs, fallback: l.options.fallback, sqosJson: r.inputSqos,
    });
    if (result.logs.length !== 0 && this.opts.onLog) {
      for (const message of result.logs) this.opts.onLog({ listener: l.info.id, id: r.id, attempt: r.attempts, message });
    }
    if (result.error) {
      this.counts.errors++;
      this.opts.onError?.({ listener: l.info.id, id: r.id, attempt: r.attempts, ...result.error });
    }
    if (result.verdict !== 'defer') {
      this.finalize(r, result.verdict, result.by);
      this.settled(r);
      return;
    }
    if (!r.deferredOnce) {
      r.deferredOnce = true;
      l.deferred++;
    }
    if (result.ask) {
      r.parked = true;
    } else if (openEnded) {
      const next = time + l.cadenceMs;
      if (!(next >= r.deadline)) {
        this.timers.push({ time: next, kind: OFFER, seq: this.seq++, request: r, generation: r.generation });
      }
    }
  }

  /** A recorded person's decision, applied to a request the new script parked. */
  private personDecision(r: RequestState, e: OfferEvent): void {
    r.attempts++;
    this.counts.offers++;
    if (e.verdict === 'accept' || e.verdict === 'reject') {
      this.finalize(r, e.verdict, 'person');
      this.settled(r);
    } else {
      // A person's "defer" releases the request: the recording re-offers it from here on.
      r.parked = false;
      r.generation++;
    }
  }

  private finalize(r: RequestState, verdict: FinalVerdict, by: Decider | 'system'): void {
    const l = r.listener;
    r.now = { verdict, by, attempts: r.attempts };
    r.generation++;
    r.parked = false;
    if (r.attempts > 0) l.held--;
    if (r.deferredOnce) l.deferred--;
  }

  /** Reports a request once both its recorded and its new final state are known. */
  private settled(r: RequestState): void {
    if (r.now && r.recorded) this.emit(r);
  }

  private emit(r: RequestState): void {
    if (!r.listener.requests.delete(r.id)) return; // already reported
    if (r.recorded) r.listener.reported.add(r.id);
    const now = r.now!;
    const recorded = r.recorded;
    const changed = recorded !== null && recorded.verdict !== now.verdict;
    this.counts.requests++;
    if (recorded === null) this.counts.unfinished++;
    else if (changed) this.counts.changed++;
    else this.counts.same++;
    this.opts.onResult?.({ listener: r.listener.info.id, id: r.id, caller: r.caller, recorded, now, changed });
  }
}

// ---------------------------------------------------------------------------------------------
// Running a whole session

/**
 * Replays a session already in memory. Line numbers in errors count the header as line 1 and one
 * line per event (exact unless the file had blank lines).
 */
export function replaySession(session: Session, script: ConditionScript, opts: WhatIfOptions = {}): WhatIfSummary {
  const replay = new WhatIfReplay(script, opts);
  try {
    let line = 1;
    for (const e of session.events) {
      replay.push(e, ++line);
      if (opts.onProgress && (line & 1023) === 0) {
        opts.onProgress({ lines: line, bytesRead: null, totalBytes: null, requests: replay.requestCount });
      }
    }
  } catch (e) {
    if (e instanceof ReplayAborted) return replay.summary(true, session.warnings);
    throw e;
  }
  return replay.finish(session.warnings);
}

export interface ReplayFileResult {
  header: SessionHeader | null;
  summary: WhatIfSummary;
}

export interface ReplayFileOptions extends WhatIfOptions {
  /**
   * Where the file is read and checked: 'worker' (a worker thread, while this thread runs the
   * script: reading costs well over half of what a trivial script does, so this adds that much
   * to the rate on two cores), 'main' (this thread), or 'auto' (default): a worker for files of
   * 4 MiB and more when there is more than one CPU and a worker can load this module.
   */
  thread?: 'auto' | 'worker' | 'main';
  /**
   * Read offers and decisions by matching them against the shapes of earlier lines (default
   * true; see electron/host/session/shapes.ts); false parses and checks every line in full. The
   * results and errors are the same; this is for comparing the two.
   */
  shapes?: boolean;
}

const WORKER_MIN_BYTES = 4 << 20;

/**
 * Streams a session file through the replay, so that files larger than memory replay too.
 * Rejects with SessionFormatError at the first malformed line (results before it have been
 * delivered); resolves with `aborted: true` when the signal stops it.
 */
export async function replaySessionFile(path: string, script: ConditionScript, opts: ReplayFileOptions = {}): Promise<ReplayFileResult> {
  opts = { ...opts, name: opts.name ?? nodePath.basename(path) };
  let thread = opts.thread ?? 'auto';
  if (thread === 'auto') {
    const big = await fs.promises.stat(path).then((st) => st.size >= WORKER_MIN_BYTES, () => false);
    // A worker needs this module as a plain .js file (not TypeScript under a loader, not inside an asar).
    const loadable = __filename.endsWith('.js') && !__filename.includes(`.asar${nodePath.sep}`);
    thread = big && loadable && os.availableParallelism() > 1 ? 'worker' : 'main';
  }
  const replay = new WhatIfReplay(script, opts);
  if (thread === 'worker') return replayInWorker(path, replay, opts);
  let header: SessionHeader | null = null;
  let lastLine = 1;
  // Records take the same flat form as from the worker, one at a time.
  const encoder = new RecordEncoder();
  const strings = encoder.strings;
  const deliver = (): void => {
    lastLine = decodeRecords(encoder.batch, strings, replay);
    encoder.clear();
  };
  try {
    const r = await streamSessionRecords(path, {
      name: opts.name,
      layouts: LAYOUTS,
      shapes: opts.shapes,
      serialize: encoder.serialize,
      onHeader: (h) => { header = h; },
      onRecord: (layout, values, line) => { encoder.record(layout, values, line); deliver(); },
      onEvent: (e, line) => { encoder.event(e, line); deliver(); },
      onProgress: opts.onProgress
        ? (bytesRead, totalBytes) => opts.onProgress!({ lines: lastLine, bytesRead, totalBytes, requests: replay.requestCount })
        : undefined,
    });
    return { header: r.header, summary: replay.finish(r.warnings) };
  } catch (e) {
    if (e instanceof ReplayAborted) return { header, summary: replay.summary(true) };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading in a worker thread
//
// The worker runs the session reader (streamSessionRecords: the same checks, the same errors) and
// sends each chunk's records in a flat form: the numbers of all its offers and decisions in one
// Float64Array (transferred, not copied), their few strings in one array, other records as they
// are; cloning whole event objects, or even an array of mixed values per record, costs more than
// reading the lines. The SQOS travels as its JSON text: the reader cuts it out of the line when the
// line matches a known shape, and serializes it otherwise. Recurring strings (families, verdicts,
// deciders, callee addresses) go once, as a string table. The worker waits (Atomics) while more
// than a few chunks are unprocessed, so memory stays bounded however slow the script is.

const WORKER_KIND = 'accept-workbench/whatif-reader';
/**
 * The worker stops when more than MAX_CHUNKS_IN_FLIGHT chunks wait to be replayed, and goes on
 * when RESUME_CHUNKS are left: woken once per two chunks, not per chunk (each wake-up is a
 * context switch, which on two busy cores costs the replaying thread too).
 */
const MAX_CHUNKS_IN_FLIGHT = 3;
const RESUME_CHUNKS = 1;
const R_OTHER = 0;
const R_OFFER = 1;
const R_DECISION = 2;
/** Numbers per record: kind, line, then the fields (see RecordEncoder.record). */
const OFFER_NUMBERS = 16;
const DECISION_NUMBERS = 10;
const OTHER_NUMBERS = 2;

/** Records in flat form (RecordEncoder writes them, decodeRecords reads them). */
interface RecordBatch {
  /** Numbers of the records, `length` of them used. */
  nums: Float64Array<ArrayBuffer>;
  length: number;
  /** Inline strings: offers' caller address, caller data and SQOS text (when not null); decisions' caller address. */
  strs: string[];
  /** Records of other types, whole. */
  others: SessionEvent[];
}

interface ReaderMessage {
  /** New entries of the string table, in id order. */
  strings: string[];
  batch: RecordBatch;
  header?: SessionHeader;
  progress?: [bytesRead: number, totalBytes: number];
  done?: { warnings: string[] };
  error?: { file?: string; line?: number; detail?: string; field?: string; message: string; code?: string };
}

interface WorkerSetup {
  kind: typeof WORKER_KIND;
  path: string;
  name: string;
  shapes: boolean;
  credits: SharedArrayBuffer;
}

/** The values read from offers (layout 0) and decisions (1); see RecordEncoder.record. */
const OFFER_LAYOUT = 0;
const LAYOUTS: readonly RecordLayout[] = [
  {
    type: 'offer',
    fields: [
      't', 'listener', 'id', 'attempt', 'caller.family', 'caller.address', 'caller.port',
      'callee.family', 'callee.address', 'callee.port', 'callerData', 'callerDataSource', 'verdict', 'ask', 'by',
    ],
    text: 'sqos',
  },
  {
    type: 'decision',
    fields: ['t', 'listener', 'id', 'caller.address', 'caller.port', 'verdict', 'attempts', 'latencyUs', 'by'],
  },
];

/** Puts records in the flat form decodeRecords reads, recurring strings as ids into `strings`. */
class RecordEncoder {
  batch: RecordBatch = RecordEncoder.empty(1 << 12);
  /** Every string given an id, in id order. */
  readonly strings: string[] = [];
  private readonly ids = new Map<string, number>();
  private readonly sqos = new SqosSerializer();
  readonly serialize = (sqos: unknown): string => this.sqos.json(sqos);

  private static empty(size: number): RecordBatch {
    return { nums: new Float64Array(size), length: 0, strs: [], others: [] };
  }

  /** Hands over the records so far and starts a new batch. */
  take(): RecordBatch {
    const b = this.batch;
    this.batch = RecordEncoder.empty(Math.max(1 << 12, b.length + (b.length >> 2)));
    return b;
  }

  /** Forgets the records so far (they have been decoded in this thread). */
  clear(): void {
    const b = this.batch;
    b.length = 0;
    b.strs.length = 0;
    b.others.length = 0;
  }

  private sid(s: unknown): number {
    let id = this.ids.get(s as string);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(s as string, id);
      this.strings.push(s as string);
    }
    return id;
  }

  /** Room for n more numbers. */
  private room(n: number): Float64Array {
    const b = this.batch;
    if (b.length + n > b.nums.length) {
      const grown = new Float64Array(Math.max(b.nums.length * 2, b.length + n));
      grown.set(b.nums.subarray(0, b.length));
      b.nums = grown;
    }
    return b.nums;
  }

  /** `v`: the values of LAYOUTS[layout], then the SQOS text for offers. */
  record(layout: number, v: readonly unknown[], line: number): void {
    const b = this.batch;
    let i = b.length;
    if (layout === OFFER_LAYOUT) {
      const a = this.room(OFFER_NUMBERS);
      const sqos = v[15] as string | null;
      a[i++] = R_OFFER; a[i++] = line;
      a[i++] = v[0] as number; a[i++] = v[1] as number; a[i++] = v[2] as number; a[i++] = v[3] as number; // t, listener, id, attempt
      a[i++] = this.sid(v[4]); a[i++] = v[6] as number; // caller family, port
      a[i++] = this.sid(v[7]); a[i++] = this.sid(v[8]); a[i++] = v[9] as number; // callee
      a[i++] = this.sid(v[11]); a[i++] = this.sid(v[12]); a[i++] = v[13] === true ? 1 : 0; a[i++] = this.sid(v[14]); // source, verdict, ask, by
      a[i++] = sqos === null ? 0 : 1;
      b.strs.push(v[5] as string, v[10] as string); // caller address, caller data
      if (sqos !== null) b.strs.push(sqos);
    } else {
      const a = this.room(DECISION_NUMBERS);
      a[i++] = R_DECISION; a[i++] = line;
      a[i++] = v[0] as number; a[i++] = v[1] as number; a[i++] = v[2] as number; a[i++] = v[4] as number; // t, listener, id, caller port
      a[i++] = this.sid(v[5]); a[i++] = v[6] as number; a[i++] = v[7] as number; a[i++] = this.sid(v[8]); // verdict, attempts, latencyUs, by
      b.strs.push(v[3] as string); // caller address
    }
    b.length = i;
  }

  event(e: SessionEvent, line: number): void {
    const b = this.batch;
    const a = this.room(OTHER_NUMBERS);
    a[b.length] = R_OTHER;
    a[b.length + 1] = line;
    b.length += OTHER_NUMBERS;
    b.others.push(e);
  }
}

/** An offer as decoded from the worker: the SQOS arrives serialized. */
type TransportOffer = OfferEvent & { sqosJson: string | null };

function hasSqosJson(e: OfferEvent): e is TransportOffer {
  return (e as Partial<TransportOffer>).sqosJson !== undefined;
}

function replayInWorker(path: string, replay: WhatIfReplay, opts: ReplayFileOptions): Promise<ReplayFileResult> {
  if (opts.signal?.aborted) return Promise.resolve({ header: null, summary: replay.summary(true) });
  return new Promise((resolve, reject) => {
    const credits = new Int32Array(new SharedArrayBuffer(4));
    const setup: WorkerSetup = {
      kind: WORKER_KIND, path, name: opts.name!, shapes: opts.shapes ?? true, credits: credits.buffer as SharedArrayBuffer,
    };
    const worker = new Worker(__filename, { workerData: setup });
    const strings: string[] = [];
    let header: SessionHeader | null = null;
    let settled = false;
    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      action();
    };
    const onAbort = (): void => finish(() => resolve({ header, summary: replay.summary(true) }));
    opts.signal?.addEventListener('abort', onAbort);

    // Messages wait here and are replayed one per turn of the event loop: a MessagePort delivers
    // everything queued in one go, and replaying it all at once would starve signals (Ctrl-C),
    // timers and output flushes. Each is credited back as soon as it is replayed, so the worker
    // keeps the queue from running dry while this thread runs the script.
    const queue: ReaderMessage[] = [];
    let scheduled = false;
    let exitCode: number | null = null;
    const stopped = (): void => finish(() => reject(new Error(`the session reader thread stopped (exit code ${exitCode})`)));
    const pump = (): void => {
      scheduled = false;
      const m = queue.shift();
      if (m === undefined || settled) return;
      if (!replayMessage(m)) return;
      if (queue.length !== 0) {
        scheduled = true;
        setImmediate(pump);
      } else if (exitCode !== null) {
        stopped();
      }
    };
    /** Returns false once the replay is over (settled). */
    const replayMessage = (m: ReaderMessage): boolean => {
      try {
        for (const s of m.strings) strings.push(s);
        if (m.header) header = m.header;
        const lastLine = decodeRecords(m.batch, strings, replay);
        if (m.progress && opts.onProgress) {
          opts.onProgress({ lines: lastLine, bytesRead: m.progress[0], totalBytes: m.progress[1], requests: replay.requestCount });
        }
      } catch (e) {
        if (e instanceof ReplayAborted) onAbort();
        else finish(() => reject(e));
        return false;
      }
      if (m.error) {
        const x = m.error;
        const err = x.file !== undefined && x.line !== undefined && x.detail !== undefined
          ? new SessionFormatError(x.file, x.line, x.detail, x.field)
          : Object.assign(new Error(x.message), x.code ? { code: x.code } : {});
        finish(() => reject(err));
        return false;
      }
      if (m.done) {
        const summary = replay.finish(m.done.warnings);
        finish(() => resolve({ header, summary }));
        return false;
      }
      if (Atomics.sub(credits, 0, 1) - 1 <= RESUME_CHUNKS) Atomics.notify(credits, 0);
      return true;
    };
    worker.on('message', (m: ReaderMessage) => {
      if (settled) return;
      queue.push(m);
      if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    });
    worker.on('error', (e) => finish(() => reject(e)));
    worker.on('exit', (code) => {
      // Normally after its last message, which may still be queued here.
      exitCode = code;
      if (!scheduled && queue.length === 0) stopped();
    });
  });
}

/** Feeds a batch of records to the replay; returns the last line number. */
function decodeRecords(batch: RecordBatch, st: string[], replay: WhatIfReplay): number {
  const a = batch.nums;
  const strs = batch.strs;
  let line = 0;
  let j = 0; // strs
  let k = 0; // others
  let callee: OfferEvent['callee'] | null = null;
  for (let i = 0; i < batch.length;) {
    const kind = a[i]!;
    line = a[i + 1]!;
    if (kind === R_OFFER) {
      const calleeFamily = st[a[i + 8]!] as Family;
      const calleeAddress = st[a[i + 9]!]!;
      const calleePort = a[i + 10]!;
      // Offers of one listener share their callee: one object for a run of them (nothing changes it).
      if (callee === null || callee.port !== calleePort || callee.address !== calleeAddress || callee.family !== calleeFamily) {
        callee = { family: calleeFamily, address: calleeAddress, port: calleePort, raw: '' };
      }
      const e: TransportOffer = {
        type: 'offer', t: a[i + 2]!, listener: a[i + 3]!, id: a[i + 4]!, attempt: a[i + 5]!,
        caller: { family: st[a[i + 6]!] as Family, address: strs[j]!, port: a[i + 7]!, raw: '' },
        callee,
        callerData: strs[j + 1]!, callerDataSource: st[a[i + 11]!] as CallerDataSource,
        sqos: null, sqosJson: a[i + 15] === 1 ? strs[j + 2]! : null, gqos: null,
        verdict: st[a[i + 12]!] as OfferEvent['verdict'], ask: a[i + 13] === 1 ? true : undefined,
        by: st[a[i + 14]!] as Decider,
        conditionUs: 0, result: '', scriptVersion: null,
      };
      j += a[i + 15] === 1 ? 3 : 2;
      i += OFFER_NUMBERS;
      replay.push(e, line);
    } else if (kind === R_DECISION) {
      const e: DecisionEvent = {
        type: 'decision', t: a[i + 2]!, listener: a[i + 3]!, id: a[i + 4]!,
        caller: { address: strs[j]!, port: a[i + 5]! },
        verdict: st[a[i + 6]!] as FinalVerdict, attempts: a[i + 7]!, latencyUs: a[i + 8]!,
        by: st[a[i + 9]!] as Decider | 'system', result: '',
      };
      j += 1;
      i += DECISION_NUMBERS;
      replay.push(e, line);
    } else {
      i += OTHER_NUMBERS;
      replay.push(batch.others[k++]!, line);
    }
  }
  return line;
}

/**
 * JSON.stringify for recorded SQOS, about twice as fast: FLOWSPEC values are numbers, and the
 * `derived` maps are the same from one offer to the next, so their text is kept. The output is
 * exactly JSON.stringify's (same keys, same order); anything unexpected goes through it.
 */
export class SqosSerializer {
  private readonly keyJson = new Map<string, string>();
  private readonly derived = new Map<string, { keys: string[]; values: unknown[]; json: string }>();

  json(sqos: unknown): string {
    if (!isPlainObject(sqos)) return JSON.stringify(sqos);
    let out = '{';
    let sep = '';
    for (const k of Object.keys(sqos)) {
      const v = sqos[k];
      const text = (k === 'sending' || k === 'receiving') && isPlainObject(v) ? this.flowspec(k, v) : JSON.stringify(v);
      if (text !== undefined) {
        out += `${sep}${this.key(k)}:${text}`;
        sep = ',';
      }
    }
    return `${out}}`;
  }

  private flowspec(slot: string, f: Record<string, unknown>): string {
    let out = '{';
    let sep = '';
    for (const k of Object.keys(f)) {
      const v = f[k];
      const text = typeof v === 'number' && Number.isFinite(v) ? String(v)
        : k === 'derived' && isPlainObject(v) ? this.derivedJson(slot, v) : JSON.stringify(v);
      if (text !== undefined) {
        out += `${sep}${this.key(k)}:${text}`;
        sep = ',';
      }
    }
    return `${out}}`;
  }

  private derivedJson(slot: string, d: Record<string, unknown>): string {
    const keys = Object.keys(d);
    const last = this.derived.get(slot);
    if (last && last.keys.length === keys.length) {
      let same = true;
      for (let i = 0; i < keys.length && same; i++) same = keys[i] === last.keys[i] && d[keys[i]!] === last.values[i];
      if (same) return last.json;
    }
    const json = JSON.stringify(d);
    this.derived.set(slot, { keys, values: keys.map((k) => d[k]), json });
    return json;
  }

  private key(k: string): string {
    let j = this.keyJson.get(k);
    if (j === undefined) {
      j = JSON.stringify(k);
      if (this.keyJson.size < 64) this.keyJson.set(k, j);
    }
    return j;
  }
}


/** The worker's side: read, encode, send, wait for credit. */
function runReaderWorker(setup: WorkerSetup): void {
  const port = parentPort!;
  const credits = new Int32Array(setup.credits);
  const encoder = new RecordEncoder();
  let sent = 0; // strings sent so far
  const send = (extra: Partial<ReaderMessage>): void => {
    const strings = encoder.strings.slice(sent);
    sent += strings.length;
    const batch = encoder.take();
    port.postMessage({ strings, batch, ...extra } satisfies ReaderMessage, [batch.nums.buffer]);
  };
  let header: SessionHeader | undefined;
  streamSessionRecords(setup.path, {
    name: setup.name,
    layouts: LAYOUTS,
    shapes: setup.shapes,
    serialize: encoder.serialize,
    onHeader: (h) => { header = h; },
    onRecord: (layout, values, line) => encoder.record(layout, values, line),
    onEvent: (e, line) => encoder.event(e, line),
    onProgress: (bytesRead, totalBytes) => {
      send({ progress: [bytesRead, totalBytes], ...(header ? { header } : {}) });
      header = undefined;
      // Back-pressure: wait while the replay has too many chunks to catch up on.
      const inFlight = Atomics.add(credits, 0, 1) + 1;
      if (inFlight > MAX_CHUNKS_IN_FLIGHT) {
        for (let n = Atomics.load(credits, 0); n > RESUME_CHUNKS; n = Atomics.load(credits, 0)) Atomics.wait(credits, 0, n, 1000);
      }
    },
  }).then(
    (r) => send({ done: { warnings: r.warnings }, ...(header ? { header } : {}) }),
    (e: unknown) => {
      const err = e as Error & Partial<SessionFormatError> & { code?: string };
      send({
        error: e instanceof SessionFormatError
          ? { file: err.file, line: err.line, detail: err.detail, field: err.field, message: err.message }
          : { message: err?.message ?? String(e), code: err?.code },
      });
    },
  );
}

if (!isMainThread && (workerData as Partial<WorkerSetup> | null)?.kind === WORKER_KIND) {
  runReaderWorker(workerData as WorkerSetup);
}
