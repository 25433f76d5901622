// @vitest-environment jsdom
// The renderer's store: event batches applied in one update, resyncs, the bounded decisions log,
// a host restart and its lost listeners, selection; and against a real host, a request going from
// a TCP client through the pending queue to a person's decision.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSandbox, type Sandbox } from '../../electron/host/script/sandbox';
import { DECISIONS_KEPT, requestKey, type RequestKey } from '../../renderer/src/store';
import { applyBatch } from '../../renderer/src/store/events';
import { SIMULATIONS_KEPT } from '../../renderer/src/store/jobs';
import type { HostEvent } from '../../electron/protocol/schema';
import { serveToken, webSocketUrl } from '../../renderer/src/connection';
import { client as tcpClient } from '../helpers/net';
import { decisionEvent, fakeWorkbench, listenerState, offerEvent, pendingRequest, sleep, until } from './helpers';
import { realWorkbench, type RealWorkbench } from './real-host';

let sandbox: Sandbox;
beforeAll(async () => { sandbox = await loadSandbox(); });
const open: RealWorkbench[] = [];
afterEach(() => { for (const r of open.splice(0)) r.close(); });

describe('store with a scripted host', () => {
  it('loads listeners and pending requests on connect', async () => {
    const { wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1), listenerState(2, { state: 'stopped', bound: null })];
      h.pending = [pendingRequest(1, 7), pendingRequest(1, 8, { state: 'deferred' })];
      h.t = 5000;
    });
    const s = wb.store.getState();
    expect(s.connection).toBe('connected');
    expect(s.hello?.backend).toBe('posix');
    expect(Object.keys(s.listeners)).toEqual(['1', '2']);
    expect([...s.pending.keys()]).toEqual(['1:7', '1:8']);
    expect(s.activeListener).toBe(1);
    expect(s.syncT).toBe(5000);
    // The host clock estimate starts from host.info's t.
    expect(s.hostNow()).toBeGreaterThanOrEqual(5000);
  });

  it('fills the decisions log from the host\'s recent decisions on connect, without doubling what it has', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.recentDecisions = [decisionEvent(1, 1, 10), decisionEvent(1, 2, 20, { verdict: 'reject', by: 'script' })];
    });
    expect(wb.store.getState().decisions.map((d) => [d.id, d.verdict])).toEqual([[1, 'accept'], [2, 'reject']]);
    host.recentDecisions = [...host.recentDecisions, decisionEvent(1, 3, 30)];
    await wb.store.getState().resync();
    expect(wb.store.getState().decisions.map((d) => d.id)).toEqual([1, 2, 3]);
  });

  it('applies a batch of many events in one store update', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    let updates = 0;
    wb.store.subscribe(() => { updates++; });
    const events = [];
    for (let i = 1; i <= 500; i++) events.push(offerEvent(1, i, 100 + i));
    for (let i = 1; i <= 200; i++) events.push(decisionEvent(1, i, 700 + i));
    events.push({ type: 'queue' as const, t: 999, listener: 1, kernel: 4, held: 300, deferred: 300 });
    host.events(events);
    await until(() => wb.store.getState().decisions.length === 200, 2000, 'batch applied');
    expect(updates).toBe(1);
    const s = wb.store.getState();
    expect(s.pending.size).toBe(300);
    expect(s.pending.get('1:201')).toMatchObject({ state: 'awaiting-person', attempts: 1, firstOfferT: 301 });
    expect(s.listeners[1]!.queue).toEqual({ kernel: 4, held: 300, deferred: 300 });
    expect(wb.latency.size).toBe(200);
  });

  it('keeps a request\'s first offer time and follows its later offers', async () => {
    const { host, wb } = await fakeWorkbench();
    host.events([offerEvent(1, 3, 10, { ask: false })]);
    host.events([offerEvent(1, 3, 40, { attempt: 2, dataBytes: 5 })]);
    await until(() => wb.store.getState().pending.get('1:3')?.attempts === 2);
    expect(wb.store.getState().pending.get('1:3')).toMatchObject({ firstOfferT: 10, attempts: 2, dataBytes: 5, state: 'awaiting-person' });
    host.events([offerEvent(1, 3, 50, { attempt: 3, verdict: 'accept', by: 'person', ask: false })]);
    await until(() => wb.store.getState().pending.get('1:3')?.state === 'deciding');
  });

  it('resyncs the queue with request.list when a batch says events were dropped', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    const before = host.callsOf('request.list').length;
    host.pending = [pendingRequest(1, 40), pendingRequest(1, 41)];
    host.t = 100;
    host.events([decisionEvent(1, 12, 90)], { offer: 250 });
    await until(() => wb.store.getState().pending.size === 2, 2000, 'resynced queue');
    expect(host.callsOf('request.list').length).toBe(before + 1);
    expect(wb.store.getState().decisions).toHaveLength(1);
    // Offers older than the resync are already in what it returned: not applied again.
    host.events([offerEvent(1, 12, 80)]);
    await sleep(20);
    expect(wb.store.getState().pending.has('1:12')).toBe(false);
  });

  it('keeps the last 10,000 decisions', async () => {
    const { host, wb } = await fakeWorkbench();
    let id = 0;
    for (let b = 0; b < 21; b++) host.events(Array.from({ length: 500 }, () => { id++; return decisionEvent(1, id, id); }));
    await until(() => wb.store.getState().decisions.at(-1)?.id === 10_500, 5000, 'all batches');
    const s = wb.store.getState();
    expect(s.decisions).toHaveLength(DECISIONS_KEPT);
    expect(s.decisions[0]!.id).toBe(501);
    expect(s.decisionsTrimmed).toBe(500);
  });

  it('a person\'s decisions go out in one decide call; failures come back per request', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.pending = [pendingRequest(1, 1), pendingRequest(1, 2), pendingRequest(2, 1)]; });
    host.handlers.decide = (p) => ({
      results: (p.decisions as Array<{ listener: number; requestId: number }>).map((d) => (
        d.listener === 2 ? { ...d, ok: false, error: 'not pending (already final)' } : { ...d, ok: true })),
    });
    const failed = await wb.store.getState().decide(['1:1', '1:2', '2:1'], 'accept', { calleeData: 'aGk=', group: 2 });
    expect(host.callsOf('decide')).toHaveLength(1);
    expect(host.callsOf('decide')[0]).toEqual({ decisions: [
      { listener: 1, requestId: 1, verdict: 'accept', calleeData: 'aGk=', group: 2 },
      { listener: 1, requestId: 2, verdict: 'accept', calleeData: 'aGk=', group: 2 },
      { listener: 2, requestId: 1, verdict: 'accept', calleeData: 'aGk=', group: 2 },
    ] });
    expect(failed).toEqual([{ key: '2:1', error: 'not pending (already final)' }]);
    // The applied ones stay marked (still listed, not to be decided again) until their decision
    // events arrive; the failed one is free at once.
    expect(wb.store.getState().deciding).toEqual({ '1:1': 'accept', '1:2': 'accept' });
    host.events([decisionEvent(1, 1, 10), decisionEvent(1, 2, 10)]);
    await until(() => Object.keys(wb.store.getState().deciding).length === 0, 2000, 'deciding cleared');
    // A deferred request stays pending: free again as soon as the answer is in.
    await wb.store.getState().decide(['2:1'], 'defer');
    expect(wb.store.getState().deciding).toEqual({});
  });

  it('after a host restart: clears the old host\'s state, offers the lost listeners and starts them again', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; h.pending = [pendingRequest(1, 1)]; });
    host.events([decisionEvent(1, 9, 1)]);
    await until(() => wb.store.getState().decisions.length === 1);
    host.status('disconnected', 'host exited with code 1');
    await until(() => wb.store.getState().connection === 'disconnected');
    expect(wb.store.getState().connectionReason).toBe('host exited with code 1');
    const lostOptions = { ...listenerState(1).options, port: 0 };
    host.listeners = [];
    host.pending = [];
    host.status('restarted', 'host restarted', { listeners: [{ options: lostOptions, script: { source: 'export default () => "ask";', filename: 'ask.js' } }], recording: null });
    await until(() => wb.store.getState().lost !== null);
    expect(wb.store.getState().connection).toBe('connecting');
    host.hello('host-2');
    await until(() => wb.store.getState().connection === 'connected' && wb.store.getState().decisions.length === 0, 2000, 'new host');
    await until(() => wb.store.getState().pending.size === 0);
    expect(wb.store.getState().listeners).toEqual({});

    let nextId = 1;
    host.handlers['listener.create'] = (p) => listenerState(nextId++, { state: 'stopped', bound: null }, p.options as object);
    host.handlers['listener.start'] = (p) => listenerState(p.listener as number);
    await wb.store.getState().restoreLost();
    expect(host.callsOf('listener.create')).toEqual([{ options: lostOptions, script: { source: 'export default () => "ask";', filename: 'ask.js' } }]);
    expect(host.callsOf('listener.start')).toEqual([{ listener: 1 }]);
    expect(wb.store.getState().lost).toBeNull();
    expect(wb.store.getState().listeners[1]!.state).toBe('running');
  });

  it('a lost listener that cannot start again is named with the reason; a retry starts only what is left', async () => {
    const { host, wb } = await fakeWorkbench();
    let nextId = 1;
    let portBusy = true;
    host.handlers['listener.create'] = (p) => listenerState(nextId++, { state: 'stopped' }, p.options as object);
    host.handlers['listener.start'] = (p) => {
      const l = wb.store.getState().listeners[p.listener as number]!;
      if (l.options.port === 8080 && portBusy) throw Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'failed' });
      return { ...l, state: 'running' as const };
    };
    const o = listenerState(1).options;
    wb.store.setState({ lost: { listeners: [{ options: { ...o, port: 7000 }, script: null }, { options: { ...o, port: 8080 }, script: null }], recording: null } });
    await wb.store.getState().restoreLost();
    expect(wb.store.getState().lostErrors).toEqual(['127.0.0.1:8080: listen EADDRINUSE: address already in use 127.0.0.1:8080']);
    // The offer stays for the one that failed only.
    expect(wb.store.getState().lost?.listeners.map((l) => l.options.port)).toEqual([8080]);
    portBusy = false;
    await wb.store.getState().restoreLost();
    // Nothing created twice: the 8080 listener made on the first try is started.
    expect(host.callsOf('listener.create').map((c) => (c.options as { port: number }).port)).toEqual([7000, 8080]);
    expect(host.callsOf('listener.start')).toEqual([{ listener: 1 }, { listener: 2 }, { listener: 2 }]);
    expect(wb.store.getState().lost).toBeNull();
    expect(wb.store.getState().lostErrors).toEqual([]);
  });

  it('selects with click, ctrl-click and shift-click, and moves the cursor', async () => {
    const { wb } = await fakeWorkbench();
    const order: RequestKey[] = ['1:1', '1:2', '1:3', '1:4', '1:5'];
    const s = () => wb.store.getState();
    s().selectRow('1:2', 'only', order);
    s().selectRow('1:4', 'range', order);
    expect([...s().selected]).toEqual(['1:2', '1:3', '1:4']);
    s().selectRow('1:3', 'toggle', order);
    expect([...s().selected].sort()).toEqual(['1:2', '1:4']);
    s().moveCursor(1, false, order);
    expect(s().cursor).toBe('1:4');
    expect(s().inspected).toEqual({ listener: 1, id: 4 });
    // A plain move sets the anchor; Shift+move extends from there.
    s().moveCursor(5, true, order);
    expect([...s().selected]).toEqual(['1:4', '1:5']);
  });

  it('a decision older than the resync that filled the log is not logged twice; one it missed is', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.t = 100;
      h.recentDecisions = [decisionEvent(1, 5, 90)];
    });
    expect(wb.store.getState().decisions.map((d) => d.id)).toEqual([5]);
    const points = wb.latency.size;
    host.events([decisionEvent(1, 5, 90), decisionEvent(1, 6, 95)]);
    await until(() => wb.store.getState().decisions.length === 2, 2000, 'the missed decision');
    expect(wb.store.getState().decisions.map((d) => d.id)).toEqual([5, 6]);
    expect(wb.latency.size).toBe(points + 1);
  });

  it('a listener removed elsewhere: the active listener, selection and inspector move off it', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1), listenerState(2)];
      h.pending = [pendingRequest(1, 1), pendingRequest(2, 1)];
    });
    const s = () => wb.store.getState();
    wb.store.setState({ activeListener: 1 });
    s().selectRow('1:1', 'only', ['1:1', '2:1']);
    s().selectRow('2:1', 'toggle', ['1:1', '2:1']);
    expect(s().inspected).not.toBeNull();
    host.events([{ type: 'listener-removed', t: 500, listener: 1 }]);
    await until(() => s().listeners[1] === undefined, 2000, 'listener 1 gone');
    expect(s().activeListener).toBe(2);
    expect([...s().selected]).toEqual(['2:1']);
    expect([...s().pending.keys()]).toEqual(['2:1']);
  });

  it('a resync asked while a failing one runs still gets its own try', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    const info = host.handlers['host.info']!;
    let fail = true;
    host.handlers['host.info'] = (p) => {
      if (fail) { fail = false; throw Object.assign(new Error('busy'), { code: 'failed' }); }
      return info(p);
    };
    const before = host.callsOf('host.info').length;
    const first = wb.store.getState().resync();
    const second = wb.store.getState().resync();
    await Promise.all([first, second]);
    expect(host.callsOf('host.info').length).toBe(before + 2);
    expect(wb.store.getState().syncError).toBeNull();
  });

  it('keeps at most SIMULATIONS_KEPT simulation runs, also of runs other clients started', async () => {
    const { host, wb } = await fakeWorkbench();
    host.events(Array.from({ length: SIMULATIONS_KEPT + 5 }, (_, i): HostEvent => ({ type: 'job-done', t: i, job: 100 + i, kind: 'simulate', outcome: 'cancelled' })));
    await until(() => wb.store.getState().simulations.length > 0, 2000, 'runs');
    expect(wb.store.getState().simulations).toHaveLength(SIMULATIONS_KEPT);
    expect(wb.store.getState().simulations.at(-1)!.job).toBe(100 + SIMULATIONS_KEPT + 4);
  });

  it('asks each listener\'s history once for both charts, not again on every resync', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1), listenerState(2)];
      h.handlers['metrics.get'] = (p) => ({
        listener: p.listener, latency: [[5, 250]], conditionUs: [], queue: [], verdicts: [], counts: { accept: 1, reject: 0, expire: 0, withdraw: 0, error: 0 },
      });
    });
    await until(() => wb.latency.size === 2, 2000, 'both listeners\' latency history');
    expect(host.callsOf('metrics.get').map((c) => c.listener).sort()).toEqual([1, 2]);
    await wb.store.getState().resync();
    await wb.store.getState().resync();
    await sleep(50);
    expect(host.callsOf('metrics.get')).toHaveLength(2);
    expect(wb.store.getState().metrics.of(1)?.latency.size).toBe(1);
  });

  it('dispose detaches the store and every slice from the client', async () => {
    const { wb } = await fakeWorkbench();
    const handlers = wb.client as unknown as { eventHandlers: Set<unknown>; statusHandlers: Set<unknown> };
    expect(handlers.eventHandlers.size).toBeGreaterThan(1);
    expect(handlers.statusHandlers.size).toBeGreaterThan(1);
    wb.dispose();
    expect(handlers.eventHandlers.size).toBe(0);
    expect(handlers.statusHandlers.size).toBe(0);
  });

  it('applyBatch ignores listener state older than the last resync', async () => {
    const { wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1, { offers: 10 })]; h.t = 1000; });
    const out = applyBatch(wb.store.getState(), { seq: 1, events: [{ type: 'listener', t: 900, listener: listenerState(1, { offers: 3 }) }] });
    expect(out.patch.listeners).toBeUndefined();
    const newer = applyBatch(wb.store.getState(), { seq: 2, events: [{ type: 'listener', t: 1100, listener: listenerState(1, { offers: 12 }) }] });
    expect(newer.patch.listeners?.[1]?.offers).toBe(12);
  });
});

