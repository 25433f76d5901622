// The native acceptor against WSAAccept's contract, row by row, on real loopback sockets.
// The condition function here is plain JS (the sandbox is tested on its own).
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import {
  CF_ACCEPT, CF_DEFER, CF_REJECT, createNativeListener,
  type NativeDecision, type NativeEvent, type NativeListener, type NativeListenerOptions, type NativeOffer,
} from '../../native/index';
import { client, openFds, sleep, waitFor } from '../helpers/net';

type DecisionEv = Extract<NativeEvent, { type: 'decision' }>;

interface Harness {
  listener: NativeListener;
  offers: NativeOffer[];
  events: NativeEvent[];
  decisions: () => DecisionEv[];
}

const open: NativeListener[] = [];
afterEach(() => {
  for (const l of open.splice(0)) l.stop();
});

function start(options: Partial<NativeListenerOptions>, condition: (o: NativeOffer) => NativeDecision): Harness {
  const listener = createNativeListener({ address: '127.0.0.1', port: 0, ...options });
  open.push(listener);
  const offers: NativeOffer[] = [];
  const events: NativeEvent[] = [];
  listener.start((o) => {
    offers.push(o);
    return condition(o);
  }, (evs) => events.push(...evs));
  return { listener, offers, events, decisions: () => events.filter((e): e is DecisionEv => e.type === 'decision') };
}

describe('condition function arguments', () => {
  it('sees caller and callee sockaddr (IPv4) with Winsock-layout raw bytes and passes callback data through', async () => {
    const h = start({ callbackData: 0xdeadbeef }, () => CF_ACCEPT);
    const c = client(h.listener.port, { send: 'hi', expectBytes: 2 });
    const out = await c.outcome;
    expect(out.received.toString()).toBe('hi');
    const o = h.offers[0];
    expect(o.caller).toMatchObject({ family: 'ipv4', address: '127.0.0.1', port: out.localPort });
    expect(o.callee).toMatchObject({ family: 'ipv4', address: '127.0.0.1', port: h.listener.port });
    const raw = o.caller.raw;
    expect(raw.length).toBe(16);
    expect(raw.readUInt16LE(0)).toBe(2); // AF_INET
    expect(raw.readUInt16BE(2)).toBe(out.localPort);
    expect([...raw.subarray(4, 8)]).toEqual([127, 0, 0, 1]);
    expect(o.callbackData).toBe(0xdeadbeef);
    expect(o.gqos).toBeNull();
    expect(o.attempt).toBe(1);
  });

  it('sees IPv6 callers as sockaddr_in6 (28 bytes, AF_INET6 = 23)', async () => {
    const h = start({ address: '::1' }, () => CF_ACCEPT);
    const c = client(h.listener.port, { host: '::1', send: 'x', expectBytes: 1 });
    const out = await c.outcome;
    const o = h.offers[0];
    expect(o.caller).toMatchObject({ family: 'ipv6', address: '::1', port: out.localPort });
    expect(o.callee).toMatchObject({ family: 'ipv6', address: '::1', port: h.listener.port });
    expect(o.caller.raw.length).toBe(28);
    expect(o.caller.raw.readUInt16LE(0)).toBe(23);
    expect(o.caller.raw.readUInt16BE(2)).toBe(out.localPort);
    expect(o.caller.raw[8 + 15]).toBe(1);
  });

  it('derives SQOS FLOWSPECs from TCP_INFO and labels every derived field; the rest is QOS_NOT_SPECIFIED', async () => {
    const h = start({}, () => CF_ACCEPT);
    await client(h.listener.port, { send: 'q', expectBytes: 1 }).outcome;
    const q = h.offers[0].sqos;
    expect(q).not.toBeNull();
    for (const fs of [q!.sending, q!.receiving]) {
      for (const [field, value] of Object.entries(fs)) {
        if (field === 'derived') continue;
        if (fs.derived[field] === undefined) expect(value, field).toBe(0xffffffff);
        else expect(value, field).not.toBe(0xffffffff);
      }
    }
    expect(q!.sending.derived.latency).toMatch(/tcpi_rtt/);
    expect(q!.sending.latency).toBeGreaterThan(0);
    expect(q!.sending.serviceType).toBe(0xffffffff);
    expect(q!.sending.maxSduSize).toBeGreaterThan(0);
  });

  it('reads caller data with MSG_PEEK without consuming it (source peek), and none when there is none', async () => {
    // Defer until data shows up, as a "wait for caller data" script would.
    const h = start({ reofferMs: 5 }, (o) => (o.callerData.length ? CF_ACCEPT : CF_DEFER));
    const c = client(h.listener.port, { send: 'HELLO', sendAfterMs: 60, expectBytes: 5 });
    const out = await c.outcome;
    expect(out.received.toString()).toBe('HELLO'); // echo handler got every byte: peek consumed nothing
    expect(h.offers[0].callerDataSource).toBe('none');
    expect(h.offers[0].callerData.length).toBe(0);
    const last = h.offers[h.offers.length - 1];
    expect(last.callerDataSource).toBe('peek');
    expect(last.callerData.toString()).toBe('HELLO');
    expect(h.offers.length).toBeGreaterThan(1);
  });

  it('with TCP_DEFER_ACCEPT the first offer already carries the data', async () => {
    const h = start({ deferAcceptS: 2 }, () => CF_ACCEPT);
    const c = client(h.listener.port, { send: 'early', sendAfterMs: 100, expectBytes: 5 });
    await c.outcome;
    expect(h.offers[0].attempt).toBe(1);
    expect(h.offers[0].callerData.toString()).toBe('early');
  });
});

