// The host through the protocol, in-process: the same client the renderer uses, real sockets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AcceptHost } from '../../electron/host/host';
import { attachConnection, type ConnectionOptions } from '../../electron/host/connection';
import { loadSandbox, type Sandbox } from '../../electron/host/script/sandbox';
import { WorkbenchClient, WorkbenchError, type EventBatch } from '../../electron/protocol/client';
import type { HostEvent } from '../../electron/protocol/schema';
import { MessagePortTransport, inProcessPair, type PortLike, type Transport } from '../../electron/protocol/transport';
import { readSession } from '../../electron/host/session/reader';
import { client, sleep, waitFor } from '../helpers/net';
import { scratchDir } from '../helpers/scratch';

const scratch = scratchDir('aw-protocol-');
let sandbox: Sandbox;
beforeAll(async () => { sandbox = await loadSandbox(); });

const hosts: AcceptHost[] = [];
afterEach(() => { for (const h of hosts.splice(0)) h.close(); });

function connected(opts: ConnectionOptions = {}, pair: [Transport, Transport] = inProcessPair()) {
  const host = new AcceptHost({ sandbox, appVersion: '0.0.0-test' });
  hosts.push(host);
  const [hostSide, uiSide] = pair;
  const connection = attachConnection(host, hostSide, opts);
  const ui = new WorkbenchClient(uiSide);
  const events: HostEvent[] = [];
  const batches: Array<EventBatch & { at: number }> = [];
  ui.onEvents((b) => { batches.push({ ...b, at: Date.now() }); events.push(...b.events); });
  return { host, ui, events, batches, connection, hostSide, uiSide };
}

