// A listener as the workbench runs it: the native acceptor, the condition script that decides its
// offers, a person's pending decisions, and the session recorder. Plain Node; the CLI, the host
// process and the tests all drive this class.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CF_ACCEPT, CF_DEFER, CF_REJECT, DECIDER_CODES, createNativeListener,
  type NativeDecision, type NativeEvent, type NativeListener, type OfferJson,
} from '../../native/index';
import type { Sandbox, ConditionScript, ScriptCallResult } from './script/sandbox';
import type { SessionEventInput } from './session/recorder';
import type { DecisionEvent, HandlerEvent, OfferEvent, RecordedListenerOptions, VerdictCounts } from './session/events';
import type { ConditionRequest, Decider, FinalVerdict, Qos, Verdict } from './types';

/** A listener's options: what the session records (less `bind`), plus what it does not. */
export interface ListenerOptions extends Omit<RecordedListenerOptions, 'bind'> {
  /** Bind address (the session calls it `bind`). */
  address: string;
  /** dwCallbackData handed to every condition call. */
  callbackData: number;
  /** Script memory limit, bytes. */
  memoryLimit: number;
}

/** Where a listener's events go: a SessionRecorder, or the host, which also records them. */
export interface SessionSink {
  record(event: SessionEventInput): void;
}

/** The options as a session file records them. */
export function recordedOptions(o: ListenerOptions): RecordedListenerOptions {
  const { address, callbackData: _callbackData, memoryLimit: _memoryLimit, ...recorded } = o;
  return { bind: address, ...recorded };
}

export const DEFAULT_LISTENER_OPTIONS: ListenerOptions = {
  address: '127.0.0.1',
  port: 0,
  backlog: 128,
  discipline: 'winsock',
  handler: 'echo',
  fallback: 'reject',
  budgetMs: 20,
  deferTimeoutMs: 30_000,
  reofferMs: 5,
  deferAcceptS: 0,
  fastOpen: false,
  callbackData: 0,
  memoryLimit: 32 * 1024 * 1024,
};

/**
 * The native side waits this much longer than the script's own budget before it gives the
 * default verdict: the script is stopped by its interrupt budget; this margin covers a host JS
 * thread that is busy elsewhere (garbage collection, a large write).
 */
export const NATIVE_BUDGET_MARGIN_MS = 250;

export interface FinalDecision {
  id: number;
  listener: number;
  caller: { address: string; port: number };
  verdict: FinalVerdict;
  attempts: number;
  latencyUs: number;
  by: Decider | 'system';
  result: string;
}

export interface ScriptVersion {
  version: number;
  hash: string;
  filename: string;
  source: string;
}

export interface PersonDecision {
  verdict: Verdict;
  calleeData?: Uint8Array;
  group?: number;
}

export interface ListenerSummary {
  counts: VerdictCounts;
  total: number;
  offers: number;
  roundTripUs: { p50: number | null; p99: number | null; samples: number };
}

const EMPTY = new Uint8Array(0);
const VERDICT_CODES: Record<Verdict, number> = { accept: CF_ACCEPT, reject: CF_REJECT, defer: CF_DEFER };
const CODE_VERDICTS: Verdict[] = ['accept', 'reject', 'defer'];

/**
 * Events: 'decision' (FinalDecision), 'offer' (id, attempt, verdict, by), 'log' ({id, message}),
 * 'script-error' ({id, code, message, line?, column?}), 'handler' (HandlerEvent fields), 'accept-error' ({code, message}: the OS refused an accept).
 */
export class WorkbenchListener extends EventEmitter {
  readonly id: number;
  readonly options: ListenerOptions;
  private native: NativeListener | null = null;
  private script: ConditionScript | null = null;
  private scriptVersion: ScriptVersion | null = null;
  private versions = 0;
  private readonly personDecisions = new Map<number, PersonDecision>();
  /** Requests offered at least once and not yet final. */
  private readonly pending = new Set<number>();
  /** Requests the script handed to a person ("ask"), not yet decided. */
  private readonly awaitingPerson = new Set<number>();
  private readonly counts: VerdictCounts = { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };
  private offers = 0;
  private stopped = false;
  private finalSummary: ListenerSummary | null = null;
  private listenerInfo: ConditionRequest['listener'];

  constructor(
    id: number,
    options: Partial<ListenerOptions>,
    private readonly sandbox: Sandbox,
    private recorder: SessionSink | null = null,
  ) {
    super();
    this.id = id;
    this.options = { ...DEFAULT_LISTENER_OPTIONS, ...options };
    this.listenerInfo = { id, address: this.options.address, port: this.options.port, discipline: this.options.discipline };
  }

  get address(): string { return this.native?.address ?? this.options.address; }
  get port(): number { return this.native?.port ?? this.options.port; }
  get backend(): 'posix' | 'winsock' { return this.native?.backend ?? (process.platform === 'win32' ? 'winsock' : 'posix'); }
  get currentScript(): ScriptVersion | null { return this.scriptVersion; }
  get pendingForPerson(): number[] { return [...this.awaitingPerson]; }