describe('verdicts', () => {
  it('CF_ACCEPT hands the socket to the handler (echo) and reports accept', async () => {
    const h = start({ handler: 'echo' }, () => CF_ACCEPT);
    const out = await client(h.listener.port, { send: 'ping', endAfterSend: true }).outcome;
    expect(out.received.toString()).toBe('ping');
    await waitFor(() => h.events.find((e) => e.type === 'handler'));
    expect(h.decisions()[0]).toMatchObject({ verdict: 'accept', result: 'OK', attempts: 1, by: 'script' });
    expect(h.events.find((e) => e.type === 'handler')).toMatchObject({ event: 'close', bytesIn: 4, bytesOut: 4 });
  });

  it('CF_REJECT reports WSAECONNREFUSED and resets the caller', async () => {
    const h = start({}, () => CF_REJECT);
    const out = await client(h.listener.port, { send: 'x' }).outcome;
    expect(out.end).toBe('reset');
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'reject', result: 'WSAECONNREFUSED', code: 10061 });
  });

  it('an invalid return is WSAEINVAL and ends the request in error', async () => {
    const h = start({}, () => 7);
    const out = await client(h.listener.port).outcome;
    expect(out.end).toBe('reset');
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'error', result: 'WSAEINVAL', code: 10022 });
  });

  it('CF_DEFER keeps the request at the head and offers it again first (winsock discipline)', async () => {
    let deferring = true;
    const h = start({ discipline: 'winsock', reofferMs: 2 }, (o) => (deferring && o.id === 1 ? CF_DEFER : CF_ACCEPT));
    const first = client(h.listener.port, { send: 'a', expectBytes: 1 });
    await waitFor(() => h.offers.length >= 1);
    const second = client(h.listener.port, { send: 'b', expectBytes: 1 });
    await waitFor(() => h.offers.length >= 5);
    // Head-of-line: only request 1 has been offered, again and again; request 2 waits in the kernel.
    expect(new Set(h.offers.map((o) => o.id))).toEqual(new Set([1]));
    expect(h.offers.map((o) => o.attempt).slice(0, 4)).toEqual([1, 2, 3, 4]);
    await waitFor(() => h.listener.queueDepths().kernel === 1, 2000, 'kernel queue depth 1');
    deferring = false;
    expect((await first.outcome).received.toString()).toBe('a');
    expect((await second.outcome).received.toString()).toBe('b');
    const d1 = h.decisions().find((d) => d.id === 1)!;
    expect(d1.attempts).toBeGreaterThan(4);
    expect(h.offers.find((o) => o.id === 2)!.attempt).toBe(1);
  });

  it('a parked defer (waiting for a person) is not re-offered until woken', async () => {
    const h = start({ reofferMs: 1 }, (o) => (o.attempt === 1 ? { verdict: CF_DEFER, park: true } : CF_ACCEPT));
    const c = client(h.listener.port, { send: 'p', expectBytes: 1 });
    await waitFor(() => h.offers.length === 1);
    await sleep(100);
    expect(h.offers.length).toBe(1);
    expect(h.listener.queueDepths()).toMatchObject({ held: 1, deferred: 1 });
    h.listener.wake(1);
    expect((await c.outcome).received.toString()).toBe('p');
    expect(h.offers.length).toBe(2);
  });
});

