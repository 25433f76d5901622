// The accept host: everything a UI drives, in plain Node. Owns the listeners and their scripts, the
// pending requests and a person's decisions, metrics, the recording, the caller simulator and the
// sessions opened for replay. It answers protocol methods (electron/protocol/schema.ts) with
// already-validated params and publishes HostEvents; connection.ts puts it on a transport.
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  PROTOCOL_VERSION,
  type HostEvent, type ListenerState, type LostState, type MethodName, type Params, type PendingRequest, type RequestDetail, type Result,
} from '../protocol/schema';
import {
  DEFAULT_LISTENER_OPTIONS, NATIVE_BUDGET_MARGIN_MS, WorkbenchListener, recordedOptions,
  type ListenerOptions, type SessionSink,
} from './listener';
import { ScriptCompileError, type ConditionScript, type Sandbox } from './script/sandbox';
import { SessionRecorder, type SessionEventInput } from './session/recorder';
import { addOffer, finishRequest, newRequestDetail } from './request-detail';
import type { VerdictCounts } from './session/events';
import { SessionFormatError } from './session/reader';
import { SourceRangeError, parseSources, runSimulation } from './simulator';
import { replaySessionFile, type RequestResult } from './replay/whatif';
import { LiveReplayError, loadLivePlan, runLiveReplay } from './replay/live';
import { openSessionTimeline, type SessionTimeline } from './replay/timeline';
import { base64Bytes } from './replay/summary';
import type { ConditionRequest, FinalVerdict, QueueDepths } from './types';

/** A failed request: `code` goes to the client with the message. */
export class HostError extends Error {
  constructor(readonly code: 'not-found' | 'conflict' | 'invalid-params' | 'invalid-script' | 'failed' | 'cancelled', message: string) {
    super(message);
  }
}

export interface AcceptHostOptions {
  sandbox: Sandbox;
  appVersion: string;
  /** How often running listeners' queue depths are sampled, ms (default 100). */
  queueSampleMs?: number;
  /** Final requests kept per listener for the inspector and test runs (default 2,000). */
  recentRequests?: number;
  /** Samples kept per metric ring (default 20,000). */
  metricSamples?: number;
}