describe('protocol over the in-process transport', () => {
  it('says hello, creates and starts a listener, reports offers and decisions', async () => {
    const { ui, events } = connected();
    const hello = await ui.ready();
    expect(hello.protocol).toBe(1);
    expect(hello.backend).toBe(process.platform === 'win32' ? 'winsock' : 'posix');
    const created = await ui.call('listener.create', {
      options: { address: '127.0.0.1', port: 0, discipline: 'held' },
      script: { source: 'export default (req) => req.callerData.length > 0 ? "accept" : "defer";', filename: 'p.js' },
    });
    expect(created.state).toBe('stopped');
    expect(created.script?.version).toBe(1);
    const started = await ui.call('listener.start', { listener: created.id });
    expect(started.state).toBe('running');
    const port = started.bound!.port;
    expect(port).toBeGreaterThan(0);
    const a = client(port, { send: 'hi', expectBytes: 2 });
    expect((await a.outcome).received.toString()).toBe('hi');
    await waitFor(() => events.some((e) => e.type === 'decision'), 5000, 'decision event');
    const decision = events.find((e) => e.type === 'decision')!;
    const offers = events.filter((e) => e.type === 'offer');
    expect(decision).toMatchObject({ listener: created.id, verdict: 'accept', by: 'script' });
    expect(offers.at(-1)).toMatchObject({ verdict: 'accept', by: 'script', dataBytes: 2 });
    const detail = await ui.call('request.get', { listener: created.id, requestId: (decision as { id: number }).id });
    expect(detail.state).toBe('final');
    expect(detail.caller.address).toBe('127.0.0.1');
    expect(Buffer.from(detail.callerData, 'base64').toString()).toBe('hi');
    expect(detail.offers).toHaveLength(offers.length);
    expect(detail.final?.verdict).toBe('accept');
    const metrics = await ui.call('metrics.get', { listener: created.id });
    expect(metrics.latency).toHaveLength(1);
    expect(metrics.counts.accept).toBe(1);
    const stopped = await ui.call('listener.stop', { listener: created.id });
    expect(stopped.state).toBe('stopped');
    expect(stopped.counts.accept).toBe(1);
  });

  it('a person decides several requests at once; decide resolves once the verdict is applied', async () => {
    const { ui, events } = connected();
    const l = await ui.call('listener.create', { options: { discipline: 'held', reofferMs: 1000 }, script: { source: 'export default () => "ask";' } });
    const { bound } = await ui.call('listener.start', { listener: l.id });
    const a = client(bound!.port, { send: 'a', expectBytes: 1 });
    const b = client(bound!.port, { send: 'b' });
    let rows: Awaited<ReturnType<typeof ui.call<'request.list'>>> = [];
    await waitFor(() => { void ui.call('request.list', { listener: l.id }).then((r) => { rows = r; }); return rows.length === 2 && rows.every((r) => r.state === 'awaiting-person'); }, 5000, 'two requests awaiting a person');
    const [first, second] = rows.map((r) => r.id).sort((x, y) => x - y);
    const t0 = performance.now();
    const res = await ui.call('decide', { decisions: [
      { listener: l.id, requestId: first!, verdict: 'accept', calleeData: Buffer.from([1, 2]).toString('base64'), group: 3 },
      { listener: l.id, requestId: second!, verdict: 'reject' },
    ] });
    const took = performance.now() - t0;
    expect(res.results.map((r) => r.ok)).toEqual([true, true]);
    expect(took).toBeLessThan(1000); // not the 1 s re-offer: a decision wakes the request at once
    expect((await a.outcome).received.toString()).toBe('a');
    expect((await b.outcome).end).toBe('reset');
    await waitFor(() => events.filter((e) => e.type === 'decision').length === 2, 5000, 'two decisions');
    const personOffer = events.find((e) => e.type === 'offer' && e.by === 'person' && e.id === first);
    expect(personOffer).toBeTruthy();
    const detail = await ui.call('request.get', { listener: l.id, requestId: first! });
    expect(detail.offers.at(-1)).toMatchObject({ by: 'person', verdict: 'accept', calleeData: 'AQI=', group: 3 });
    const recent = await ui.call('decisions.recent', { listener: l.id });
    expect(recent.map((d) => [d.id, d.verdict, d.by])).toEqual(expect.arrayContaining([[first, 'accept', 'person'], [second, 'reject', 'person']]));
    expect(recent).toHaveLength(2);
    expect(await ui.call('decisions.recent', { limit: 1 })).toHaveLength(1);
    // Deciding again: already final.
    const again = await ui.call('decide', { decisions: [{ listener: l.id, requestId: first!, verdict: 'reject' }] });
    expect(again.results[0]).toMatchObject({ ok: false });
    expect(again.results[0]!.error).toMatch(/not pending/);
  });

  it('validates scripts, applies them with version history, and test-runs them', async () => {
    const { ui, events } = connected();
    const bad = await ui.call('script.validate', { source: 'export default (req) => {\n  return = 1;\n}', filename: 'bad.js' });
    expect(bad.ok).toBe(false);
    expect(bad.problem).toMatchObject({ filename: 'bad.js', line: 2 });
    const l = await ui.call('listener.create', { options: {} });
    const v1 = await ui.call('script.apply', { listener: l.id, source: 'export default () => "accept";', filename: 'a.js' });
    expect(v1).toMatchObject({ ok: true, script: { version: 1, filename: 'a.js' } });
    const refused = await ui.call('script.apply', { listener: l.id, source: 'export default (', filename: 'b.js' });
    expect(refused.ok).toBe(false);
    expect(refused.problem?.line).toBe(1);
    await ui.call('listener.start', { listener: l.id });
    const v2 = await ui.call('script.apply', { listener: l.id, source: 'export default () => "reject";', filename: 'b.js' });
    expect(v2.script?.version).toBe(2);
    const history = await ui.call('script.history', { listener: l.id });
    expect(history.map((h) => [h.version, h.filename])).toEqual([[1, 'a.js'], [2, 'b.js']]);
    await waitFor(() => events.some((e) => e.type === 'script' && e.script.version === 2), 2000, 'script event');
    const sample = {
      caller: { family: 'ipv4' as const, address: '10.1.2.3', port: 4000 },
      callee: { family: 'ipv4' as const, address: '127.0.0.1', port: 80 },
      callerData: Buffer.from('GET').toString('base64'), callerDataSource: 'peek' as const, sqos: null, attempt: 1,
      queue: { kernel: 0, held: 1, deferred: 0 }, callbackData: 0,
    };
    const run = await ui.call('script.testRun', {
      listener: l.id, source: 'export default (req, ctx) => { ctx.log(req.caller.address); return req.caller.address.startsWith("10.") ? "reject" : "accept"; }',
      request: { sample },
    });
    expect(run.run).toMatchObject({ verdict: 'reject', by: 'script', logs: ['10.1.2.3'] });
    const thrown = await ui.call('script.testRun', { source: 'export default () => { throw new Error("no"); }', request: { sample } });
    expect(thrown.run?.by).toBe('fallback');
    expect(thrown.run?.error?.code).toBe('throw');
  });

  it('answers invalid messages with errors and never acts on them', async () => {
    const { ui, hostSide, uiSide } = connected();
    await ui.ready();
    const replies: unknown[] = [];
    // A second receiver on the raw UI side to see the error replies to garbage.
    const raw = uiSide as Transport;
    const seen: unknown[] = [];
    void raw;
    void hostSide;
    await expect(ui.call('listener.start', { listener: 99 })).rejects.toMatchObject({ code: 'not-found' });
    await expect(ui.call('listener.create', { options: { port: 70000 } })).rejects.toMatchObject({ code: 'invalid-params', message: expect.stringMatching(/options\.port/) });
    await expect(ui.call('listener.create', { options: { colour: 'red' } as never })).rejects.toMatchObject({ code: 'invalid-params' });
    await expect(ui.call('no.such' as never, {} as never)).rejects.toMatchObject({ code: 'unknown-method' });
    await expect(ui.call('decide', { decisions: [] })).rejects.toMatchObject({ code: 'invalid-params' });
    const list = await ui.call('listener.list', {});
    expect(list).toEqual([]); // nothing was created by the invalid requests
    void replies;
    void seen;
  });

  it('rejects malformed envelopes with an error reply', async () => {
    const host = new AcceptHost({ sandbox, appVersion: '0.0.0-test' });
    hosts.push(host);
    const [hostSide, uiSide] = inProcessPair();
    attachConnection(host, hostSide);
    const got: unknown[] = [];
    uiSide.onMessage((m) => got.push(m));
    uiSide.send({ kind: 'request', id: 7, method: 'listener.create' , params: { options: {} }, extra: 1 });
    uiSide.send('not an object');
    uiSide.send({ kind: 'request', id: 8, method: 'listener.create', params: { options: { backlog: -1 } } });
    await waitFor(() => got.length === 4, 2000, 'hello and three replies');
    expect(got[0]).toMatchObject({ kind: 'hello' });
    expect(got[1]).toMatchObject({ kind: 'response', id: 7, error: { code: 'invalid-message' } });
    expect(got[2]).toMatchObject({ kind: 'response', id: 0, error: { code: 'invalid-message' } });
    expect(got[3]).toMatchObject({ kind: 'response', id: 8, error: { code: 'invalid-params' } });
    expect((await host.handle('listener.list', {}))).toEqual([]);
  });

  it('the client refuses a host message that fails validation', async () => {
    const [hostSide, uiSide] = inProcessPair();
    const problems: string[] = [];
    const ui = new WorkbenchClient(uiSide, { onProtocolError: (m) => problems.push(m) });
    hostSide.send({ kind: 'hello', protocol: 1, appVersion: 'x', backend: 'posix', platform: 'linux', hostId: 'h' });
    await ui.ready();
    const events: EventBatch[] = [];
    ui.onEvents((b) => events.push(b));
    hostSide.send({ kind: 'events', seq: 1, events: [{ type: 'decision', t: 1, listener: 1, id: 1, verdict: 'maybe' }] });
    hostSide.send({ kind: 'response', id: 42, result: {} });
    await waitFor(() => problems.length === 2, 2000, 'two protocol errors');
    // The invalid event is never handled: the batch arrives without it, marked for a resync.
    expect(events).toEqual([{ seq: 1, events: [], dropped: { invalid: 1 } }]);
    expect(problems[0]).toMatch(/invalid message from the host: events\[0\]/);
    const pending = ui.call('listener.list', {});
    hostSide.send({ kind: 'response', id: 1, result: [{ id: 'one' }] });
    await expect(pending).rejects.toMatchObject({ code: 'invalid-message' });
  });

  it('a call times out after the client\'s timeout unless it asks for its own (0: none)', async () => {
    const [hostSide, uiSide] = inProcessPair();
    const ui = new WorkbenchClient(uiSide, { timeoutMs: 50 });
    hostSide.send({ kind: 'hello', protocol: 1, appVersion: 'x', backend: 'posix', platform: 'linux', hostId: 'h' });
    await ui.ready();
    await expect(ui.call('listener.list', {})).rejects.toMatchObject({ code: 'timeout' });
    let settled = false;
    void ui.call('session.open', { path: '/nowhere.jsonl' }, { timeoutMs: 0 }).then(() => { settled = true; }, () => { settled = true; });
    await sleep(200);
    expect(settled).toBe(false);
    hostSide.close('done');
    await waitFor(() => settled, 2000, 'failed on close');
  });

  it('a closed transport fails pending calls with disconnected', async () => {
    const { ui, hostSide } = connected();
    await ui.ready();
    const statuses: string[] = [];
    ui.onStatus((s) => statuses.push(s.state));
    // In flight when the transport closes: failed, not left hanging.
    const inFlight = ui.call('listener.list', {});
    hostSide.close('gone');
    await expect(inFlight).rejects.toMatchObject({ code: 'disconnected' });
    await waitFor(() => ui.state === 'disconnected', 2000, 'disconnected');
    await expect(ui.call('listener.list', {})).rejects.toBeInstanceOf(WorkbenchError);
    expect(statuses).toEqual(['disconnected']);
  });

  it('batches with invalid events: the valid ones are handled, each batch is acknowledged, the stream goes on', async () => {
    const host = new AcceptHost({ sandbox, appVersion: '0.0.0-test' });
    hosts.push(host);
    const [hostSide, uiSide] = inProcessPair();
    attachConnection(host, hostSide, { batchIntervalMs: 10 });
    const problems: string[] = [];
    const ui = new WorkbenchClient(uiSide, { onProtocolError: (m) => problems.push(m) });
    const batches: EventBatch[] = [];
    ui.onEvents((b) => batches.push(b));
    await ui.ready();
    const publish = (e: unknown): void => (host as unknown as { publish(e: unknown): void }).publish(e);
    // More bad batches than the host sends unacknowledged (4): each has one bad event and a good one.
    for (let i = 0; i < 6; i++) {
      publish({ type: 'log', t: 1, listener: 1, message: 42 });
      publish({ type: 'log', t: 1, listener: 1, message: `good ${i}` });
      await waitFor(() => batches.length > i, 2000, `batch ${i}`);
    }
    expect(problems.length).toBe(6);
    const logs = batches.flatMap((b) => b.events).filter((e) => e.type === 'log').map((e) => (e as { message: string }).message);
    expect(logs).toEqual(['good 0', 'good 1', 'good 2', 'good 3', 'good 4', 'good 5']);
    expect(batches.every((b) => b.dropped?.invalid === 1)).toBe(true);
    // And later events still arrive.
    const l = await ui.call('listener.create', { options: {} });
    await waitFor(() => batches.some((b) => b.events.some((e) => e.type === 'listener' && e.listener.id === l.id)), 2000, 'the listener event');
  });
});