describe('serve token and WebSocket URL', () => {
  it('takes the token from the URL and remembers it for a reload without it', () => {
    sessionStorage.clear();
    expect(serveToken('?token=abc123', sessionStorage)).toBe('abc123');
    expect(serveToken('', sessionStorage)).toBe('abc123');
    expect(serveToken('?token=new', sessionStorage)).toBe('new');
    expect(webSocketUrl({ protocol: 'http:', host: '127.0.0.1:4100' }, 'a b')).toBe('ws://127.0.0.1:4100/ws?token=a%20b');
    expect(webSocketUrl({ protocol: 'https:', host: 'x:1' }, null)).toBe('wss://x:1/ws');
  });
});

describe('store with a real host', () => {
  it('a TCP client\'s request appears in the queue, a person accepts it, the log and latency feed have it', async () => {
    const r = await realWorkbench(sandbox);
    open.push(r);
    const s = () => r.wb.store.getState();
    const l = await s().createListener({ discipline: 'held', reofferMs: 1000 }, { source: 'export default () => "ask";', filename: 'ask.js' });
    const started = await s().startListener(l.id);
    expect(started.state).toBe('running');
    const c = tcpClient(started.bound!.port, { send: 'hello', expectBytes: 5 });
    const key = requestKey(l.id, 1);
    await until(() => s().pending.get(key)?.state === 'awaiting-person', 5000, 'request awaiting a person');
    expect(s().pending.get(key)).toMatchObject({ caller: { address: '127.0.0.1' }, attempts: 1 });
    expect(await s().decide([key], 'accept')).toEqual([]);
    expect((await c.outcome).received.toString()).toBe('hello'); // echoed: accepted
    await until(() => s().decisions.length === 1, 5000, 'decision event');
    expect(s().pending.size).toBe(0);
    expect(s().decisions[0]).toMatchObject({ listener: l.id, id: 1, verdict: 'accept', by: 'person' });
    expect(r.wb.latency.snapshot(l.id)).toHaveLength(1);
    // Tallies follow the events (the host sends a listener's state only when that changes).
    expect(s().listeners[l.id]).toMatchObject({ counts: { accept: 1 }, pending: 0 });
    expect(s().listeners[l.id]!.offers).toBeGreaterThanOrEqual(2);
  });
});