describe('WSAAccept call results (manual calls on the JS thread)', () => {
  function manual(options: Partial<NativeListenerOptions> = {}): NativeListener {
    const l = createNativeListener({ address: '127.0.0.1', port: 0, manual: true, ...options });
    open.push(l);
    l.start(() => CF_ACCEPT, () => undefined);
    return l;
  }

  it('non-blocking with an empty queue gives WSAEWOULDBLOCK', () => {
    const l = manual();
    expect(l.call({})).toMatchObject({ result: 'WSAEWOULDBLOCK', code: 10035 });
  });

  it('accept / reject / defer / invalid map to OK / WSAECONNREFUSED / WSATRY_AGAIN / WSAEINVAL', async () => {
    const l = manual();
    const c1 = client(l.port, { send: '1', expectBytes: 1 });
    await waitFor(() => l.queueDepths().kernel === 1);
    const r1 = l.call({}, () => CF_DEFER);
    expect(r1).toMatchObject({ result: 'WSATRY_AGAIN', code: 11002, id: 1, attempt: 1 });
    const c2 = client(l.port, { send: '2', expectBytes: 1 });
    await waitFor(() => l.queueDepths().kernel === 1);
    // The deferred request is offered again first, even though another one is waiting.
    const r2 = l.call({}, (o) => (o.id === 1 ? CF_REJECT : CF_ACCEPT));
    expect(r2).toMatchObject({ result: 'WSAECONNREFUSED', id: 1, attempt: 2 });
    expect((await c1.outcome).end).toBe('reset');
    const r3 = l.call({}, () => 42);
    expect(r3).toMatchObject({ result: 'WSAEINVAL', code: 10022, id: 2 });
    expect((await c2.outcome).end).toBe('reset');
    const c3 = client(l.port, { send: '3', expectBytes: 1 });
    await waitFor(() => l.queueDepths().kernel === 1);
    expect(l.call({}, () => CF_ACCEPT)).toMatchObject({ result: 'OK', code: 0, id: 3 });
    expect((await c3.outcome).received.toString()).toBe('3');
  });

  it('an address buffer too small for the caller gives WSAEFAULT and leaves the request queued', async () => {
    const l = manual({ address: '::1' });
    const c = client(l.port, { host: '::1', send: 'six', expectBytes: 3 });
    await waitFor(() => l.queueDepths().kernel === 1);
    expect(l.call({ addrlen: 16 })).toMatchObject({ result: 'WSAEFAULT', code: 10014, id: 1 });
    expect(l.call({ addrlen: 28 })).toMatchObject({ result: 'OK', id: 1, attempt: 1 });
    expect((await c.outcome).received.toString()).toBe('six');
  });

  it('a caller gone before the call gives WSAECONNRESET (withdrawn)', async () => {
    const l = manual();
    const c = client(l.port);
    await waitFor(() => l.queueDepths().kernel === 1);
    c.socket.resetAndDestroy();
    await sleep(50);
    expect(l.call({})).toMatchObject({ result: 'WSAECONNRESET', code: 10054 });
  });

  it('a request deferred past the defer timeout gives WSAEACCES (expired)', async () => {
    const l = manual({ deferTimeoutMs: 80 });
    const c = client(l.port);
    await waitFor(() => l.queueDepths().kernel === 1);
    expect(l.call({}, () => CF_DEFER).result).toBe('WSATRY_AGAIN');
    await sleep(120);
    expect(l.call({}, () => CF_ACCEPT)).toMatchObject({ result: 'WSAEACCES', code: 10013 });
    expect((await c.outcome).end).toBe('reset');
  });
});