/** A ring of [t, ...values] tuples with a fixed capacity. */
class Ring<T> {
  private items: T[] = [];
  private start = 0;
  constructor(private readonly capacity: number) {}
  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item);
    else { this.items[this.start] = item; this.start = (this.start + 1) % this.capacity; }
  }
  toArray(): T[] {
    return this.start === 0 ? this.items.slice() : [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
  clear(): void { this.items = []; this.start = 0; }
}

interface DecideWaiter {
  resolve: (r: { ok: boolean; error?: string; final?: FinalVerdict }) => void;
  timer: NodeJS.Timeout;
}

interface ManagedListener {
  id: number;
  options: ListenerOptions;
  state: ListenerState['state'];
  error: string | null;
  wl: WorkbenchListener | null;
  bound: { address: string; port: number } | null;
  script: { source: string; filename: string } | null;
  history: Array<{ version: number; hash: string; filename: string; t: number; source: string }>;
  pending: Map<number, RequestDetail>;
  recent: Map<number, RequestDetail>;
  counts: VerdictCounts;
  offers: number;
  queue: QueueDepths;
  lastQueueEventT: number;
  latency: Ring<[number, number]>;
  condition: Ring<[number, number]>;
  queueSamples: Ring<[number, number, number, number]>;
  verdictBuckets: Ring<[number, number, number, number, number, number]>;
  currentBucket: [number, number, number, number, number, number] | null;
  waiters: Map<number, DecideWaiter[]>;
}

interface Job {
  id: number;
  kind: 'simulate' | 'what-if' | 'live-replay' | 'open-session';
  abort: AbortController;
}

const VERDICT_INDEX = { accept: 1, reject: 2, expire: 3, withdraw: 4, error: 5 } as const;

function zeroCounts(): VerdictCounts {
  return { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

export class AcceptHost {
  readonly hostId = randomUUID();
  readonly appVersion: string;
  readonly backend: 'posix' | 'winsock' = process.platform === 'win32' ? 'winsock' : 'posix';
  private readonly sandbox: Sandbox;
  private readonly t0 = performance.now();
  private readonly listeners = new Map<number, ManagedListener>();
  private nextListenerId = 1;
  private readonly subscribers = new Set<(e: HostEvent) => void>();
  private recorder: SessionRecorder | null = null;
  private recording: { path: string; startedT: number; events: number; error: string | null } | null = null;
  private readonly jobs = new Map<number, Job>();
  private nextJobId = 1;
  private readonly sessions = new Map<number, SessionTimeline>();
  private readonly sessionOwners = new Map<number, object>();
  private readonly releasedCallers = new WeakSet<object>();
  private nextSessionId = 1;
  private sampler: NodeJS.Timeout | null = null;
  private readonly queueSampleMs: number;
  private readonly recentCap: number;
  private readonly metricCap: number;
  private closed = false;
  /** Told whenever what a supervisor would need after a crash changes (listeners, recording). */
  onStateChange: ((lost: LostState) => void) | null = null;

  constructor(opts: AcceptHostOptions) {
    this.sandbox = opts.sandbox;
    this.appVersion = opts.appVersion;
    this.queueSampleMs = opts.queueSampleMs ?? 100;
    this.recentCap = opts.recentRequests ?? 2000;
    this.metricCap = opts.metricSamples ?? 20_000;
  }

  /** Host time: ms since the host started, to the µs. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  hello(): { kind: 'hello'; protocol: number; appVersion: string; backend: 'posix' | 'winsock'; platform: string; hostId: string } {
    return { kind: 'hello', protocol: PROTOCOL_VERSION, appVersion: this.appVersion, backend: this.backend, platform: process.platform, hostId: this.hostId };
  }

  /** Every HostEvent, as it happens. Returns an unsubscribe function. */
  subscribe(fn: (e: HostEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** What would be lost if this process died now: running listeners and the recording. */
  lostState(): LostState {
    return {
      listeners: [...this.listeners.values()].filter((m) => m.state === 'running').map((m) => ({ options: { ...m.options, conditionalAccept: m.options.conditionalAccept ?? false }, script: m.script })),
      recording: this.recording?.path ?? null,
    };
  }

  /** Answers one method. `params` must have been validated against its schema. */
  /**
   * Answers one request. `caller` stands for the connection that asked (attachConnection passes
   * one per connection): what it opens (sessions for replay) is closed by releaseCaller when it
   * goes away.
   */
  async handle<M extends MethodName>(method: M, params: Params<M>, caller: object | null = null): Promise<Result<M>> {
    if (this.closed) throw new HostError('failed', 'the host is shutting down');
    const fn = (this.methods as Record<string, (p: unknown, caller: object | null) => unknown>)[method];
    if (!fn) throw new HostError('not-found', `unknown method ${method}`);
    return await fn.call(this, params, caller) as Result<M>;
  }

  /** The connection `caller` is gone: the sessions it opened are closed (nobody else knows their ids). */
  releaseCaller(caller: object): void {
    this.releasedCallers.add(caller);
    for (const [id, owner] of this.sessionOwners) {
      if (owner !== caller) continue;
      this.sessionOwners.delete(id);
      this.sessions.delete(id);
    }
  }

  /** Stops every listener, job and the recording. */
  close(): void {
    if (this.closed) return;
    for (const job of this.jobs.values()) job.abort.abort('host closed');
    for (const m of this.listeners.values()) this.stopListener(m);
    this.stopRecording('host closed');
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    this.closed = true;
  }

  // ---- methods ---------------------------------------------------------------------------------

  private readonly methods: { [M in MethodName]: (p: Params<M>, caller: object | null) => Result<M> | Promise<Result<M>> } = {
    'host.info': () => ({
      protocol: PROTOCOL_VERSION, appVersion: this.appVersion, backend: this.backend, platform: process.platform, t: this.now(),
      listeners: [...this.listeners.values()].map((m) => this.stateOf(m)),
      recording: this.recordingState(),
    }),

    'listener.create': (p) => {
      const options: ListenerOptions = { ...DEFAULT_LISTENER_OPTIONS, conditionalAccept: false, ...p.options };
      let script: ManagedListener['script'] = null;
      if (p.script) {
        const filename = p.script.filename ?? 'condition.js';
        this.compileOrThrow(p.script.source, filename, options).dispose();
        script = { source: p.script.source, filename };
      }
      const id = this.nextListenerId++;
      const m: ManagedListener = {
        id, options, state: 'stopped', error: null, wl: null, bound: null, script, history: [],
        pending: new Map(), recent: new Map(), counts: zeroCounts(), offers: 0,
        queue: { kernel: null, held: 0, deferred: 0 }, lastQueueEventT: -Infinity,
        latency: new Ring(this.metricCap), condition: new Ring(this.metricCap), queueSamples: new Ring(this.metricCap),
        verdictBuckets: new Ring(3600), currentBucket: null, waiters: new Map(),
      };
      if (script) m.history.push({ version: 1, hash: sha256(script.source), filename: script.filename, t: this.now(), source: script.source });
      this.listeners.set(id, m);
      return this.listenerChanged(m);
    },

    'listener.update': (p) => {
      const m = this.listener(p.listener);
      if (m.state === 'running') throw new HostError('conflict', `listener ${m.id} is running; stop it before changing its options`);
      m.options = { ...m.options, ...p.options };
      if (m.state === 'failed') { m.state = 'stopped'; m.error = null; }
      return this.listenerChanged(m);
    },

    'listener.start': (p) => {
      const m = this.listener(p.listener);
      if (m.state === 'running') throw new HostError('conflict', `listener ${m.id} is already running`);
      this.startListener(m);
      return this.stateOf(m);
    },

    'listener.stop': (p) => {
      const m = this.listener(p.listener);
      this.stopListener(m);
      return this.stateOf(m);
    },

    'listener.remove': (p) => {
      const m = this.listener(p.listener);
      this.stopListener(m);
      this.listeners.delete(m.id);
      this.publish({ type: 'listener-removed', t: this.now(), listener: m.id });
      this.stateChanged();
      return {};
    },

    'listener.list': () => [...this.listeners.values()].map((m) => this.stateOf(m)),

    'script.validate': (p) => {
      const problem = this.compileProblem(p.source, p.filename ?? 'condition.js', DEFAULT_LISTENER_OPTIONS);
      return { ok: problem === null, problem };
    },

    'script.apply': (p) => {
      const m = this.listener(p.listener);
      const filename = p.filename ?? m.script?.filename ?? 'condition.js';
      const version = (m.history.at(-1)?.version ?? 0) + 1;
      if (m.wl) {
        try {
          m.wl.setScript(p.source, filename, version);
        } catch (e) {
          if (e instanceof ScriptCompileError) return { ok: false, problem: problemOf(e), script: null };
          throw e;
        }
      } else {
        const problem = this.compileProblem(p.source, filename, m.options);
        if (problem) return { ok: false, problem, script: null };
      }
      m.script = { source: p.source, filename };
      const entry = { version, hash: sha256(p.source), filename, t: this.now(), source: p.source };
      m.history.push(entry);
      const { source: _source, ...script } = entry;
      this.publish({ type: 'script', t: entry.t, listener: m.id, script });
      this.listenerChanged(m);
      return { ok: true, problem: null, script };
    },

    'script.history': (p) => this.listener(p.listener).history.map((h) => ({ ...h })),

    'script.testRun': (p) => {
      const m = p.listener !== undefined ? this.listener(p.listener) : null;
      const options = m?.options ?? DEFAULT_LISTENER_OPTIONS;
      const filename = p.filename ?? 'condition.js';
      let script: ConditionScript;
      try {
        script = this.sandbox.compile(p.source, filename, { memoryLimit: options.memoryLimit, budgetMs: options.budgetMs });
      } catch (e) {
        if (e instanceof ScriptCompileError) return { ok: false, problem: problemOf(e), run: null };
        throw e;
      }
      try {
        const { req, sqosJson } = this.testRequest(m, p.request);
        const r = script.run(req, { budgetMs: options.budgetMs, fallback: options.fallback, sqosJson });
        return {
          ok: true, problem: null,
          run: {
            verdict: r.verdict, by: r.by, ask: r.ask, logs: r.logs, conditionUs: Math.round(r.conditionUs * 1000) / 1000,
            ...(r.calleeData ? { calleeData: Buffer.from(r.calleeData).toString('base64') } : {}),
            ...(r.group !== undefined ? { group: r.group } : {}),
            ...(r.error ? { error: r.error } : {}),
          },
        };
      } finally {
        script.dispose();
      }
    },

    'request.list': (p) => {
      const out: PendingRequest[] = [];
      const ms = p.listener !== undefined ? [this.listener(p.listener)] : [...this.listeners.values()];
      for (const m of ms) for (const r of m.pending.values()) out.push(pendingRow(r));
      return out;
    },

    'request.get': (p) => {
      const m = this.listener(p.listener);
      const r = m.pending.get(p.requestId) ?? m.recent.get(p.requestId);
      if (!r) throw new HostError('not-found', `listener ${m.id} has no request ${p.requestId} (unknown, or decided too long ago)`);
      return structuredClone(r);
    },

    'decisions.recent': (p) => {
      const ms = p.listener !== undefined ? [this.listener(p.listener)] : [...this.listeners.values()];
      const out: Result<'decisions.recent'> = [];
      for (const m of ms) {
        for (const r of m.recent.values()) {
          const f = r.final;
          if (!f) continue;
          out.push({
            type: 'decision', t: f.t, listener: m.id, id: r.id, caller: { address: r.caller.address, port: r.caller.port },
            verdict: f.verdict, attempts: r.offers.length, latencyUs: f.latencyUs, by: f.by, result: f.result,
          });
        }
      }
      out.sort((a, b) => a.t - b.t);
      return out.slice(-(p.limit ?? 2000));
    },

    decide: async (p) => {
      const results = await Promise.all(p.decisions.map((d) => this.decideOne(d)));
      return { results };
    },

    'metrics.get': (p) => {
      const m = this.listener(p.listener);
      const since = p.sinceT ?? -1;
      const after = <T extends [number, ...number[]]>(arr: T[]): T[] => arr.filter((x) => x[0] > since);
      const buckets = m.verdictBuckets.toArray();
      if (m.currentBucket) buckets.push([...m.currentBucket]);
      return {
        listener: m.id,
        latency: after(m.latency.toArray()),
        conditionUs: after(m.condition.toArray()),
        queue: after(m.queueSamples.toArray()),
        verdicts: after(buckets),
        counts: { ...m.counts },
      };
    },

    'recording.start': (p) => {
      if (this.recorder) throw new HostError('conflict', `already recording to ${this.recorder.path}`);
      let rec: SessionRecorder;
      try {
        rec = SessionRecorder.open(p.path, { appVersion: this.appVersion, backend: this.backend, exclusive: !p.overwrite });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new HostError('conflict', `${p.path} exists: choose another file name (or overwrite it from the desktop app's save dialog)`);
        }
        throw new HostError('failed', `cannot record to ${p.path}: ${errorText(e)}`);
      }
      rec.onError = (err) => {
        if (this.recording) this.recording.error = errorText(err);
        this.publish({ type: 'recording', t: this.now(), recording: this.recordingState() });
      };
      this.recorder = rec;
      this.recording = { path: p.path, startedT: this.now(), events: 0, error: null };
      // Listeners already running: their settings and script come first, as at a start.
      for (const m of this.listeners.values()) {
        if (m.state !== 'running' || !m.bound) continue;
        this.toRecorder({ type: 'listener', listener: m.id, address: m.bound.address, port: m.bound.port, options: recordedOptions(m.options) });
        const h = m.history.at(-1);
        if (h) this.toRecorder({ type: 'script', listener: m.id, version: h.version, hash: h.hash, filename: h.filename, source: h.source });
      }
      const state = this.recordingState()!;
      this.publish({ type: 'recording', t: this.now(), recording: state });
      this.stateChanged();
      return state;
    },

    'recording.stop': () => {
      const state = this.recordingState();
      this.stopRecording('stopped');
      return state;
    },

    'simulate.start': (p) => {
      let sources = null;
      if (p.sources !== undefined) {
        try {
          sources = parseSources(p.sources);
        } catch (e) {
          if (e instanceof SourceRangeError) throw new HostError('invalid-params', `sources: ${e.message}`);
          throw e;
        }
      }
      const job = this.newJob('simulate');
      const total = p.count;
      runSimulation({
        host: p.target.host, port: p.target.port, count: p.count,
        concurrency: p.concurrency, rate: p.rate ?? null,
        data: p.data !== undefined ? Buffer.from(p.data, 'base64') : null,
        fastOpen: p.fastOpen, sources, abortRatio: p.abortRatio, holdMs: p.holdMs ?? null, timeoutMs: p.timeoutMs,
        signal: job.abort.signal,
        progressIntervalMs: 250,
        onProgress: (pr) => this.publish({
          type: 'job-progress', t: this.now(), job: job.id, kind: 'simulate', done: pr.done, total,
          detail: { started: pr.started, inFlight: pr.inFlight, ...pr.outcomes },
        }),
      }).then(
        (report) => this.jobDone(job, report.reason === 'done' ? 'done' : 'cancelled', report),
        (e) => this.jobDone(job, 'failed', undefined, errorText(e)),
      );
      return { job: job.id };
    },

    'job.cancel': (p) => {
      const job = this.jobs.get(p.job);
      if (!job) return { cancelled: false };
      job.abort.abort('cancelled');
      return { cancelled: true };
    },

    'session.open': async (p, caller) => {
      // A job while it reads: progress events (at most ~10 a second) and job.cancel stop it.
      const job = this.newJob('open-session');
      let lastProgress = -Infinity;
      let timeline: SessionTimeline;
      try {
        timeline = await openSessionTimeline(p.path, {
          signal: job.abort.signal,
          onProgress: (bytesRead, totalBytes, requests) => {
            const now = performance.now();
            if (now - lastProgress < 100 && bytesRead < totalBytes) return;
            lastProgress = now;
            this.publish({ type: 'job-progress', t: this.now(), job: job.id, kind: 'open-session', done: bytesRead, total: totalBytes, detail: { requests } });
          },
        });
      } catch (e) {
        const cancelled = job.abort.signal.aborted;
        this.jobDone(job, cancelled ? 'cancelled' : 'failed', undefined, cancelled ? undefined : errorText(e));
        if (cancelled) throw new HostError('cancelled', `opening ${p.path} was cancelled`);
        if (e instanceof SessionFormatError) throw new HostError('invalid-params', e.message);
        throw new HostError('failed', `cannot open ${p.path}: ${errorText(e)}`);
      }
      this.jobDone(job, 'done');
      if (caller && this.releasedCallers.has(caller)) throw new HostError('failed', 'the connection that opened the session is gone');
      const id = this.nextSessionId++;
      this.sessions.set(id, timeline);
      if (caller) this.sessionOwners.set(id, caller);
      return { session: id, ...timeline.info };
    },

    'session.stateAt': (p) => this.session(p.session).stateAt(p.t),

    'session.requests': (p) => this.session(p.session).requests(p.offset ?? 0, p.limit ?? 1000),

    'session.whatIf': (p) => {
      const s = this.session(p.session);
      const script = this.compileOrThrow(p.source, p.filename ?? 'condition.js', DEFAULT_LISTENER_OPTIONS);
      const job = this.newJob('what-if');
      const changed: RequestResult[] = [];
      replaySessionFile(s.path, script, {
        signal: job.abort.signal,
        onResult: (r) => { if (r.changed && changed.length < 10_000) changed.push(r); },
        onProgress: (pr) => this.publish({
          type: 'job-progress', t: this.now(), job: job.id, kind: 'what-if',
          done: pr.bytesRead ?? pr.lines, total: pr.totalBytes, detail: { requests: pr.requests },
        }),
      }).then(
        (r) => this.jobDone(job, r.summary.aborted ? 'cancelled' : 'done', { summary: r.summary, changed }),
        (e) => this.jobDone(job, 'failed', undefined, errorText(e)),
      ).finally(() => script.dispose());
      return { job: job.id };
    },

    'session.liveReplay': (p) => {
      const s = this.session(p.session);
      const job = this.newJob('live-replay');
      (async () => {
        const plan = await loadLivePlan(s.path);
        let done = 0;
        return runLiveReplay(plan, {
          host: p.target.host, port: p.target.port, speed: p.speed ?? 1, timeoutMs: 5000, signal: job.abort.signal,
          onResult: () => {
            done++;
            if (done % 50 === 0 || done === plan.requests.length) {
              this.publish({ type: 'job-progress', t: this.now(), job: job.id, kind: 'live-replay', done, total: plan.requests.length });
            }
          },
        });
      })().then(
        (report) => this.jobDone(job, report.reason === 'done' ? 'done' : 'cancelled', report),
        (e) => this.jobDone(job, 'failed', undefined, e instanceof LiveReplayError ? e.message : errorText(e)),
      );
      return { job: job.id };
    },

    'session.close': (p) => {
      this.session(p.session);
      this.sessions.delete(p.session);
      this.sessionOwners.delete(p.session);
      return {};
    },
  };

  // ---- listeners -------------------------------------------------------------------------------

  private listener(id: number): ManagedListener {
    const m = this.listeners.get(id);
    if (!m) throw new HostError('not-found', `no listener ${id}`);
    return m;
  }

  private session(id: number): SessionTimeline {
    const s = this.sessions.get(id);
    if (!s) throw new HostError('not-found', `no open session ${id}`);
    return s;
  }

  private stateOf(m: ManagedListener): ListenerState {
    const last = m.history.at(-1);
    return {
      id: m.id, state: m.state, error: m.error, backend: this.backend,
      options: { ...m.options, conditionalAccept: m.options.conditionalAccept ?? false },
      bound: m.bound ? { ...m.bound } : null,
      script: last ? { version: last.version, hash: last.hash, filename: last.filename, t: last.t } : null,
      counts: { ...m.counts }, offers: m.offers, pending: m.pending.size, queue: { ...m.queue },
    };
  }

  private listenerChanged(m: ManagedListener): ListenerState {
    const state = this.stateOf(m);
    this.publish({ type: 'listener', t: this.now(), listener: state });
    this.stateChanged();
    return state;
  }

  private startListener(m: ManagedListener): void {
    const sink: SessionSink = { record: (e) => this.onListenerEvent(m, e) };
    const wl = new WorkbenchListener(m.id, m.options, this.sandbox, sink);
    const last = m.history.at(-1);
    if (m.script) {
      try {
        wl.setScript(m.script.source, m.script.filename, last?.version);
      } catch (e) {
        // Compiled when it was applied; only a changed memory limit or budget can refuse it now.
        m.state = 'failed';
        m.error = e instanceof ScriptCompileError ? `script: ${e.toString()}` : errorText(e);
        this.listenerChanged(m);
        throw new HostError('failed', `listener ${m.id}: ${m.error}`);
      }
    }
    m.pending.clear();
    m.recent.clear();
    try {
      wl.start();
    } catch (e) {
      wl.stop();
      m.state = 'failed';
      m.error = `cannot listen on ${m.options.address}:${m.options.port}: ${errorText(e)}`;
      this.listenerChanged(m);
      throw new HostError('failed', m.error);
    }
    m.wl = wl;
    m.state = 'running';
    m.error = null;
    m.bound = { address: wl.address, port: wl.port };
    this.listenerChanged(m);
    this.ensureSampler();
  }

  private stopListener(m: ManagedListener): void {
    if (!m.wl) return;
    const wl = m.wl;
    wl.stop(); // every pending request reaches a final state here, through onListenerEvent
    m.wl = null;
    m.state = 'stopped';
    m.bound = null;
    m.queue = { kernel: null, held: 0, deferred: 0 };
    for (const [id, ws] of m.waiters) {
      for (const w of ws) { clearTimeout(w.timer); w.resolve({ ok: false, error: `listener ${m.id} stopped before request ${id} was decided` }); }
    }
    m.waiters.clear();
    this.listenerChanged(m);
  }

  /** Everything a running listener reports: into the recording, the host's state and the UI. */
  private onListenerEvent(m: ManagedListener, e: SessionEventInput): void {
    this.toRecorder(e);
    const t = this.now();
    switch (e.type) {
      case 'offer': {
        m.offers++;
        let r = m.pending.get(e.id);
        if (!r) {
          r = newRequestDetail(m.id, e, t);
          m.pending.set(e.id, r);
        }
        addOffer(r, e, t);
        if (e.by === 'script') m.condition.push([t, e.conditionUs]);
        if (e.by === 'person') this.resolveWaiters(m, e.id, { ok: true });
        this.publish({
          type: 'offer', t, listener: m.id, id: e.id, attempt: e.attempt, caller: { family: e.caller.family, address: e.caller.address, port: e.caller.port },
          dataBytes: base64Bytes(e.callerData), verdict: e.verdict, by: e.by, ask: e.ask ?? false, conditionUs: e.conditionUs,
          ...(e.error ? { error: e.error } : {}),
        });
        break;
      }
      case 'decision': {
        m.counts[e.verdict]++;
        const r = m.pending.get(e.id);
        if (r) {
          m.pending.delete(e.id);
          finishRequest(r, e, t);
          m.recent.set(e.id, r);
          if (m.recent.size > this.recentCap) m.recent.delete(m.recent.keys().next().value as number);
        }
        m.latency.push([t, e.latencyUs]);
        this.countVerdict(m, t, e.verdict);
        this.resolveWaiters(m, e.id, { ok: true, final: e.verdict });
        this.publish({
          type: 'decision', t, listener: m.id, id: e.id, caller: e.caller, verdict: e.verdict, attempts: e.attempts,
          latencyUs: e.latencyUs, by: e.by, result: e.result,
        });
        break;
      }
      case 'handler':
        this.publish({ ...e, t });
        break;
      case 'log':
        this.publish({ ...e, t });
        break;
      case 'error':
        this.publish({ ...e, t });
        break;
      case 'listener':
      case 'script':
        break; // the host publishes its own listener and script events
    }
  }

  private countVerdict(m: ManagedListener, t: number, verdict: keyof typeof VERDICT_INDEX): void {
    const second = Math.floor(t / 1000) * 1000;
    if (!m.currentBucket || m.currentBucket[0] !== second) {
      if (m.currentBucket) m.verdictBuckets.push(m.currentBucket);
      m.currentBucket = [second, 0, 0, 0, 0, 0];
    }
    m.currentBucket[VERDICT_INDEX[verdict]]++;
  }

  private ensureSampler(): void {
    if (this.sampler) return;
    this.sampler = setInterval(() => this.sampleQueues(), this.queueSampleMs);
    this.sampler.unref();
  }

  private sampleQueues(): void {
    const t = this.now();
    let running = 0;
    for (const m of this.listeners.values()) {
      if (!m.wl) continue;
      running++;
      const q = m.wl.queueDepths();
      const changed = q.kernel !== m.queue.kernel || q.held !== m.queue.held || q.deferred !== m.queue.deferred;
      m.queue = q;
      m.queueSamples.push([t, q.kernel ?? -1, q.held, q.deferred]);
      // To the UI when it changed, and once a second anyway so a chart keeps moving.
      if (changed || t - m.lastQueueEventT >= 1000) {
        m.lastQueueEventT = t;
        this.publish({ type: 'queue', t, listener: m.id, kernel: q.kernel, held: q.held, deferred: q.deferred });
      }
    }
    if (running === 0 && this.sampler) {
      clearInterval(this.sampler);
      this.sampler = null;
    }
  }

  // ---- decisions -------------------------------------------------------------------------------

  private decideOne(d: Params<'decide'>['decisions'][number]): Promise<Result<'decide'>['results'][number]> {
    const base = { listener: d.listener, requestId: d.requestId };
    const m = this.listeners.get(d.listener);
    if (!m) return Promise.resolve({ ...base, ok: false, error: `no listener ${d.listener}` });
    if (!m.wl) return Promise.resolve({ ...base, ok: false, error: `listener ${m.id} is not running` });
    const wl = m.wl;
    return new Promise((resolve) => {
      // Waiting starts before decide(): the re-offer that applies it can come back at once.
      const timeoutMs = m.options.budgetMs + NATIVE_BUDGET_MARGIN_MS + 5000;
      const waiter: DecideWaiter = {
        resolve: (r) => resolve({ ...base, ...r }),
        timer: setTimeout(() => {
          this.removeWaiter(m, d.requestId, waiter);
          resolve({ ...base, ok: false, error: `request ${d.requestId}: the decision was not applied within ${timeoutMs} ms` });
        }, timeoutMs),
      };
      const list = m.waiters.get(d.requestId) ?? [];
      list.push(waiter);
      m.waiters.set(d.requestId, list);
      try {
        wl.decide(d.requestId, {
          verdict: d.verdict,
          ...(d.calleeData !== undefined ? { calleeData: Buffer.from(d.calleeData, 'base64') } : {}),
          ...(d.group !== undefined ? { group: d.group } : {}),
        });
      } catch (e) {
        clearTimeout(waiter.timer);
        this.removeWaiter(m, d.requestId, waiter);
        resolve({ ...base, ok: false, error: errorText(e) });
      }
    });
  }

  private removeWaiter(m: ManagedListener, id: number, w: DecideWaiter): void {
    const list = m.waiters.get(id);
    if (!list) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) m.waiters.delete(id);
  }

  private resolveWaiters(m: ManagedListener, id: number, r: Parameters<DecideWaiter['resolve']>[0]): void {
    const list = m.waiters.get(id);
    if (!list) return;
    m.waiters.delete(id);
    for (const w of list) { clearTimeout(w.timer); w.resolve(r); }
  }

  // ---- scripts ---------------------------------------------------------------------------------

  private compileOrThrow(source: string, filename: string, options: ListenerOptions): ConditionScript {
    try {
      return this.sandbox.compile(source, filename, { memoryLimit: options.memoryLimit, budgetMs: options.budgetMs });
    } catch (e) {
      if (e instanceof ScriptCompileError) throw new HostError('invalid-script', e.toString());
      throw e;
    }
  }

  private compileProblem(source: string, filename: string, options: ListenerOptions): ReturnType<typeof problemOf> | null {
    try {
      this.sandbox.compile(source, filename, { memoryLimit: options.memoryLimit, budgetMs: options.budgetMs }).dispose();
      return null;
    } catch (e) {
      if (e instanceof ScriptCompileError) return problemOf(e);
      throw e;
    }
  }

  private testRequest(m: ManagedListener | null, request: Params<'script.testRun'>['request']): { req: ConditionRequest; sqosJson: string | null } {
    const listenerInfo = {
      id: m?.id ?? 0, address: m?.bound?.address ?? m?.options.address ?? '127.0.0.1',
      port: m?.bound?.port ?? m?.options.port ?? 0, discipline: m?.options.discipline ?? 'winsock',
    };
    if ('requestId' in request) {
      if (!m) throw new HostError('invalid-params', 'a test run on a request needs its listener');
      const r = m.pending.get(request.requestId) ?? m.recent.get(request.requestId);
      if (!r) throw new HostError('not-found', `listener ${m.id} has no request ${request.requestId}`);
      return {
        req: {
          id: r.id, caller: endpoint(r.caller), callee: endpoint(r.callee),
          callerData: Buffer.from(r.callerData, 'base64'), callerDataSource: r.callerDataSource,
          sqos: null, gqos: null, attempt: (r.offers.at(-1)?.attempt ?? 0) + 1,
          queue: { ...m.queue }, listener: listenerInfo, callbackData: m.options.callbackData,
        },
        sqosJson: r.sqos ? JSON.stringify(r.sqos) : null,
      };
    }
    const s = request.sample;
    return {
      req: {
        id: 0, caller: s.caller, callee: s.callee, callerData: Buffer.from(s.callerData, 'base64'), callerDataSource: s.callerDataSource,
        sqos: null, gqos: null, attempt: s.attempt, queue: s.queue, listener: listenerInfo, callbackData: s.callbackData,
      },
      sqosJson: s.sqos ? JSON.stringify(s.sqos) : null,
    };
  }

  // ---- recording -------------------------------------------------------------------------------

  private toRecorder(e: SessionEventInput): void {
    if (!this.recorder || !this.recording) return;
    this.recorder.record(e);
    this.recording.events++;
  }

  private recordingState(): ListenerStateRecording | null {
    return this.recording ? { ...this.recording } : null;
  }

  private stopRecording(reason: string): void {
    if (!this.recorder) return;
    this.recorder.close({ reason });
    this.recorder = null;
    this.recording = null;
    this.publish({ type: 'recording', t: this.now(), recording: null });
    this.stateChanged();
  }

  // ---- jobs ------------------------------------------------------------------------------------

  private newJob(kind: Job['kind']): Job {
    const job: Job = { id: this.nextJobId++, kind, abort: new AbortController() };
    this.jobs.set(job.id, job);
    return job;
  }

  private jobDone(job: Job, outcome: 'done' | 'cancelled' | 'failed', result?: unknown, error?: string): void {
    this.jobs.delete(job.id);
    if (this.closed) return;
    this.publish({
      type: 'job-done', t: this.now(), job: job.id, kind: job.kind, outcome,
      ...(error !== undefined ? { error } : {}),
      ...(result !== undefined ? { result: JSON.parse(JSON.stringify(result)) as unknown } : {}),
    });
  }

  // ---- events ----------------------------------------------------------------------------------

  private publish(e: HostEvent): void {
    for (const fn of this.subscribers) fn(e);
  }

  private stateChanged(): void {
    this.onStateChange?.(this.lostState());
  }
}

type ListenerStateRecording = NonNullable<Result<'recording.stop'>>;

function problemOf(e: ScriptCompileError): { code: string; message: string; filename: string; line: number; column: number; logs: string[] } {
  return { code: e.code, message: e.message, filename: e.filename, line: e.line, column: e.column, logs: [...e.logs] };
}

function endpoint(s: { family: 'ipv4' | 'ipv6'; address: string; port: number }): { family: 'ipv4' | 'ipv6'; address: string; port: number } {
  return { family: s.family, address: s.address, port: s.port };
}

function pendingRow(r: RequestDetail): PendingRequest {
  return {
    listener: r.listener, id: r.id, caller: endpoint(r.caller), firstOfferT: r.firstOfferT,
    attempts: r.offers.length, dataBytes: base64Bytes(r.callerData), state: r.state === 'final' ? 'deciding' : r.state,
  };
}