describe('protocol over a MessagePort', () => {
  it('works over worker_threads MessagePorts (the same interface as the DOM one)', async () => {
    const { port1, port2 } = new MessageChannel();
    const pair: [Transport, Transport] = [new MessagePortTransport(port1 as unknown as PortLike), new MessagePortTransport(port2 as unknown as PortLike)];
    const { ui } = connected({}, pair);
    await ui.ready();
    const l = await ui.call('listener.create', { options: { handler: 'close' } });
    expect(l.options.handler).toBe('close');
    port1.close();
    port2.close();
  });
});

describe('event batching', () => {
  it('a 5,000-connection burst: at most ~30 batches a second, every request in the record and in the UI stream', async () => {
    const file = path.join(scratch, 'burst.jsonl');
    const { ui, batches, events } = connected();
    const l = await ui.call('listener.create', { options: { discipline: 'held', handler: 'close', backlog: 4096 } });
    await ui.call('recording.start', { path: file });
    const { bound } = await ui.call('listener.start', { listener: l.id });
    const N = 5000;
    const port = bound!.port;
    const outcomes: Promise<unknown>[] = [];
    for (let i = 0; i < N; i += 200) {
      for (let j = i; j < Math.min(N, i + 200); j++) outcomes.push(client(port, { timeoutMs: 10_000 }).outcome);
      await Promise.all(outcomes.slice(i, i + 200));
    }
    await waitFor(() => events.filter((e) => e.type === 'decision').length >= N, 20_000, `${N} decision events`);
    await ui.call('listener.stop', { listener: l.id });
    await ui.call('recording.stop', {});
    // No one-second window holds more than ~30 batches (receipt times jitter a little).
    const times = batches.map((b) => b.at);
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(31);
    expect(batches.length).toBeGreaterThan(1);
    const decided = new Set(events.filter((e) => e.type === 'decision').map((e) => (e as { id: number }).id));
    expect(decided.size).toBe(N);
    const session = await readSession(file);
    const recorded = new Set(session.events.filter((e) => e.type === 'decision').map((e) => (e as { id: number }).id));
    expect(recorded.size).toBe(N);
    expect(session.events.filter((e) => e.type === 'offer')).toHaveLength(N);
  }, 60_000);

  it('a UI that does not acknowledge gets no more than maxUnacked batches; display events are dropped and counted, decisions kept', async () => {
    const host = new AcceptHost({ sandbox, appVersion: '0.0.0-test' });
    hosts.push(host);
    const [hostSide, uiSide] = inProcessPair();
    attachConnection(host, hostSide, { maxUnacked: 2, maxQueued: 10, batchIntervalMs: 10 });
    const got: Array<{ kind: string; seq?: number; events?: HostEvent[]; dropped?: Record<string, number> }> = [];
    uiSide.onMessage((m) => got.push(m as never));
    const l = await host.handle('listener.create', { options: { discipline: 'held', handler: 'close' } });
    const { bound } = await host.handle('listener.start', { listener: l.id });
    await Promise.all(Array.from({ length: 30 }, () => client(bound!.port).outcome));
    await waitFor(() => host.lostState() && got.filter((m) => m.kind === 'events').length >= 2, 3000, 'two batches');
    await sleep(200);
    const sent = got.filter((m) => m.kind === 'events');
    expect(sent).toHaveLength(2); // nothing more until acknowledged
    uiSide.send({ kind: 'ack', seq: 2 });
    await host.handle('listener.stop', { listener: l.id });
    await waitFor(() => got.filter((m) => m.kind === 'events').length >= 3, 3000, 'batch after ack');
    for (let i = 3; i < 10; i++) { uiSide.send({ kind: 'ack', seq: i }); await sleep(20); }
    const all = got.filter((m) => m.kind === 'events');
    const decisions = all.flatMap((m) => m.events!).filter((e) => e.type === 'decision');
    expect(decisions).toHaveLength(30);
    const droppedOffers = all.reduce((n, m) => n + (m.dropped?.offer ?? 0), 0);
    const offers = all.flatMap((m) => m.events!).filter((e) => e.type === 'offer').length;
    expect(droppedOffers).toBeGreaterThan(0);
    expect(offers + droppedOffers).toBe(30);
  });
});