describe('withdrawal, expiry and the default verdict (accept thread)', () => {
  it('a caller that goes away while deferred is withdrawn (WSAECONNRESET)', async () => {
    const h = start({}, () => CF_DEFER);
    const c = client(h.listener.port);
    await waitFor(() => h.offers.length >= 1);
    c.socket.destroy();
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'withdraw', result: 'WSAECONNRESET', by: 'system' });
  });

  it('a caller reset while deferred is withdrawn too', async () => {
    const h = start({ discipline: 'held' }, () => ({ verdict: CF_DEFER, park: true }));
    const c = client(h.listener.port);
    await waitFor(() => h.offers.length >= 1);
    c.socket.resetAndDestroy();
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'withdraw', result: 'WSAECONNRESET' });
  });

  it('a request deferred longer than the defer timeout expires (WSAEACCES) and the caller is reset', async () => {
    const h = start({ deferTimeoutMs: 100, reofferMs: 10 }, () => CF_DEFER);
    const c = client(h.listener.port);
    const out = await c.outcome;
    expect(out.end).toBe('reset');
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'expire', result: 'WSAEACCES', by: 'system' });
    expect(h.decisions()[0].latencyUs).toBeGreaterThanOrEqual(100_000);
  });

  it('when JS does not answer within the budget the default verdict applies', async () => {
    const h = start({ budgetMs: 30, defaultVerdict: CF_REJECT }, () => {
      const until = Date.now() + 150;
      while (Date.now() < until) { /* a stalled JS thread */ }
      return CF_ACCEPT;
    });
    const out = await client(h.listener.port).outcome;
    expect(out.end).toBe('reset');
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0]).toMatchObject({ verdict: 'reject', by: 'default' });
    expect(h.events.find((e) => e.type === 'default-verdict')).toMatchObject({ id: 1, attempt: 1, verdict: CF_REJECT });
  });

  it('stop() brings every pending request (workbench and kernel queue) to a final state', async () => {
    const h = start({ discipline: 'winsock' }, () => ({ verdict: CF_DEFER, park: true }));
    const clients = [client(h.listener.port), client(h.listener.port), client(h.listener.port)];
    await waitFor(() => h.offers.length >= 1 && h.listener.queueDepths().kernel === 2);
    h.listener.stop();
    open.splice(open.indexOf(h.listener), 1);
    const ds = h.decisions();
    expect(ds.length).toBe(3);
    expect(ds.every((d) => d.verdict === 'expire' && d.result === 'WSAEACCES')).toBe(true);
    for (const c of clients) expect((await c.outcome).end).toBe('reset');
  });
});

describe('held discipline', () => {
  it('holds many deferred requests at once and decides them in any order', async () => {
    const verdicts = new Map<number, number>();
    const h = start({ discipline: 'held' }, (o) => verdicts.get(o.id) ?? { verdict: CF_DEFER, park: true });
    const clients = [1, 2, 3, 4].map((i) => client(h.listener.port, { send: String(i), expectBytes: 1 }));
    await waitFor(() => h.listener.queueDepths().deferred === 4, 3000, '4 deferred');
    expect(h.listener.queueDepths().kernel).toBe(0);
    verdicts.set(3, CF_ACCEPT);
    h.listener.wake(3);
    await waitFor(() => h.decisions().length === 1);
    expect(h.decisions()[0].id).toBe(3);
    verdicts.set(1, CF_REJECT);
    verdicts.set(2, CF_ACCEPT);
    verdicts.set(4, CF_ACCEPT);
    h.listener.wake();
    const outs = await Promise.all(clients.map((c) => c.outcome));
    const byData = new Map(h.offers.map((o) => [o.id, o.caller.port]));
    expect(byData.size).toBe(4);
    expect(outs.filter((o) => o.end === 'reset').length).toBe(1);
    expect(outs.filter((o) => o.received.length === 1).length).toBe(3);
  });
});