  /** Records this listener into `recorder` from now on (attach before start() to get everything). */
  attachRecorder(recorder: SessionSink | null): void {
    this.recorder = recorder;
  }

  /**
   * Compiles and swaps in a condition script atomically. A script that does not compile throws
   * (ScriptCompileError with line and column) and the running one stays. `version` numbers it (a
   * host keeps numbering across restarts of a listener); default: the next number.
   */
  setScript(source: string, filename: string, version?: number): ScriptVersion {
    const compiled = this.sandbox.compile(source, filename, { memoryLimit: this.options.memoryLimit, budgetMs: this.options.budgetMs });
    const previous = this.script;
    this.script = compiled;
    this.versions = version ?? this.versions + 1;
    this.scriptVersion = {
      version: this.versions,
      hash: createHash('sha256').update(source).digest('hex'),
      filename,
      source,
    };
    previous?.dispose();
    // Before start() the script is recorded with the listener, after it.
    if (this.native) this.recorder?.record({ type: 'script', listener: this.id, ...this.scriptVersion });
    // A new script gets its chance at every deferred request straight away.
    this.native?.wake();
    return this.scriptVersion;
  }

  /** Binds and starts accepting. Throws with `code` (e.g. EADDRINUSE) when the socket cannot be had. */
  start(): void {
    if (this.native) throw new Error('listener already started');
    const o = this.options;
    this.native = createNativeListener({
      address: o.address,
      port: o.port,
      backlog: o.backlog,
      discipline: o.discipline,
      handler: o.handler,
      deferAcceptS: o.deferAcceptS,
      fastOpen: o.fastOpen,
      conditionalAccept: o.conditionalAccept ?? false,
      deferTimeoutMs: o.deferTimeoutMs,
      reofferMs: o.reofferMs,
      budgetMs: o.budgetMs + NATIVE_BUDGET_MARGIN_MS,
      defaultVerdict: VERDICT_CODES[o.fallback],
      callbackData: o.callbackData,
    });
    this.listenerInfo = { id: this.id, address: this.native.address, port: this.native.port, discipline: o.discipline };
    this.recorder?.record({ type: 'listener', listener: this.id, address: this.native.address, port: this.native.port, options: recordedOptions(o) });
    if (this.scriptVersion) this.recorder?.record({ type: 'script', listener: this.id, ...this.scriptVersion });
    this.native.startRaw((id, attempt, json, sqos) => this.onOffer(id, attempt, json, sqos), (events) => this.onEvents(events));
  }

  /**
   * A person's verdict for a request. Applied on that request's next offer, which happens at once.
   * Throws for a request that is not pending (unknown or already final).
   */
  decide(requestId: number, decision: PersonDecision): void {
    if (!this.native || this.stopped) throw new Error('listener is not running');
    if (!this.pending.has(requestId)) throw new Error(`request ${requestId} is not pending (unknown or already final)`);
    this.personDecisions.set(requestId, decision);
    this.native.wake(requestId);
  }

  queueDepths(): { kernel: number | null; held: number; deferred: number } {
    return this.native ? this.native.queueDepths() : { kernel: null, held: 0, deferred: 0 };
  }

  /** Stops accepting; every pending request reaches a final state before this returns. */
  stop(): ListenerSummary {
    if (this.finalSummary) return this.finalSummary;
    this.stopped = true;
    this.native?.stop(); // delivers the last events synchronously
    this.script?.dispose();
    this.script = null;
    this.finalSummary = this.summary();
    return this.finalSummary;
  }

  summary(): ListenerSummary {
    if (this.finalSummary) return this.finalSummary;
    const rt = this.native?.roundTrip();
    return {
      counts: { ...this.counts },
      total: Object.values(this.counts).reduce((a, b) => a + b, 0),
      offers: this.offers,
      roundTripUs: { p50: rt?.p50Us ?? null, p99: rt?.p99Us ?? null, samples: rt?.samples ?? 0 },
    };
  }

  // ---- accept path -------------------------------------------------------------------------

  private onOffer(id: number, attempt: number, json: string, sqosJson: string | null): NativeDecision {
    this.offers += 1;
    this.pending.add(id);
    const person = this.personDecisions.get(id);
    if (person) {
      this.personDecisions.delete(id);
      this.awaitingPerson.delete(id);
      this.recordOffer(id, attempt, json, sqosJson, person.verdict, 'person', 0, undefined, person.calleeData, person.group);
      return this.toNative(person.verdict, 'person', false, person.calleeData, person.group);
    }
    if (!this.script) {
      // No condition script: the built-in condition accepts every request.
      this.recordOffer(id, attempt, json, sqosJson, 'accept', 'script', 0);
      return CF_ACCEPT;
    }
    const offer = JSON.parse(json) as OfferJson;
    const req: ConditionRequest = {
      id,
      caller: offer.caller,
      callee: offer.callee,
      callerData: offer.callerData === '' ? EMPTY : Buffer.from(offer.callerData, 'base64'),
      callerDataSource: offer.callerDataSource,
      sqos: null, // travels as sqosJson, parsed inside the sandbox only if the script reads it
      gqos: null,
      attempt,
      queue: offer.queue,
      listener: this.listenerInfo,
      callbackData: offer.callbackData,
    };
    const result = this.script.run(req, { budgetMs: this.options.budgetMs, fallback: this.options.fallback, sqosJson });
    for (const message of result.logs) {
      this.emit('log', { id, message });
      this.recorder?.record({ type: 'log', listener: this.id, id, message });
    }
    if (result.error) {
      const e = { id, ...result.error };
      this.emit('script-error', e);
      this.recorder?.record({ type: 'error', listener: this.id, ...e });
    }
    if (result.ask) this.awaitingPerson.add(id);
    this.recordOffer(id, attempt, offer, sqosJson, result.verdict, result.by, result.conditionUs, result, result.calleeData, result.group);
    return this.toNative(result.verdict, result.by, result.ask, result.calleeData, result.group);
  }

