// The workbench client: what the renderer (and tests, and benchmarks) use to talk to a host over
// any transport. Validates everything it receives; requests resolve with validated results.
// Browser-safe: no Node imports.
import {
  METHODS, PROTOCOL_VERSION, ServerMessageSchema, describeIssues, salvageEventsMessage,
  type HostEvent, type LostState, type MethodName, type Params, type Result, type ServerMessage,
} from './schema';
import type { Transport } from './transport';

/** A request that failed: `code` says how ('not-found', 'invalid-params', 'disconnected', ...). */
export class WorkbenchError extends Error {
  override readonly name = 'WorkbenchError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export interface Hello {
  protocol: number;
  appVersion: string;
  backend: 'posix' | 'winsock';
  platform: string;
  hostId: string;
}

export interface EventBatch {
  seq: number;
  events: HostEvent[];
  dropped?: Record<string, number>;
}

export interface StatusChange {
  state: ConnectionState;
  reason?: string;
  /** After a host restart: what the dead host was running, for the UI to offer back. */
  lost?: LostState;
  hello?: Hello;
}

interface Waiting {
  method: MethodName;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface ClientOptions {
  /** Per-request timeout, ms (default 30 s; 0: none). */
  timeoutMs?: number;
  /** A message from the host that failed validation (it is not acted upon). */
  onProtocolError?: (message: string) => void;
}

export class WorkbenchClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly eventHandlers = new Set<(batch: EventBatch) => void>();
  private readonly statusHandlers = new Set<(change: StatusChange) => void>();
  private connState: ConnectionState = 'connecting';
  private helloInfo: Hello | null = null;
  private helloWaiters: Array<{ resolve: (h: Hello) => void; reject: (e: Error) => void }> = [];
  private readonly timeoutMs: number;

  constructor(private readonly transport: Transport, private readonly options: ClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    transport.onMessage((m) => this.receive(m));
    transport.onClose((reason) => this.disconnected(reason, true));
  }

  get state(): ConnectionState { return this.connState; }
  get hello(): Hello | null { return this.helloInfo; }

  /** Resolves once the host has said hello (at once when it already has). */
  ready(): Promise<Hello> {
    if (this.helloInfo && this.connState === 'connected') return Promise.resolve(this.helloInfo);
    if (this.connState === 'disconnected' && !this.transportOpen) return Promise.reject(new WorkbenchError('disconnected', 'not connected to the host'));
    return new Promise((resolve, reject) => this.helloWaiters.push({ resolve, reject }));
  }

  /**
   * Calls a host method. Rejects with WorkbenchError. `opts.timeoutMs` replaces the client's
   * timeout for this call (0: none, for calls that are jobs the person can cancel).
   */
  call<M extends MethodName>(method: M, params: Params<M>, opts: { timeoutMs?: number } = {}): Promise<Result<M>> {
    if (this.connState === 'disconnected') return Promise.reject(new WorkbenchError('disconnected', 'not connected to the host'));
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<Result<M>>((resolve, reject) => {
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          this.waiting.delete(id);
          reject(new WorkbenchError('timeout', `${method}: no answer from the host within ${timeoutMs} ms`));
        }, timeoutMs)
        : null;
      this.waiting.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.transport.send({ kind: 'request', id, method, params });
    });
  }

  /** Event batches, in order. Returns an unsubscribe function. */
  onEvents(handler: (batch: EventBatch) => void): () => void {
    this.eventHandlers.add(handler);
    return () => this.eventHandlers.delete(handler);
  }

  /** Connection state changes (connected, disconnected, host restarted). */
  onStatus(handler: (change: StatusChange) => void): () => void {
    this.statusHandlers.add(handler);
    return () => this.statusHandlers.delete(handler);
  }

  close(): void {
    this.transport.close('client closed');
  }

  private transportOpen = true;

  private receive(raw: unknown): void {
    const parsed = ServerMessageSchema.safeParse(raw);
    let m: ServerMessage;
    if (parsed.success) {
      m = parsed.data;
    } else {
      this.options.onProtocolError?.(`invalid message from the host: ${describeIssues(parsed.error)}`);
      // A batch with some invalid events: its valid ones are handled and the batch acknowledged.
      const saved = salvageEventsMessage(raw);
      if (!saved) return;
      m = saved.message;
    }
    switch (m.kind) {
      case 'hello': {
        if (m.protocol !== PROTOCOL_VERSION) {
          const err = new WorkbenchError('protocol', `the host speaks protocol ${m.protocol}, this client ${PROTOCOL_VERSION}`);
          this.options.onProtocolError?.(err.message);
          for (const w of this.helloWaiters.splice(0)) w.reject(err);
          this.transport.close(err.message);
          return;
        }
        this.helloInfo = { protocol: m.protocol, appVersion: m.appVersion, backend: m.backend, platform: m.platform, hostId: m.hostId };
        this.connState = 'connected';
        for (const w of this.helloWaiters.splice(0)) w.resolve(this.helloInfo);
        this.emitStatus({ state: 'connected', hello: this.helloInfo });
        return;
      }
      case 'response': {
        const w = this.waiting.get(m.id);
        if (!w) {
          this.options.onProtocolError?.(`response to unknown request ${m.id}`);
          return;
        }
        this.waiting.delete(m.id);
        if (w.timer !== null) clearTimeout(w.timer);
        if (m.error) {
          w.reject(new WorkbenchError(m.error.code, m.error.message));
          return;
        }
        const result = METHODS[w.method].result.safeParse(m.result);
        if (!result.success) {
          const msg = `${w.method}: invalid result from the host: ${describeIssues(result.error)}`;
          this.options.onProtocolError?.(msg);
          w.reject(new WorkbenchError('invalid-message', msg));
          return;
        }
        w.resolve(result.data);
        return;
      }
      case 'events': {
        const batch: EventBatch = { seq: m.seq, events: m.events, ...(m.dropped ? { dropped: m.dropped } : {}) };
        for (const h of this.eventHandlers) h(batch);
        this.transport.send({ kind: 'ack', seq: m.seq });
        return;
      }
      case 'host-status': {
        if (m.state === 'disconnected') {
          this.disconnected(m.reason ?? 'host went away', false);
        } else {
          // The supervisor started a new host; its hello follows.
          this.connState = 'connecting';
          this.emitStatus({ state: 'connecting', ...(m.reason ? { reason: m.reason } : {}), ...(m.lost ? { lost: m.lost } : {}) });
        }
        return;
      }
    }
  }

  private disconnected(reason: string, transportGone: boolean): void {
    if (transportGone) this.transportOpen = false;
    const err = new WorkbenchError('disconnected', `the host went away: ${reason}`);
    for (const [id, w] of this.waiting) {
      if (w.timer !== null) clearTimeout(w.timer);
      this.waiting.delete(id);
      w.reject(err);
    }
    if (transportGone) for (const w of this.helloWaiters.splice(0)) w.reject(err);
    if (this.connState === 'disconnected' && !transportGone) return;
    this.connState = 'disconnected';
    this.emitStatus({ state: 'disconnected', reason });
  }

  private emitStatus(change: StatusChange): void {
    for (const h of this.statusHandlers) h(change);
  }
}