describe('handlers', () => {
  it('discard counts bytes and sends nothing; hold keeps the connection open; close ends it at once', async () => {
    const d = start({ handler: 'discard' }, () => CF_ACCEPT);
    const dc = client(d.listener.port, { send: 'abcdef', endAfterSend: true });
    const dout = await dc.outcome;
    expect(dout.received.length).toBe(0);
    await waitFor(() => d.events.find((e) => e.type === 'handler'));
    expect(d.events.find((e) => e.type === 'handler')).toMatchObject({ event: 'close', bytesIn: 6, bytesOut: 0 });

    const hold = start({ handler: 'hold' }, () => CF_ACCEPT);
    const hc = client(hold.listener.port, { send: 'zz', timeoutMs: 200 });
    expect((await hc.outcome).end).toBe('open');
    hc.socket.end();
    await waitFor(() => hold.events.find((e) => e.type === 'handler'));
    expect(hold.events.find((e) => e.type === 'handler')).toMatchObject({ event: 'close', bytesIn: 0 });

    const cl = start({ handler: 'close' }, () => CF_ACCEPT);
    const cout = await client(cl.listener.port).outcome;
    expect(cout).toMatchObject({ connected: true, end: 'eof' });
  });

  it('a handler connection reset by the peer is reported as reset', async () => {
    const h = start({ handler: 'hold' }, () => CF_ACCEPT);
    const c = client(h.listener.port, { timeoutMs: 100 });
    await c.outcome;
    c.socket.resetAndDestroy();
    await waitFor(() => h.events.find((e) => e.type === 'handler'));
    expect(h.events.find((e) => e.type === 'handler')).toMatchObject({ event: 'reset' });
  });
});

describe('errors at listen time', () => {
  it('a port in use is EADDRINUSE', () => {
    const a = createNativeListener({ address: '127.0.0.1', port: 0 });
    open.push(a);
    expect(() => createNativeListener({ address: '127.0.0.1', port: a.port })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });

  it('a bad address is refused', () => {
    expect(() => createNativeListener({ address: 'not-an-address', port: 0 })).toThrow(/not an IPv4 or IPv6 address/);
  });
});

describe('burst', () => {
  it('2,000 connections with mixed verdicts: each request reaches exactly one final state; fds return to baseline', async () => {
    const baseline = openFds();
    const h = start({ discipline: 'held', handler: 'close', backlog: 1024, reofferMs: 1 }, (o) => {
      const k = o.id % 4;
      if (k === 0) return CF_ACCEPT;
      if (k === 1) return CF_REJECT;
      if (k === 2) return o.attempt < 3 ? CF_DEFER : CF_ACCEPT;
      return o.attempt < 2 ? CF_DEFER : CF_REJECT;
    });
    const N = 2000;
    let done = 0;
    const outcomes: string[] = [];
    await new Promise<void>((resolve) => {
      let started = 0;
      const launch = (): void => {
        if (started >= N) return;
        started++;
        const s = net.connect(h.listener.port, '127.0.0.1');
        let ended = false;
        const finish = (how: string): void => {
          if (ended) return;
          ended = true;
          outcomes.push(how);
          s.destroy();
          if (++done === N) resolve(); else launch();
        };
        s.on('end', () => finish('eof'));
        s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
        s.on('close', () => finish('close'));
      };
      for (let i = 0; i < 100; i++) launch();
    });
    await waitFor(() => h.decisions().length >= N, 10_000, `${N} decisions`);
    await sleep(50);
    const ds = h.decisions();
    expect(ds.length).toBe(N);
    expect(new Set(ds.map((d) => d.id)).size).toBe(N);
    const counts = { accept: 0, reject: 0 } as Record<string, number>;
    for (const d of ds) counts[d.verdict] = (counts[d.verdict] ?? 0) + 1;
    expect(counts.accept).toBe(N / 2);
    expect(counts.reject).toBe(N / 2);
    expect(outcomes.filter((o) => o === 'ECONNRESET').length).toBe(N / 2);
    h.listener.stop();
    open.splice(open.indexOf(h.listener), 1);
    await sleep(50);
    expect(openFds()).toBe(baseline);
  });
});