  private toNative(verdict: Verdict, by: Decider, park: boolean, calleeData?: Uint8Array, group?: number): NativeDecision {
    const d: { verdict: number; by: number; park: boolean; calleeData?: Uint8Array; group?: number } = {
      verdict: VERDICT_CODES[verdict], by: DECIDER_CODES[by], park,
    };
    if (calleeData) d.calleeData = calleeData;
    if (group !== undefined) d.group = group;
    return d;
  }

  private recordOffer(
    id: number, attempt: number, offer: string | OfferJson, sqosJson: string | null, verdict: Verdict, by: Decider, conditionUs: number,
    result?: ScriptCallResult, calleeData?: Uint8Array, group?: number,
  ): void {
    const ask = result?.ask ?? false;
    this.emit('offer', { id, attempt, verdict, by, ask });
    if (!this.recorder) return;
    const sqos = sqosJson === null ? null : JSON.parse(sqosJson) as Qos;
    // Parsed only when recording, and only once: the script path has parsed it already.
    const o = typeof offer === 'string' ? JSON.parse(offer) as OfferJson : offer;
    this.writeOffer(o, sqos, verdict, by, conditionUs, {
      ...(ask ? { ask: true } : {}),
      ...(calleeData ? { calleeData: Buffer.from(calleeData).toString('base64') } : {}),
      ...(group !== undefined ? { group } : {}),
      ...(result?.error ? { error: result.error } : {}),
    });
  }

  /** An offer event; the native offer JSON already has the session's shapes (base64 bytes). */
  private writeOffer(
    o: OfferJson, sqos: Qos | null, verdict: Verdict, by: Decider, conditionUs: number,
    extra: Pick<OfferEvent, 'ask' | 'calleeData' | 'group' | 'error'>,
  ): void {
    this.recorder?.record({
      type: 'offer',
      listener: this.id,
      id: o.id,
      attempt: o.attempt,
      caller: o.caller,
      callee: o.callee,
      callerData: o.callerData,
      callerDataSource: o.callerDataSource,
      sqos,
      gqos: null,
      verdict,
      by,
      conditionUs: Math.round(conditionUs),
      result: verdict === 'accept' ? 'OK' : verdict === 'reject' ? 'WSAECONNREFUSED' : 'WSATRY_AGAIN',
      scriptVersion: this.scriptVersion?.version ?? null,
      ...extra,
    });
  }

  private onEvents(events: NativeEvent[]): void {
    for (const e of events) {
      switch (e.type) {
        case 'decision': {
          this.counts[e.verdict] += 1;
          this.pending.delete(e.id);
          this.personDecisions.delete(e.id);
          this.awaitingPerson.delete(e.id);
          const d: FinalDecision = {
            id: e.id, listener: this.id, caller: { address: e.callerAddress, port: e.callerPort },
            verdict: e.verdict, attempts: e.attempts, latencyUs: e.latencyUs, by: e.by, result: e.result,
          };
          const rec: Omit<DecisionEvent, 't'> = { type: 'decision', ...d };
          this.recorder?.record(rec);
          this.emit('decision', d);
          break;
        }
        case 'handler': {
          const h: Omit<HandlerEvent, 't'> = {
            type: 'handler', listener: this.id, id: e.id, handler: this.options.handler,
            event: e.event, bytesIn: e.bytesIn, bytesOut: e.bytesOut,
          };
          this.recorder?.record(h);
          this.emit('handler', h);
          break;
        }
        case 'default-verdict': {
          // JS did not answer within the native budget: the native side applied the fallback.
          const verdict = CODE_VERDICTS[e.verdict] ?? 'reject';
          const waitedMs = this.options.budgetMs + NATIVE_BUDGET_MARGIN_MS;
          this.emit('offer', { id: e.id, attempt: e.attempt, verdict, by: 'default', ask: false });
          this.writeOffer(e.offer, e.sqos, verdict, 'default', waitedMs * 1000, {
            error: { code: 'budget', message: `no verdict from the host within ${waitedMs} ms; applied the fallback (${verdict})` },
          });
          break;
        }
        case 'error': {
          this.recorder?.record({ type: 'error', listener: this.id, code: e.result, message: e.message });
          this.emit('accept-error', { code: e.result, message: e.message });
          break;
        }
      }
    }
  }
}
