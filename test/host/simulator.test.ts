// The caller simulator engine and the live-replay plan, against plain Node servers on loopback.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SourceRangeError, abortsAt, parseSources, percentiles, runClient, runSimulation, sourceAt,
  type SimulationProgress,
} from '../../electron/host/simulator';
import { LiveReplayError, loadLivePlan, mapSources, thenOutcome, type RecordedRequest } from '../../electron/host/replay/live';
import { SessionRecorder, type SessionEventInput } from '../../electron/host/session/recorder';
import { SessionFormatError } from '../../electron/host/session/reader';
import { openFds, sleep } from '../helpers/net';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aw-sim-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const servers: net.Server[] = [];
afterEach(() => { for (const s of servers.splice(0)) s.close(); });

interface TestServer {
  port: number;
  server: net.Server;
  sockets: Set<net.Socket>;
  remotes: string[];
  maxOpen: number;
  resets: number;
}

/** A Node server whose connection handling is `onConnection`; tracks concurrency and resets. */
async function serve(onConnection: (s: net.Socket) => void, opts: net.ServerOpts = {}): Promise<TestServer> {
  const t: TestServer = { port: 0, server: net.createServer(opts), sockets: new Set(), remotes: [], maxOpen: 0, resets: 0 };
  t.server.on('connection', (s) => {
    t.sockets.add(s);
    t.remotes.push(s.remoteAddress ?? '');
    t.maxOpen = Math.max(t.maxOpen, t.sockets.size);
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET') t.resets++; });
    s.on('close', () => t.sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((res) => t.server.listen(0, '127.0.0.1', res));
  t.port = (t.server.address() as net.AddressInfo).port;
  servers.push(t.server);
  const close = t.server.close.bind(t.server);
  t.server.close = ((cb?: (err?: Error) => void) => { for (const s of t.sockets) s.destroy(); return close(cb); }) as typeof t.server.close;
  return t;
}

const echo = (s: net.Socket): void => { s.pipe(s); };
const silent = (): void => { /* never answers */ };

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

describe('sources', () => {
  it('parses loopback ranges, single addresses and ::1, and hands them out in turn', () => {
    const r = parseSources('127.0.0.2-127.0.0.4');
    expect(r).toEqual({ family: 'ipv4', first: (127 << 24 >>> 0) + 2, size: 3 });
    expect([0, 1, 2, 3, 4].map((i) => sourceAt(r, i))).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.2', '127.0.0.3']);
    expect(sourceAt(parseSources('127.1.2.3'), 7)).toBe('127.1.2.3');
    expect(sourceAt(parseSources('127.0.0.255-127.0.1.0'), 1)).toBe('127.0.1.0');
    expect(parseSources('::1')).toMatchObject({ family: 'ipv6', size: 1 });
    expect(sourceAt(parseSources('[::1]'), 3)).toBe('::1');
  });

  it.each([
    ['10.0.0.1', /not a loopback address/],
    ['127.0.0.2-128.0.0.1', /'128\.0\.0\.1' is not a loopback address/],
    ['::2', /of IPv6 only ::1/],
    ['127.0.0.9-127.0.0.2', /ends before it starts/],
    ['localhost', /not an IPv4 address/],
    ['127.0.0.1-127.0.0.2-127.0.0.3', /FIRST-LAST/],
  ])('refuses %s', (text, message) => {
    expect(() => parseSources(text)).toThrow(SourceRangeError);
    expect(() => parseSources(text)).toThrow(message);
  });
});

describe('helpers', () => {
  it('spreads aborting clients evenly: floor(N * ratio) of N', () => {
    for (const ratio of [0, 0.1, 0.25, 0.29, 1 / 3, 0.5, 0.7, 0.99, 1]) {
      for (const n of [1, 7, 10, 100, 1000]) {
        let k = 0;
        for (let i = 0; i < n; i++) if (abortsAt(i, ratio)) k++;
        expect(k).toBe(Math.floor(n * ratio + 1e-9));
      }
    }
    expect([0, 1, 2, 3].map((i) => abortsAt(i, 0.5))).toEqual([false, true, false, true]);
  });

  it('computes nearest-rank percentiles and nulls without samples', () => {
    const v = Float64Array.from([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
    expect(percentiles(v, 10)).toEqual({ p50: 5, p90: 9, p99: 10, max: 10 });
    expect(percentiles(new Float64Array(4), 0)).toEqual({ p50: null, p90: null, p99: null, max: null });
  });
});

describe('runClient outcomes', () => {
  it('served (full echo), eof, reset, refused, timeout, open, aborted', async () => {
    const e = await serve(echo);
    const closing = await serve((s) => s.end());
    const resetting = await serve((s) => s.resetAndDestroy());
    const quiet = await serve(silent);
    const refusedPort = await closedPort();
    const base = { host: '127.0.0.1', timeoutMs: 2000 };
    const [served, eof, reset, refused, timeout, open, aborted] = await Promise.all([
      runClient({ ...base, port: e.port, data: Buffer.from('hello') }),
      runClient({ ...base, port: closing.port }),
      runClient({ ...base, port: resetting.port }),
      runClient({ ...base, port: refusedPort }),
      runClient({ ...base, port: quiet.port, timeoutMs: 150 }),
      runClient({ ...base, port: quiet.port, holdMs: 50 }),
      runClient({ ...base, port: quiet.port, abortAfterMs: 20 }),
    ]);
    expect(served).toMatchObject({ outcome: 'served', connected: true, bytesOut: 5, bytesIn: 5 });
    expect(served!.connectMs).toBeGreaterThan(0);
    expect(served!.outcomeMs).toBeGreaterThanOrEqual(served!.connectMs!);
    expect(served!.local).toMatchObject({ address: '127.0.0.1' });
    expect(eof).toMatchObject({ outcome: 'eof', connected: true, bytesIn: 0 });
    expect(reset).toMatchObject({ outcome: 'reset', error: 'ECONNRESET' });
    expect(refused).toMatchObject({ outcome: 'refused', connected: false, connectMs: null, error: 'ECONNREFUSED' });
    expect(timeout).toMatchObject({ outcome: 'timeout', connected: true });
    expect(timeout!.outcomeMs).toBeGreaterThanOrEqual(145);
    expect(open).toMatchObject({ outcome: 'open', connected: true });
    expect(aborted).toMatchObject({ outcome: 'aborted', connected: true });
    await sleep(50);
    expect(quiet.resets).toBeGreaterThanOrEqual(1); // the aborting client reset its connection
  });

  it('sends after a delay, and with a hold stays until the hold ends although served', async () => {
    const e = await serve(echo);
    const r = await runClient({ host: '127.0.0.1', port: e.port, timeoutMs: 2000, data: Buffer.from('ab'), sendAfterMs: 60, holdMs: 80 });
    expect(r).toMatchObject({ outcome: 'served', bytesIn: 2 });
    expect(r!.outcomeMs - r!.connectMs!).toBeGreaterThanOrEqual(135);
  });

  it('once connected, a hold outlasts --timeout-ms (which bounds the connect)', async () => {
    const quiet = await serve(silent);
    const r = await runClient({ host: '127.0.0.1', port: quiet.port, timeoutMs: 50, holdMs: 120 });
    expect(r).toMatchObject({ outcome: 'open', connected: true });
    expect(r!.outcomeMs).toBeGreaterThanOrEqual(115);
  });

  it('a connect that never completes times out (a listener whose backlog is full)', async () => {
    // A stopped child process keeps its listening socket but never accepts: the kernel completes
    // backlog+1 handshakes and then drops SYNs.
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', `
      const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
        process.stdout.write(String(s.address().port) + '\\n'); process.kill(process.pid, 'SIGSTOP'); });`]);
    try {
      const port = await new Promise<number>((res) => child.stdout.once('data', (d: Buffer) => res(Number(String(d).trim()))));
      await sleep(50);
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map(() => runClient({ host: '127.0.0.1', port, timeoutMs: 300 })));
      expect(results.every((r) => r!.outcome === 'timeout')).toBe(true);
      const connected = results.filter((r) => r!.connected).length;
      expect(connected).toBeGreaterThanOrEqual(1);
      expect(connected).toBeLessThan(6);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('an aborted signal resolves null and closes the socket', async () => {
    const quiet = await serve(silent);
    const ac = new AbortController();
    const p = runClient({ host: '127.0.0.1', port: quiet.port, timeoutMs: 5000, signal: ac.signal });
    await sleep(50);
    ac.abort();
    expect(await p).toBeNull();
    await sleep(30);
    expect(quiet.sockets.size).toBe(0);
  });
});

describe('runSimulation', () => {
  it('counts outcomes and latencies against an echo server; concurrency caps connections in flight', async () => {
    const e = await serve(echo);
    const fds = openFds();
    const results: number[] = [];
    let maxInFlight = 0;
    const r = await runSimulation({
      host: '127.0.0.1', port: e.port, count: 40, concurrency: 5, data: Buffer.from('ping'), holdMs: 20,
      onResult: (_res, i) => results.push(i),
      onProgress: (p) => { maxInFlight = Math.max(maxInFlight, p.inFlight); }, progressIntervalMs: 5,
    });
    expect(r).toMatchObject({ requested: 40, count: 40, started: 40, cancelled: 0, connected: 40, bytesOut: 160, bytesIn: 160, reason: 'done' });
    expect(r.outcomes).toEqual({ served: 40, refused: 0, reset: 0, eof: 0, timeout: 0, aborted: 0, open: 0, error: 0 });
    expect(maxInFlight).toBe(5);
    // The server notices a close a little after the client has started its next connection.
    expect(e.maxOpen).toBeGreaterThanOrEqual(5);
    expect(e.maxOpen).toBeLessThanOrEqual(10);
    expect(results.sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
    for (const p of [r.connectMs, r.outcomeMs]) {
      expect(p.p50).not.toBeNull();
      expect(p.p50!).toBeLessThanOrEqual(p.p90!);
      expect(p.p90!).toBeLessThanOrEqual(p.p99!);
      expect(p.p99!).toBeLessThanOrEqual(p.max!);
    }
    expect(r.outcomeMs.p50!).toBeGreaterThanOrEqual(20);
    await sleep(50);
    expect(openFds()).toBeLessThanOrEqual(fds);
  });

  it('caps the rate of new connections', async () => {
    const e = await serve((s) => s.end());
    const r = await runSimulation({ host: '127.0.0.1', port: e.port, count: 6, concurrency: 6, rate: 50 });
    expect(r.outcomes.eof).toBe(6);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(95); // connection i starts at i/50 s
  });

  it('aborts the given share of clients with a reset; the others send their data', async () => {
    const got: string[] = [];
    const e = await serve((s) => { s.on('data', (d) => got.push(String(d))); s.pipe(s); });
    const r = await runSimulation({ host: '127.0.0.1', port: e.port, count: 10, abortRatio: 0.3, data: Buffer.from('x'), concurrency: 10 });
    expect(r.outcomes).toMatchObject({ served: 7, aborted: 3 });
    await sleep(50);
    expect(e.resets).toBe(3);
    expect(got.join('')).toBe('xxxxxxx');
  });

  it('binds each client to the next source address', async () => {
    const e = await serve((s) => s.end());
    const r = await runSimulation({ host: '127.0.0.1', port: e.port, count: 6, concurrency: 1, sources: parseSources('127.0.0.2-127.0.0.4') });
    expect(r.outcomes.eof).toBe(6);
    expect(e.remotes).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });

  it('mixed outcomes add up; refused and error codes are reported', async () => {
    const refusedPort = await closedPort();
    const r = await runSimulation({ host: '127.0.0.1', port: refusedPort, count: 5 });
    expect(r.outcomes.refused).toBe(5);
    expect(r.connected).toBe(0);
    expect(r.connectMs.p50).toBeNull();
    expect(r.outcomeMs.p50).not.toBeNull();
    const bad = await runSimulation({ host: '127.0.0.1', port: refusedPort, count: 2, sources: parseSources('::1') });
    expect(bad.outcomes.error).toBe(2);
    expect(Object.values(bad.errors).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('stops on the AbortSignal with a partial report; running clients are cancelled, not counted', async () => {
    const quiet = await serve(silent);
    const ac = new AbortController();
    const progress: SimulationProgress[] = [];
    const t = Date.now();
    const p = runSimulation({
      host: '127.0.0.1', port: quiet.port, count: 1000, concurrency: 4, timeoutMs: 10_000, signal: ac.signal,
      onProgress: (x) => progress.push(x), progressIntervalMs: 20,
    });
    await sleep(120);
    ac.abort('SIGINT');
    const r = await p;
    expect(Date.now() - t).toBeLessThan(2000);
    expect(r).toMatchObject({ reason: 'SIGINT', requested: 1000, started: 4, count: 0, cancelled: 4 });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[progress.length - 1]).toMatchObject({ started: 4, inFlight: 4, done: 0, count: 1000 });
    await sleep(30);
    expect(quiet.sockets.size).toBe(0);
  });

  it('stops starting connections after durationMs and lets the running ones finish', async () => {
    const e = await serve(echo);
    const r = await runSimulation({ host: '127.0.0.1', port: e.port, count: 1000, concurrency: 2, holdMs: 40, durationMs: 100 });
    expect(r.reason).toBe('duration');
    expect(r.count).toBeGreaterThanOrEqual(4);
    expect(r.count).toBeLessThanOrEqual(8);
    expect(r.count).toBe(r.started);
    expect(r.outcomes.open).toBe(r.count); // nothing was sent: open for the whole hold
  });

  it('refuses counts above the cap', () => {
    expect(() => runSimulation({ host: '127.0.0.1', port: 1, count: 1_000_001 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Live replay plan (the replay itself runs in test/cli/live-replay.test.ts)

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const sockaddr = (address: string, port: number) => ({
  family: (address.includes(':') ? 'ipv6' : 'ipv4') as 'ipv4' | 'ipv6', address, port, raw: b64('x'.repeat(16)),
});
const LISTENER: SessionEventInput = {
  type: 'listener', t: 0.5, listener: 1, address: '127.0.0.1', port: 40000,
  options: {
    bind: '127.0.0.1', port: 0, backlog: 16, discipline: 'held', handler: 'echo', fallback: 'reject',
    budgetMs: 20, deferTimeoutMs: 1000, reofferMs: 5, deferAcceptS: 0, fastOpen: false,
  },
};
function offer(t: number, id: number, attempt: number, caller: string, port: number, data: string, verdict: 'accept' | 'reject' | 'defer', source: 'none' | 'peek' | 'syn' = data ? 'peek' : 'none', listener = 1): SessionEventInput {
  return {
    type: 'offer', t, listener, id, attempt, caller: sockaddr(caller, port), callee: sockaddr('127.0.0.1', 40000),
    callerData: b64(data), callerDataSource: source, sqos: null, gqos: null, verdict, by: 'script', conditionUs: 5,
    result: verdict === 'accept' ? 'OK' : verdict === 'reject' ? 'WSAECONNREFUSED' : 'WSATRY_AGAIN', scriptVersion: 1,
  };
}
function decision(t: number, id: number, caller: string, port: number, verdict: 'accept' | 'reject' | 'expire' | 'withdraw' | 'error', latencyMs: number, listener = 1): SessionEventInput {
  return {
    type: 'decision', t, listener, id, caller: { address: caller, port }, verdict, attempts: 1, latencyUs: latencyMs * 1000,
    by: verdict === 'expire' || verdict === 'withdraw' ? 'system' : 'script', result: verdict === 'accept' ? 'OK' : 'WSAECONNRESET',
  };
}
function writeSession(name: string, events: SessionEventInput[], close = true): string {
  const file = path.join(dir, name);
  const rec = SessionRecorder.open(file, { appVersion: '0.0.0-test', backend: 'posix' });
  for (const e of events) rec.record(e);
  if (close) rec.close({ reason: 'stopped', t: 10_000 }); else rec.flush();
  return file;
}

describe('live replay plan', () => {
  it('maps final states to what the client saw then', () => {
    expect(thenOutcome('accept', 'echo', true)).toBe('served');
    expect(thenOutcome('accept', 'echo', false)).toBe('open');
    expect(thenOutcome('accept', 'hold', true)).toBe('open');
    expect(thenOutcome('accept', 'discard', true)).toBe('open');
    expect(thenOutcome('accept', 'close', false)).toBe('eof');
    expect(thenOutcome('accept', 'close', true)).toBe('reset');
    for (const v of ['reject', 'expire', 'error'] as const) expect(thenOutcome(v, 'echo', true)).toBe('reset');
    expect(thenOutcome('withdraw', 'echo', false)).toBe('aborted');
    expect(thenOutcome(null, 'echo', false)).toBe('unknown');
  });

  it('reads requests in arrival order with data, data timing, withdrawal timing and then', async () => {
    const file = writeSession('plan.jsonl', [
      LISTENER,
      offer(100, 1, 1, '10.0.0.7', 5001, '', 'defer'),
      offer(110, 2, 1, '10.0.0.8', 5002, 'HELLO', 'accept', 'syn'),
      decision(110.1, 2, '10.0.0.8', 5002, 'accept', 0.1),
      offer(150, 1, 2, '10.0.0.7', 5001, 'HE', 'defer'),
      offer(160, 1, 3, '10.0.0.7', 5001, 'HELLO', 'reject'),
      decision(160.1, 1, '10.0.0.7', 5001, 'reject', 60.1),
      { type: 'handler', t: 200, listener: 1, id: 2, handler: 'echo', event: 'close', bytesIn: 9, bytesOut: 9 },
      offer(300, 3, 1, '10.0.0.7', 5003, '', 'defer'),
      decision(350, 3, '10.0.0.7', 5003, 'withdraw', 50),
      // never offered: gone while waiting in the kernel; arrival = decision - latency
      decision(400, 4, '::ffff:10.0.0.9', 5004, 'withdraw', 20),
      offer(500, 5, 1, '10.0.0.9', 5005, '', 'defer'), // no final state: the recording stopped
    ], false);
    const plan = await loadLivePlan(file);
    const byId = (id: number): RecordedRequest => plan.requests.find((r) => r.id === id)!;
    expect(plan.requests.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    expect(plan.requests.map((r) => r.atMs)).toEqual([0, 10, 200, 280, 400]);
    expect(byId(1)).toMatchObject({ data: Buffer.from('HELLO'), dataAfterMs: 50, verdict: 'reject', then: 'reset' });
    expect(byId(1).decidedAfterMs).toBeCloseTo(60.1);
    expect(byId(2)).toMatchObject({ data: Buffer.from('HELLO'), dataAfterMs: 0, dataSource: 'syn', then: 'served', handlerBytesIn: 9 });
    expect(byId(3)).toMatchObject({ then: 'aborted', decidedAfterMs: 50, data: Buffer.alloc(0) });
    expect(byId(4)).toMatchObject({ then: 'aborted', decidedAfterMs: 20, caller: { family: 'ipv6', address: '::ffff:10.0.0.9' } });
    expect(byId(5)).toMatchObject({ then: 'unknown', verdict: null, decidedAfterMs: null });
    expect(plan.synData).toBe(1);
    expect(plan.lateData).toBe(1); // request 2: 9 bytes in, 5 recorded

    const v4 = mapSources(plan.requests, 'ipv4');
    expect([...v4.entries()]).toEqual([
      ['10.0.0.7', '127.0.0.2'], ['10.0.0.8', '127.0.0.3'], ['::ffff:10.0.0.9', '127.0.0.4'], ['10.0.0.9', '127.0.0.5'],
    ]);
    expect(new Set(mapSources(plan.requests, 'ipv6').values())).toEqual(new Set(['::1']));
  });

  it('skips .0 and .255 when mapping many callers', () => {
    const reqs = Array.from({ length: 300 }, (_, i) => ({ caller: { address: `10.1.${i >> 8}.${i & 255}` } })) as RecordedRequest[];
    const m = mapSources(reqs, 'ipv4');
    const values = [...m.values()];
    expect(new Set(values).size).toBe(300);
    expect(values[253]).toBe('127.0.1.1');
    expect(values.some((a) => a.endsWith('.0') || a.endsWith('.255'))).toBe(false);
  });

  it('refuses a session with several listeners unless one is chosen', async () => {
    const file = writeSession('two.jsonl', [
      LISTENER, { ...LISTENER, listener: 2 } as SessionEventInput,
      offer(1, 1, 1, '127.0.0.1', 5001, '', 'accept'), decision(1.1, 1, '127.0.0.1', 5001, 'accept', 0.1),
      offer(2, 1, 1, '127.0.0.1', 5002, '', 'reject', 'none', 2), decision(2.1, 1, '127.0.0.1', 5002, 'reject', 0.1, 2),
    ]);
    await expect(loadLivePlan(file)).rejects.toThrow(LiveReplayError);
    await expect(loadLivePlan(file)).rejects.toThrow(/listeners 1, 2; choose one with --listener ID/);
    await expect(loadLivePlan(file, { listener: 3 })).rejects.toThrow(/no requests of listener 3/);
    const plan = await loadLivePlan(file, { listener: 2 });
    expect(plan.requests.map((r) => [r.listener, r.then])).toEqual([[2, 'reset']]);
  });

  it('a malformed file is a SessionFormatError naming line and field', async () => {
    const file = path.join(dir, 'bad.jsonl');
    const good = fs.readFileSync(writeSession('good.jsonl', [LISTENER]), 'utf8').split('\n');
    good[1] = good[1].replace('"handler":"echo"', '"handler":"sing"');
    fs.writeFileSync(file, good.join('\n'));
    const err = await loadLivePlan(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionFormatError);
    expect((err as SessionFormatError).message).toMatch(/^bad\.jsonl:2: field "options\.handler": must be one of/);
  });
});