describe('sessions', () => {
  it('records from the host, opens the recording and walks its timeline; what-if finds the changed verdicts', async () => {
    const file = path.join(scratch, 's.jsonl');
    const { ui, events } = connected();
    const l = await ui.call('listener.create', {
      options: { discipline: 'held', handler: 'close' },
      script: { source: 'export default (req) => req.caller.port % 2 === 0 ? "accept" : "reject";' },
    });
    await ui.call('recording.start', { path: file });
    const { bound } = await ui.call('listener.start', { listener: l.id });
    await Promise.all(Array.from({ length: 20 }, () => client(bound!.port).outcome));
    await waitFor(() => events.filter((e) => e.type === 'decision').length === 20, 5000, '20 decisions');
    await ui.call('recording.stop', {});
    await ui.call('listener.stop', { listener: l.id });
    expect(fs.existsSync(file)).toBe(true);
    const opened = await ui.call('session.open', { path: file });
    expect(opened.requests).toBe(20);
    expect(opened.complete).toBe(true);
    const accepts = opened.verdicts.accept;
    const atEnd = await ui.call('session.stateAt', { session: opened.session, t: opened.durationMs });
    expect(atEnd.pending).toEqual([]);
    expect(atEnd.counts.accept + atEnd.counts.reject).toBe(20);
    const atStart = await ui.call('session.stateAt', { session: opened.session, t: 0 });
    expect(atStart.counts.accept + atStart.counts.reject).toBe(0);
    const reqs = await ui.call('session.requests', { session: opened.session, limit: 5 });
    expect(reqs.total).toBe(20);
    expect(reqs.requests).toHaveLength(5);
    const { job } = await ui.call('session.whatIf', { session: opened.session, source: 'export default () => "accept";' });
    const done = await waitFor(() => events.find((e) => e.type === 'job-done' && e.job === job), 10_000, 'what-if job');
    expect(done).toMatchObject({ outcome: 'done', kind: 'what-if' });
    const result = (done as { result: { summary: { changed: number; same: number }; changed: unknown[] } }).result;
    expect(result.summary.changed).toBe(20 - accepts);
    expect(result.summary.same).toBe(accepts);
    expect(result.changed).toHaveLength(20 - accepts);
    await expect(ui.call('session.open', { path: path.join(scratch, 'missing.jsonl') })).rejects.toMatchObject({ code: 'failed' });
    fs.writeFileSync(path.join(scratch, 'bad.jsonl'), '{"type":"session"}\n');
    await expect(ui.call('session.open', { path: path.join(scratch, 'bad.jsonl') })).rejects.toMatchObject({ code: 'invalid-params', message: expect.stringMatching(/bad\.jsonl:1: /) });
  });

  it('opening a large session reports progress as a job, and job.cancel stops it', async () => {
    // A real recording of a few callers, then its requests copied with new ids and later times
    // until the file is ~48 MB: about a second of reading here.
    const small = path.join(scratch, 'small.jsonl');
    const { ui, events } = connected();
    const l = await ui.call('listener.create', { options: { discipline: 'held', handler: 'close' } });
    await ui.call('recording.start', { path: small });
    const { bound } = await ui.call('listener.start', { listener: l.id });
    await Promise.all(Array.from({ length: 5 }, () => client(bound!.port).outcome));
    await waitFor(() => events.filter((e) => e.type === 'decision').length === 5, 5000, '5 decisions');
    await ui.call('recording.stop', {});
    await ui.call('listener.stop', { listener: l.id });
    const lines = fs.readFileSync(small, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { type: string; t: number; id?: number });
    const head = lines.filter((r) => r.type !== 'offer' && r.type !== 'decision' && r.type !== 'handler' && r.type !== 'end');
    const body = lines.filter((r) => r.type === 'offer' || r.type === 'decision');
    const span = Math.max(...lines.map((r) => r.t)) + 1;
    const big = path.join(scratch, 'big.jsonl');
    const fd = fs.openSync(big, 'w');
    fs.writeSync(fd, head.map((r) => JSON.stringify(r)).join('\n') + '\n');
    let size = 0;
    let copies = 0;
    for (; size < 48e6; copies++) {
      const chunk = body.map((r) => JSON.stringify({ ...r, id: r.id! + copies * 1000, t: r.t + copies * span })).join('\n') + '\n';
      size += fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    const total = fs.statSync(big).size;

    const opened = await ui.call('session.open', { path: big });
    expect(opened.requests).toBe(5 * copies);
    const progress = events.filter((e) => e.type === 'job-progress' && e.kind === 'open-session') as Array<Extract<HostEvent, { type: 'job-progress' }>>;
    expect(progress.length).toBeGreaterThan(0);
    const job = progress[0]!.job;
    expect(progress.every((e) => e.job === job && e.total === total)).toBe(true);
    await waitFor(() => events.find((e) => e.type === 'job-done' && e.job === job), 2000, 'open job done');
    expect(events.find((e) => e.type === 'job-done' && e.job === job)).toMatchObject({ kind: 'open-session', outcome: 'done' });
    const last = (await waitFor(() => events.filter((e) => e.type === 'job-progress' && e.job === job).at(-1), 2000, 'last progress')) as { done: number };
    expect(last.done).toBe(total); // the final chunk is always reported

    // Cancelled at its first progress event: the call fails with `cancelled`, the job says so.
    const from = events.length;
    const second = ui.call('session.open', { path: big });
    const first = await waitFor(() => events.slice(from).find((e) => e.type === 'job-progress' && e.kind === 'open-session'), 5000, 'first progress') as { job: number; done: number };
    expect(first.done).toBeLessThan(total);
    await expect(ui.call('job.cancel', { job: first.job })).resolves.toEqual({ cancelled: true });
    await expect(second).rejects.toMatchObject({ code: 'cancelled' });
    await waitFor(() => events.find((e) => e.type === 'job-done' && e.job === first.job), 2000, 'cancelled job done');
    expect(events.find((e) => e.type === 'job-done' && e.job === first.job)).toMatchObject({ kind: 'open-session', outcome: 'cancelled' });
  });

  it('sessions a connection opened are closed when it goes away; another connection\'s stay', async () => {
    const file = path.join(scratch, 'owned.jsonl');
    const a = connected();
    const l = await a.ui.call('listener.create', { options: { discipline: 'held', handler: 'close' } });
    await a.ui.call('recording.start', { path: file });
    const { bound } = await a.ui.call('listener.start', { listener: l.id });
    await client(bound!.port).outcome;
    await waitFor(() => a.events.some((e) => e.type === 'decision'), 5000, 'a decision');
    await a.ui.call('recording.stop', {});
    const mine = await a.ui.call('session.open', { path: file });
    // A second UI on the same host.
    const [hostSide2, uiSide2] = inProcessPair();
    attachConnection(a.host, hostSide2);
    const b = new WorkbenchClient(uiSide2);
    await b.ready();
    const theirs = await b.call('session.open', { path: file });
    const open = (): number => (a.host as unknown as { sessions: Map<number, unknown> }).sessions.size;
    expect(open()).toBe(2);
    a.hostSide.close('gone');
    await waitFor(() => open() === 1, 2000, 'the first UI\'s session closed');
    await expect(b.call('session.stateAt', { session: theirs.session, t: 0 })).resolves.toMatchObject({ t: 0 });
    await expect(b.call('session.stateAt', { session: mine.session, t: 0 })).rejects.toMatchObject({ code: 'not-found' });
  });

  it('recording.start refuses a file that exists unless told to overwrite it', async () => {
    const file = path.join(scratch, 'exists.jsonl');
    fs.writeFileSync(file, 'precious\n');
    const { ui } = connected();
    await expect(ui.call('recording.start', { path: file })).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/exists/) });
    expect(fs.readFileSync(file, 'utf8')).toBe('precious\n');
    await expect(ui.call('recording.start', { path: file, overwrite: true })).resolves.toMatchObject({ path: file });
    await ui.call('recording.stop', {});
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^\{"type":"session"/);
  });

  it('runs the simulator as a job with progress, and cancels one', async () => {
    const { ui, events } = connected();
    const l = await ui.call('listener.create', { options: { discipline: 'held' }, script: { source: 'export default () => "reject";' } });
    const { bound } = await ui.call('listener.start', { listener: l.id });
    const { job } = await ui.call('simulate.start', { target: { host: '127.0.0.1', port: bound!.port }, count: 50, concurrency: 5 });
    const done = await waitFor(() => events.find((e) => e.type === 'job-done' && e.job === job), 10_000, 'simulation');
    expect(done).toMatchObject({ outcome: 'done', kind: 'simulate' });
    expect((done as { result: { outcomes: { reset: number; refused: number } } }).result.outcomes.reset).toBe(50);
    const slow = await ui.call('simulate.start', { target: { host: '127.0.0.1', port: bound!.port }, count: 1000, rate: 20 });
    await sleep(100);
    expect(await ui.call('job.cancel', { job: slow.job })).toEqual({ cancelled: true });
    const cancelled = await waitFor(() => events.find((e) => e.type === 'job-done' && e.job === slow.job), 5000, 'cancelled job');
    expect(cancelled).toMatchObject({ outcome: 'cancelled' });
    await expect(ui.call('simulate.start', { target: { host: '127.0.0.1', port: 1 }, count: 1, sources: 'nonsense' })).rejects.toMatchObject({ code: 'invalid-params' });
  });
});
