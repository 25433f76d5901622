// Shared pieces for renderer tests (jsdom): a scripted fake host for exact states, a real
// in-process host for end-to-end-ish store and component tests, sample protocol objects, and the
// layout stubs jsdom lacks (it has no layout, so virtualised lists would render no rows).
import { configure, render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { WorkbenchClient } from '../../electron/protocol/client';
import { inProcessPair, type Transport } from '../../electron/protocol/transport';
import type { HostEvent, ListenerState, LostState, MethodName, PendingRequest, RequestDetail } from '../../electron/protocol/schema';
import { createWorkbench, type Workbench } from '../../renderer/src/store';
import { WorkbenchProvider } from '../../renderer/src/context';

// findBy* and waitFor wait up to 5 s, not Testing Library's 1 s: the full suite runs the component
// suites beside the socket and browser ones on two cores, where a first editor render can take
// longer than a second.
configure({ asyncUtilTimeout: 5000 });

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until<T>(check: () => T | undefined | null | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Gives every element a size, so @tanstack/react-virtual sees a viewport. */
export function stubLayout(height = 600, width = 900): () => void {
  const proto = HTMLElement.prototype;
  const saved = {
    h: Object.getOwnPropertyDescriptor(proto, 'clientHeight'),
    w: Object.getOwnPropertyDescriptor(proto, 'clientWidth'),
    oh: Object.getOwnPropertyDescriptor(proto, 'offsetHeight'),
    ow: Object.getOwnPropertyDescriptor(proto, 'offsetWidth'),
  };
  Object.defineProperty(proto, 'clientHeight', { configurable: true, get: () => height });
  Object.defineProperty(proto, 'clientWidth', { configurable: true, get: () => width });
  Object.defineProperty(proto, 'offsetHeight', { configurable: true, get: () => height });
  Object.defineProperty(proto, 'offsetWidth', { configurable: true, get: () => width });
  // CodeMirror measures text with ranges; jsdom has no layout, so empty rectangles will do.
  // Neither is there a ResizeObserver (recharts' ResponsiveContainer and the virtualiser use one).
  const g = globalThis as unknown as { ResizeObserver?: unknown };
  g.ResizeObserver ??= class { observe(): void {} unobserve(): void {} disconnect(): void {} };
  const rangeProto = Range.prototype as unknown as Record<string, unknown>;
  rangeProto.getClientRects ??= () => ({ length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] });
  rangeProto.getBoundingClientRect ??= () => ({ x: 0, y: 0, width: 0, height: 0, top: 0, left: 0, right: 0, bottom: 0, toJSON: () => ({}) });
  return () => {
    for (const [k, d] of [['clientHeight', saved.h], ['clientWidth', saved.w], ['offsetHeight', saved.oh], ['offsetWidth', saved.ow]] as const) {
      if (d) Object.defineProperty(proto, k, d);
      else delete (proto as unknown as Record<string, unknown>)[k];
    }
  };
}

// ---- sample protocol objects --------------------------------------------------------------------

export function listenerState(id: number, over: Partial<ListenerState> = {}, options: Partial<ListenerState['options']> = {}): ListenerState {
  return {
    id, state: 'running', error: null, backend: 'posix',
    options: {
      address: '127.0.0.1', port: 0, backlog: 128, discipline: 'held', handler: 'echo', fallback: 'reject', budgetMs: 20,
      deferTimeoutMs: 30_000, reofferMs: 5, deferAcceptS: 0, fastOpen: false, conditionalAccept: false, callbackData: 0,
      memoryLimit: 32 << 20, ...options,
    },
    bound: { address: '127.0.0.1', port: 40_000 + id }, script: null,
    counts: { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 }, offers: 0, pending: 0,
    queue: { kernel: 0, held: 0, deferred: 0 },
    ...over,
  };
}

export function pendingRequest(listener: number, id: number, over: Partial<PendingRequest> = {}): PendingRequest {
  return {
    listener, id, caller: { family: 'ipv4', address: '127.0.0.1', port: 50_000 + (id % 10_000) },
    firstOfferT: id, attempts: 1, dataBytes: 0, state: 'awaiting-person', ...over,
  };
}

export function offerEvent(listener: number, id: number, t: number, over: Partial<Extract<HostEvent, { type: 'offer' }>> = {}): HostEvent {
  return {
    type: 'offer', t, listener, id, attempt: 1, caller: { family: 'ipv4', address: '127.0.0.1', port: 50_000 + (id % 10_000) }, dataBytes: 0,
    verdict: 'defer', by: 'script', ask: true, conditionUs: 12, ...over,
  };
}

export function decisionEvent(listener: number, id: number, t: number, over: Partial<Extract<HostEvent, { type: 'decision' }>> = {}): HostEvent {
  return {
    type: 'decision', t, listener, id, caller: { address: '127.0.0.1', port: 50_000 + (id % 10_000) }, verdict: 'accept', attempts: 1,
    latencyUs: 100 + id, by: 'person', result: 'OK', ...over,
  };
}

export function requestDetail(listener: number, id: number, over: Partial<RequestDetail> = {}): RequestDetail {
  return {
    listener, id,
    caller: { family: 'ipv4', address: '127.0.0.1', port: 51234, raw: 'AgDIIn8AAAEAAAAAAAAAAA==' },
    callee: { family: 'ipv4', address: '127.0.0.1', port: 8080, raw: 'AgAfkH8AAAEAAAAAAAAAAA==' },
    callerData: '', callerDataSource: 'none', sqos: null, gqos: null, firstOfferT: 10, state: 'awaiting-person',
    offers: [{ t: 10, attempt: 1, verdict: 'defer', by: 'script', ask: true, conditionUs: 15, scriptVersion: 1 }],
    final: null, ...over,
  };
}

// ---- a scripted fake host -----------------------------------------------------------------------

type Handler = (params: Record<string, unknown>) => unknown;

/** Plays the host's side of the protocol: says hello, answers from `handlers`, sends what a test says. */
export class FakeHost {
  readonly side: Transport;
  readonly ui: Transport;
  readonly calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  listeners: ListenerState[] = [];
  pending: PendingRequest[] = [];
  /** What `decisions.recent` answers. */
  recentDecisions: unknown[] = [];
  t = 0;
  private seq = 0;
  readonly handlers: Partial<Record<MethodName, Handler>> = {
    'host.info': () => ({ protocol: 1, appVersion: '0.0.0-test', backend: this.backend, platform: 'linux', t: this.t, listeners: this.listeners, recording: null }),
    'request.list': () => this.pending,
    'decisions.recent': () => this.recentDecisions,
    'metrics.get': (p) => ({ listener: p.listener, latency: [], conditionUs: [], queue: [], verdicts: [], counts: { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 } }),
    'script.history': () => [],
    // As the host does: the answer first, then (in a later batch) the decision of each request
    // accepted or rejected; a deferred one stays pending.
    decide: (p) => {
      const decisions = p.decisions as Array<{ listener: number; requestId: number; verdict: string }>;
      const final = decisions.filter((d) => d.verdict !== 'defer');
      if (final.length > 0) {
        setTimeout(() => this.events(final.map((d) => decisionEvent(d.listener, d.requestId, this.t, {
          verdict: d.verdict as 'accept' | 'reject', result: d.verdict === 'accept' ? 'OK' : 'WSAECONNREFUSED',
        }))), 0);
      }
      return { results: decisions.map((d) => ({ listener: d.listener, requestId: d.requestId, ok: true })) };
    },
  };

  constructor(public backend: 'posix' | 'winsock' = 'posix') {
    [this.side, this.ui] = inProcessPair();
    this.side.onMessage((m) => void this.receive(m as { kind: string; id: number; method: string; params: Record<string, unknown> }));
  }

  private async receive(m: { kind: string; id: number; method: string; params: Record<string, unknown> }): Promise<void> {
    if (m.kind !== 'request') return;
    this.calls.push({ method: m.method, params: m.params });
    const h = this.handlers[m.method as MethodName];
    if (!h) {
      this.side.send({ kind: 'response', id: m.id, error: { code: 'unknown-method', message: `no handler for ${m.method}` } });
      return;
    }
    try {
      this.side.send({ kind: 'response', id: m.id, result: await h(m.params) });
    } catch (e) {
      const err = e as { code?: string; message: string };
      this.side.send({ kind: 'response', id: m.id, error: { code: err.code ?? 'failed', message: err.message } });
    }
  }

  hello(hostId = 'host-1'): void {
    this.side.send({ kind: 'hello', protocol: 1, appVersion: '0.0.0-test', backend: this.backend, platform: 'linux', hostId });
  }

  events(events: HostEvent[], dropped?: Record<string, number>): void {
    this.side.send({ kind: 'events', seq: ++this.seq, events, ...(dropped ? { dropped } : {}) });
  }

  status(state: 'disconnected' | 'restarted', reason?: string, lost?: LostState): void {
    this.side.send({ kind: 'host-status', state, ...(reason ? { reason } : {}), ...(lost ? { lost } : {}) });
  }

  callsOf(method: string): Array<Record<string, unknown>> {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }
}

/** A workbench on a fake host, connected and synced. */
export async function fakeWorkbench(setup?: (host: FakeHost) => void, backend: 'posix' | 'winsock' = 'posix'): Promise<{ host: FakeHost; wb: Workbench }> {
  const host = new FakeHost(backend);
  setup?.(host);
  const client = new WorkbenchClient(host.ui);
  const wb = createWorkbench(client);
  host.hello();
  await client.ready();
  await until(() => host.callsOf('request.list').length > 0 && wb.store.getState().syncError === null && host.calls.length >= 2, 2000, 'first sync');
  await sleep(0);
  await wb.store.getState().resync();
  return { host, wb };
}

export function renderWith(wb: Workbench, ui: ReactNode) {
  return render(<WorkbenchProvider workbench={wb}>{ui}</WorkbenchProvider>);
}
