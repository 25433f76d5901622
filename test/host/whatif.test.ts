// What-if replay engine on small hand-written sessions: each rule of docs/replay.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SqosSerializer, replaySession, replaySessionFile, type ReplayScriptError, type RequestResult, type WhatIfOptions, type WhatIfSummary,
} from '../../electron/host/replay/whatif';
import { loadSandbox, type Sandbox } from '../../electron/host/script/sandbox';
import type { RecordedListenerOptions } from '../../electron/host/session/events';
import { SessionFormatError, parseSession } from '../../electron/host/session/reader';
import { QOS_NOT_SPECIFIED } from '../../electron/host/types';

let sandbox: Sandbox;
let dir: string;
beforeAll(async () => {
  sandbox = await loadSandbox();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aw-whatif-'));
});
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

// ---- a tiny session writer ---------------------------------------------------------------------

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');
const sockaddr4 = (port: number) => ({
  family: 'ipv4', address: '127.0.0.1', port,
  raw: b64([2, 0, port >> 8, port & 0xff, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
});
const unmeasured = { tokenRate: QOS_NOT_SPECIFIED, tokenBucketSize: QOS_NOT_SPECIFIED, peakBandwidth: QOS_NOT_SPECIFIED,
  latency: QOS_NOT_SPECIFIED, delayVariation: QOS_NOT_SPECIFIED, serviceType: QOS_NOT_SPECIFIED,
  maxSduSize: QOS_NOT_SPECIFIED, minimumPolicedSize: QOS_NOT_SPECIFIED, derived: {} };

interface OfferExtra { ask?: boolean; by?: string; data?: string; sqos?: unknown; port?: number }

class SessionText {
  private readonly lines: unknown[] = [{
    type: 'session', format: 'accept-workbench/session', version: 1, t: 0, startTime: '2026-01-01T00:00:00.000Z',
    platform: 'linux', arch: 'x64', backend: 'posix', appVersion: '0.1.0', nodeVersion: '20.20.2',
  }];

  listener(id: number, opts: Partial<RecordedListenerOptions> = {}, t = 0): this {
    this.lines.push({
      type: 'listener', t, listener: id, address: '127.0.0.1', port: 40000 + id,
      options: {
        bind: '127.0.0.1', port: 0, backlog: 16, discipline: 'held', handler: 'close', fallback: 'reject',
        budgetMs: 20, deferTimeoutMs: 100, reofferMs: 5, deferAcceptS: 0, fastOpen: false, ...opts,
      },
    });
    return this;
  }

  offer(t: number, listener: number, id: number, attempt: number, verdict: string, x: OfferExtra = {}): this {
    const data = x.data ?? '';
    this.lines.push({
      type: 'offer', t, listener, id, attempt, caller: sockaddr4(x.port ?? 50000 + id), callee: sockaddr4(40000 + listener),
      callerData: Buffer.from(data).toString('base64'), callerDataSource: data ? 'peek' : 'none', sqos: x.sqos ?? null, gqos: null,
      verdict, ...(x.ask ? { ask: true } : {}), by: x.by ?? 'script', conditionUs: 9,
      result: verdict === 'accept' ? 'OK' : verdict === 'reject' ? 'WSAECONNREFUSED' : 'WSATRY_AGAIN', scriptVersion: 1,
    });
    return this;
  }

  decision(t: number, listener: number, id: number, verdict: string, attempts: number, latencyUs: number, by = 'script'): this {
    const result = { accept: 'OK', reject: 'WSAECONNREFUSED', expire: 'WSAEACCES', withdraw: 'WSAECONNRESET', error: 'WSAEINVAL' }[verdict];
    this.lines.push({ type: 'decision', t, listener, id, caller: { address: '127.0.0.1', port: 50000 + id }, verdict, attempts, latencyUs, by, result });
    return this;
  }

  raw(line: unknown): this {
    this.lines.push(line);
    return this;
  }

  end(t: number): this {
    this.lines.push({ type: 'end', t, reason: 'stopped', counts: { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 }, offers: 0 });
    return this;
  }

  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  }
}

interface Run {
  results: RequestResult[];
  errors: ReplayScriptError[];
  logs: string[];
  summary: WhatIfSummary;
  /** "verdict/by/attempts" of request `id` (listener 1 unless given). */
  now: (id: number, listener?: number) => string;
}

function replay(session: SessionText, source: string, opts: WhatIfOptions = {}): Run {
  const script = sandbox.compile(source, 'new.js');
  const results: RequestResult[] = [];
  const errors: ReplayScriptError[] = [];
  const logs: string[] = [];
  try {
    const summary = replaySession(parseSession(session.text(), { name: 's.jsonl' }), script, {
      onResult: (r) => results.push(r),
      onError: (e) => errors.push(e),
      onLog: (l) => logs.push(l.message),
      name: 's.jsonl',
      ...opts,
    });
    const now = (id: number, listener = 1): string => {
      const r = results.find((x) => x.id === id && x.listener === listener);
      if (!r) throw new Error(`no result for ${listener}/${id}`);
      return `${r.now.verdict}/${r.now.by}/${r.now.attempts}`;
    };
    return { results, errors, logs, summary, now };
  } finally {
    script.dispose();
  }
}

// ---- the rules -----------------------------------------------------------------------------------

describe('what-if replay', () => {
  it('the recording script itself gives every recorded verdict back', () => {
    const s = new SessionText().listener(1)
      .offer(10, 1, 1, 1, 'accept').decision(10.1, 1, 1, 'accept', 1, 100)
      .offer(11, 1, 2, 1, 'reject').decision(11.1, 1, 2, 'reject', 1, 100)
      .offer(12, 1, 3, 1, 'defer').offer(17, 1, 3, 2, 'accept').decision(17.1, 1, 3, 'accept', 2, 5100)
      .end(100);
    const r = replay(s, 'export default (req) => req.id === 3 && req.attempt < 2 ? "defer" : req.id === 2 ? "reject" : "accept";');
    expect(r.summary).toMatchObject({ requests: 3, same: 3, changed: 0, unfinished: 0, errors: 0, offers: 4, syntheticOffers: 0, aborted: false });
    expect(r.results.map((x) => [x.id, x.changed, x.recorded, x.now])).toEqual([
      [1, false, { verdict: 'accept', by: 'script', attempts: 1 }, { verdict: 'accept', by: 'script', attempts: 1 }],
      [2, false, { verdict: 'reject', by: 'script', attempts: 1 }, { verdict: 'reject', by: 'script', attempts: 1 }],
      [3, false, { verdict: 'accept', by: 'script', attempts: 2 }, { verdict: 'accept', by: 'script', attempts: 2 }],
    ]);
  });

  it('a request decided earlier than recorded stops there', () => {
    const s = new SessionText().listener(1)
      .offer(10, 1, 1, 1, 'defer').offer(15, 1, 1, 2, 'defer').offer(20, 1, 1, 3, 'accept')
      .decision(20.1, 1, 1, 'accept', 3, 10_100).end(100);
    const rejecting = replay(s, 'export default (req, ctx) => { ctx.log("offer", req.attempt); return "reject"; };');
    expect(rejecting.now(1)).toBe('reject/script/1');
    expect(rejecting.logs).toEqual(['offer 1']);
    expect(rejecting.results[0]).toMatchObject({ changed: true, caller: { address: '127.0.0.1', port: 50001 } });
    const accepting = replay(s, 'export default () => "accept";');
    expect(accepting.now(1)).toBe('accept/script/1');
    expect(accepting.summary).toMatchObject({ same: 1, changed: 0 }); // same verdict, fewer offers
  });

  describe('deferred past the recorded offers', () => {
    // Arrival = 10.5 - 1000 µs = 9.5 ms; deferTimeoutMs 100 → expiry at 109.5 ms.
    const s = () => new SessionText().listener(1).offer(10, 1, 1, 1, 'accept').decision(10.5, 1, 1, 'accept', 1, 1000);

    it('is re-offered every reofferMs until arrival + deferTimeoutMs, then expires', () => {
      const r = replay(s().end(1000), 'export default (req, ctx) => { ctx.log(req.attempt); return "defer"; };');
      // Offers at 10 (recorded), then 15, 20, ..., 105 (synthetic): 20 in all.
      expect(r.now(1)).toBe('expire/system/20');
      expect(r.summary).toMatchObject({ changed: 1, offers: 20, syntheticOffers: 19 });
      expect(r.logs).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    });

    it('a synthetic offer can decide it', () => {
      const r = replay(s().end(1000), 'export default (req) => req.attempt === 4 ? "accept" : "defer";');
      expect(r.now(1)).toBe('accept/script/4');
      expect(r.summary).toMatchObject({ same: 1, syntheticOffers: 3 });
    });

    it('expires when the recording ends first', () => {
      const r = replay(s().end(30), 'export default () => "defer";');
      expect(r.now(1)).toBe('expire/system/4'); // 10, 15, 20, 25
    });

    it('without an end record the last record ends the recording', () => {
      const r = replay(s().offer(22, 1, 2, 1, 'accept').decision(22.1, 1, 2, 'accept', 1, 100), 'export default (req) => req.id === 1 ? "defer" : "accept";');
      expect(r.now(1)).toBe('expire/system/3'); // 10, 15, 20 before 22.1; the one at 25 never happens
      expect(r.now(2)).toBe('accept/script/1');
    });

    it('the listener cadence is at least 1 ms (reofferMs 0 would never end)', () => {
      const s0 = new SessionText().listener(1, { reofferMs: 0, deferTimeoutMs: 10 })
        .offer(10, 1, 1, 1, 'accept').decision(10, 1, 1, 'accept', 1, 0).end(100);
      expect(replay(s0, 'export default () => "defer";').now(1)).toBe('expire/system/10'); // 10, 11, ..., 19
    });
  });

  describe('withdrawn and expired requests', () => {
    // Recorded: asked a person at 10 (parked, so no more offers), the caller left at 40.
    const asked = () => new SessionText().listener(1)
      .offer(10, 1, 1, 1, 'defer', { ask: true }).decision(40, 1, 1, 'withdraw', 1, 30_500, 'system').end(100);

    it('a request the new script only defers is re-offered until the recorded withdrawal', () => {
      const r = replay(asked(), 'export default () => "defer";');
      expect(r.now(1)).toBe('withdraw/system/6'); // 10, then 15, 20, 25, 30, 35
      expect(r.summary).toMatchObject({ same: 1, syntheticOffers: 5 });
    });

    it('...and can be decided before the caller leaves', () => {
      const r = replay(asked(), 'export default (req) => req.attempt >= 3 ? "accept" : "defer";');
      expect(r.now(1)).toBe('accept/script/3');
      expect(r.results[0]).toMatchObject({ changed: true, recorded: { verdict: 'withdraw', by: 'system', attempts: 1 } });
    });

    it('no invented offers between recorded re-offers of a plainly deferred request', () => {
      const s = new SessionText().listener(1)
        .offer(10, 1, 1, 1, 'defer').offer(15, 1, 1, 2, 'defer').decision(17, 1, 1, 'withdraw', 2, 7000, 'system')
        .offer(20, 1, 2, 1, 'defer').offer(25, 1, 2, 2, 'defer').decision(120, 1, 2, 'expire', 2, 100_000, 'system')
        .end(200);
      const r = replay(s, 'export default () => "defer";');
      expect(r.now(1)).toBe('withdraw/system/2');
      expect(r.now(2)).toBe('expire/system/2');
      expect(r.summary).toMatchObject({ same: 2, syntheticOffers: 0 });
    });

    it('a request never offered keeps its recorded end', () => {
      const s = new SessionText().listener(1).decision(5, 1, 1, 'withdraw', 0, 300, 'system').end(10);
      const r = replay(s, 'export default () => "accept";');
      expect(r.now(1)).toBe('withdraw/system/0');
      expect(r.summary).toMatchObject({ same: 1, offers: 0 });
    });
  });

  describe("a person's decisions", () => {
    // Recorded: the script asked at 10, a person accepted at 500.
    const personal = () => new SessionText().listener(1, { deferTimeoutMs: 1000 })
      .offer(10, 1, 1, 1, 'defer', { ask: true }).offer(500, 1, 1, 2, 'accept', { by: 'person' })
      .decision(500.5, 1, 1, 'accept', 2, 490_500, 'person').end(2000);

    it('are applied where the recording has them when the new script asks too', () => {
      const r = replay(personal(), 'export default () => "ask";');
      expect(r.now(1)).toBe('accept/person/2');
      expect(r.summary).toMatchObject({ same: 1, offers: 2, syntheticOffers: 0 });
    });

    it('...also when the new script asks later than the recorded one did', () => {
      const r = replay(personal(), 'export default (req) => req.attempt < 2 ? "defer" : "ask";');
      expect(r.now(1)).toBe('accept/person/3'); // 10 defer, 15 ask (synthetic), person at 500
    });

    it('are not applied when the new script does not ask', () => {
      expect(replay(personal(), 'export default () => "reject";').now(1)).toBe('reject/script/1');
      // Only defers: re-offered from 10 to the expiry at 1010 (arrival 10): the person's slot at 500
      // is an ordinary offer; 10, 15..495, 500, 505..1005.
      const r = replay(personal(), 'export default () => "defer";');
      expect(r.now(1)).toBe('expire/system/200');
      expect(r.summary).toMatchObject({ changed: 1, syntheticOffers: 198 });
    });

    it('without a recorded person decision after the ask, the request waits until it expires', () => {
      const s = new SessionText().listener(1)
        .offer(10, 1, 1, 1, 'defer').offer(15, 1, 1, 2, 'accept').decision(15.1, 1, 1, 'accept', 2, 5100).end(1000);
      const r = replay(s, 'export default (req, ctx) => { ctx.log(req.attempt); return "ask"; };');
      expect(r.now(1)).toBe('expire/system/1');
      expect(r.logs).toEqual(['1']); // parked: the recorded offer at 15 is not made
    });

    it("a person's defer releases the request to the script again", () => {
      const s = new SessionText().listener(1)
        .offer(10, 1, 1, 1, 'defer', { ask: true }).offer(30, 1, 1, 2, 'defer', { by: 'person' })
        .offer(35, 1, 1, 3, 'accept').decision(35.1, 1, 1, 'accept', 3, 25_100).end(1000);
      const r = replay(s, 'export default (req) => req.attempt === 1 ? "ask" : "reject";');
      expect(r.now(1)).toBe('reject/script/3'); // ask at 10, person defer at 30, script at 35
    });
  });

  describe('script errors', () => {
    it("give the listener's fallback verdict and are reported with the script position", () => {
      const s = new SessionText().listener(1).listener(2, { fallback: 'accept' })
        .offer(10, 1, 1, 1, 'accept').decision(10.1, 1, 1, 'accept', 1, 100)
        .offer(11, 2, 1, 1, 'accept').decision(11.1, 2, 1, 'accept', 1, 100)
        .end(100);
      const r = replay(s, 'export default (req) => {\n  if (req.id === 1) throw new Error("boom");\n  return "accept";\n};');
      expect(r.now(1, 1)).toBe('reject/fallback/1');
      expect(r.now(1, 2)).toBe('accept/fallback/1');
      expect(r.summary).toMatchObject({ errors: 2, changed: 1, same: 1 });
      expect(r.errors[0]).toMatchObject({ listener: 1, id: 1, attempt: 1, code: 'throw', line: 2 });
      expect(r.errors[0]!.message).toMatch(/boom/);
    });

    it('a fallback of defer keeps the request waiting', () => {
      const s = new SessionText().listener(1, { fallback: 'defer', deferTimeoutMs: 20 })
        .offer(10, 1, 1, 1, 'accept').decision(10, 1, 1, 'accept', 1, 0).end(100);
      const r = replay(s, 'export default () => { throw new Error("no"); };');
      expect(r.now(1)).toBe('expire/system/4'); // 10, 15, 20, 25; expiry at 30
      expect(r.summary.errors).toBe(4);
    });
  });

  it('one script instance sees every request of every listener in recorded order, re-offers slotted in by time', () => {
    const s = new SessionText().listener(1).listener(2, { reofferMs: 10 })
      .offer(10, 1, 1, 1, 'accept').decision(10.1, 1, 1, 'accept', 1, 100)
      .offer(11, 2, 1, 1, 'accept').decision(11.1, 2, 1, 'accept', 1, 100)
      .offer(17, 1, 2, 1, 'accept').decision(17.1, 1, 2, 'accept', 1, 100)
      .end(100);
    const r = replay(s, [
      'export default (req, ctx) => {',
      '  ctx.state.n = (ctx.state.n ?? 0) + 1;',
      '  ctx.log(`${ctx.state.n} L${req.listener.id}#${req.id}.${req.attempt}`);',
      '  return req.attempt < 3 ? "defer" : "accept";',
      '};',
    ].join('\n'));
    expect(r.logs).toEqual([
      '1 L1#1.1', '2 L2#1.1', '3 L1#1.2', '4 L1#2.1', '5 L1#1.3', '6 L2#1.2', '7 L1#2.2', '8 L1#2.3', '9 L2#1.3',
    ]); // L1#1 at 10, 15, 20; L2#1 at 11, 21, 31; L1#2 at 17, 22, 27
    expect(r.summary).toMatchObject({ same: 3, offers: 9, syntheticOffers: 6 });
  });

  it('req is rebuilt from the recorded offer; queue counts are the replay\'s own', () => {
    const sqos = { sending: unmeasured, receiving: { ...unmeasured, latency: 27, derived: { latency: 'tcpi_rtt' } }, providerSpecific: '' };
    const s = new SessionText().listener(1)
      .offer(10, 1, 1, 1, 'defer', { ask: true, data: 'hello' })
      .offer(12, 1, 2, 1, 'accept', { sqos, port: 50123 }).decision(12.1, 1, 2, 'accept', 1, 100)
      .decision(20, 1, 1, 'withdraw', 1, 10_000, 'system')
      .end(100);
    const r = replay(s, [
      'export default (req, ctx) => {',
      '  ctx.log(JSON.stringify({ id: req.id, attempt: req.attempt, caller: req.caller, callee: req.callee,',
      '    data: new TextDecoder().decode(req.callerData), source: req.callerDataSource, latency: req.sqos?.receiving.latency ?? null,',
      '    gqos: req.gqos, queue: req.queue, listener: req.listener, callbackData: req.callbackData }));',
      '  return req.id === 1 ? "ask" : "accept";',
      '};',
    ].join('\n'));
    expect(r.logs.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        id: 1, attempt: 1, caller: { family: 'ipv4', address: '127.0.0.1', port: 50001 }, callee: { family: 'ipv4', address: '127.0.0.1', port: 40001 },
        data: 'hello', source: 'peek', latency: null, gqos: null, queue: { kernel: null, held: 1, deferred: 0 },
        listener: { id: 1, address: '127.0.0.1', port: 40001, discipline: 'held' }, callbackData: 0,
      },
      {
        id: 2, attempt: 1, caller: { family: 'ipv4', address: '127.0.0.1', port: 50123 }, callee: { family: 'ipv4', address: '127.0.0.1', port: 40001 },
        data: '', source: 'none', latency: 27, gqos: null, queue: { kernel: null, held: 2, deferred: 1 },
        listener: { id: 1, address: '127.0.0.1', port: 40001, discipline: 'held' }, callbackData: 0,
      },
    ]);
  });

  it('requests the recording never decided are replayed and reported as unfinished', () => {
    const s = new SessionText().listener(1).offer(10, 1, 1, 1, 'defer').offer(11, 1, 2, 1, 'accept').decision(11.1, 1, 2, 'accept', 1, 100);
    const r = replay(s, 'export default () => "accept";');
    expect(r.summary).toMatchObject({ requests: 2, same: 1, changed: 0, unfinished: 1 });
    expect(r.results.find((x) => x.id === 1)).toMatchObject({ recorded: null, now: { verdict: 'accept', by: 'script', attempts: 1 }, changed: false });
  });

  describe('records that contradict each other are format errors naming the line and field', () => {
    it.each([
      ['an offer of a listener never started', new SessionText().listener(1).offer(10, 2, 1, 1, 'accept'), 's.jsonl:3: field "listener": no listener 2 was started before this line'],
      ['an offer after the decision', new SessionText().listener(1).offer(10, 1, 1, 1, 'accept').decision(10.1, 1, 1, 'accept', 1, 100).offer(11, 1, 1, 2, 'accept'),
        's.jsonl:5: field "id": an offer of request 1 after its decision'],
      ['a second decision', new SessionText().listener(1).decision(10, 1, 1, 'withdraw', 0, 100, 'system').decision(11, 1, 1, 'withdraw', 0, 100, 'system'),
        's.jsonl:4: field "id": a second decision for request 1'],
    ])('%s', (_what, s, message) => {
      const run = () => replay(s, 'export default () => "accept";');
      expect(run).toThrow(SessionFormatError);
      expect(run).toThrow(message);
    });
  });

  describe('replaySessionFile', () => {
    const file = (name: string, text: string): string => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, text);
      return f;
    };
    const twoRequests = () => new SessionText().listener(1)
      .offer(10, 1, 1, 1, 'accept').decision(10.1, 1, 1, 'accept', 1, 100)
      .offer(11, 1, 2, 1, 'accept').decision(11.1, 1, 2, 'accept', 1, 100);

    it('streams a file; a cut-short last line is a warning', async () => {
      const f = file('cut.jsonl', twoRequests().text() + '{"type":"offer","t":12,"listener":1,"id":3,"att');
      const script = sandbox.compile('export default (req) => req.id === 2 ? "reject" : "accept";', 'n.js');
      const results: RequestResult[] = [];
      const r = await replaySessionFile(f, script, { onResult: (x) => results.push(x) });
      script.dispose();
      expect(r.header).toMatchObject({ type: 'session', version: 1 });
      expect(r.summary).toMatchObject({ requests: 2, same: 1, changed: 1, aborted: false, warnings: ['line 7 is cut short (file truncated?); ignored'] });
      expect(results.filter((x) => x.changed).map((x) => x.id)).toEqual([2]);
    });

    it('a malformed line rejects with the reader\'s SessionFormatError', async () => {
      const f = file('bad.jsonl', twoRequests().text().replace('"verdict":"accept","by":"script","conditionUs"', '"verdict":"maybe","by":"script","conditionUs"'));
      const script = sandbox.compile('export default () => "accept";', 'n.js');
      await expect(replaySessionFile(f, script)).rejects.toThrow('bad.jsonl:3: field "verdict": must be one of accept, reject, defer, invalid');
      script.dispose();
    });

    // Offers and decisions are read by matching the shapes of earlier lines (session/shapes.ts)
    // unless `shapes: false`: the replay is the same either way.
    const measured = (latency: number) => ({
      sending: { ...unmeasured, latency, maxSduSize: 32768, derived: { latency: 'tcpi_rtt', maxSduSize: 'tcpi_snd_mss' } },
      receiving: { ...unmeasured, latency, derived: { latency: 'tcpi_rtt' } },
      providerSpecific: '',
    });
    const sqosSession = (n: number) => {
      const s = new SessionText().listener(1, { deferTimeoutMs: 50 });
      for (let id = 1; id <= n; id++) {
        const t = id * 2;
        if (id % 7 === 0) s.offer(t, 1, id, 1, 'defer', { sqos: measured(id % 40) }).decision(t + 1, 1, id, 'withdraw', 1, 1000, 'system');
        else s.offer(t, 1, id, 1, 'accept', { data: `d${id}`, sqos: measured(id % 40) }).decision(t + 0.1, 1, id, 'accept', 1, 100);
      }
      return s;
    };
    const SQOS_SCRIPT = 'export default (req) => req.sqos.sending.latency > 20 ? "defer" : req.sqos.receiving.latency % 3 === 0 ? "reject" : "accept";';

    it('reading by line shape and parsing every line give the same replay', async () => {
      const f = file('shapes.jsonl', sqosSession(400).end(2000).text());
      const run = async (shapes: boolean) => {
        const script = sandbox.compile(SQOS_SCRIPT, 'n.js');
        const results: RequestResult[] = [];
        try {
          const r = await replaySessionFile(f, script, { thread: 'main', shapes, onResult: (x) => results.push(x) });
          const { elapsedMs: _e, requestsPerSecond: _r, ...summary } = r.summary;
          return { header: r.header, summary, results };
        } finally {
          script.dispose();
        }
      };
      const fast = await run(true);
      const slow = await run(false);
      expect(fast.summary).toMatchObject({ requests: 400 });
      expect(fast.summary.changed).toBeGreaterThan(100);
      expect(fast.summary.syntheticOffers).toBeGreaterThan(100);
      expect(fast).toEqual(slow);
    });

    it('a malformed SQOS on a line of a known shape rejects with the same error', async () => {
      const text = sqosSession(100).text();
      const lines = text.split('\n');
      const n = lines.findIndex((l) => l.includes('"id":60,'));
      lines[n] = lines[n]!.replace(/"latency":(\d+),"delayVariation"/, '"latency":$1.5,"delayVariation"');
      const f = file('bad-sqos.jsonl', lines.join('\n'));
      const message = `bad-sqos.jsonl:${n + 1}: field "sqos.sending.latency": must be an integer from 0 to 4294967295`;
      for (const shapes of [true, false]) {
        const script = sandbox.compile('export default () => "accept";', 'n.js');
        const results: RequestResult[] = [];
        await expect(replaySessionFile(f, script, { thread: 'main', shapes, onResult: (x) => results.push(x) })).rejects.toThrow(message);
        expect(results.map((r) => r.id)).toEqual(Array.from({ length: 59 }, (_, i) => i + 1));
        script.dispose();
      }
    });

    it('stops when the signal is aborted', async () => {
      const f = file('abort.jsonl', twoRequests().end(100).text());
      const script = sandbox.compile('export default () => "accept";', 'n.js');
      const ac = new AbortController();
      const r = await replaySessionFile(f, script, { signal: ac.signal, onResult: () => ac.abort() });
      script.dispose();
      expect(r.summary).toMatchObject({ aborted: true, requests: 1 });
    });
  });

  it('SqosSerializer writes exactly what JSON.stringify writes', () => {
    const ser = new SqosSerializer();
    const flow = (latency: number, derived: Record<string, string>) => ({ ...unmeasured, latency, maxSduSize: 65483, derived });
    const samples: unknown[] = [
      { sending: flow(27, { latency: 'tcpi_rtt' }), receiving: flow(3, { latency: 'tcpi_rtt (\"µs\")', maxSduSize: 'x' }), providerSpecific: '' },
      { sending: flow(28, { latency: 'tcpi_rtt' }), receiving: flow(4, { latency: 'tcpi_rtt (\"µs\")', maxSduSize: 'x' }), providerSpecific: 'AAE=' },
      { sending: flow(29, { latency: 'other' }), receiving: flow(5, { maxSduSize: 'x', latency: 'tcpi_rtt (\"µs\")' }), providerSpecific: '' },
      { sending: { ...flow(0, {}), extra: [1, 'two', { three: 3 }], weird: 0.1, big: 1e21, neg: -0 }, receiving: null, providerSpecific: '', future: { '0': 'a', b: 'c' } },
      { receiving: flow(1, { latency: 'a' }), sending: flow(2, { latency: 'a' }), providerSpecific: '\u2028' },
      { '1': 1, sending: 'not a flowspec', receiving: [1, 2], providerSpecific: '' },
    ];
    for (const q of [...samples, ...samples]) expect(ser.json(q)).toBe(JSON.stringify(q));
  });

  // The worker thread path runs compiled JavaScript (a worker cannot load this TypeScript): it is
  // checked against the dist build, which `npm test` makes first.
  const DIST = path.resolve(__dirname, '../../dist/electron/host/replay/whatif.js');
  describe.skipIf(!fs.existsSync(DIST))('reading in a worker thread (dist build)', () => {
    type Dist = typeof import('../../electron/host/replay/whatif');
    type DistSandbox = typeof import('../../electron/host/script/sandbox');
    const dist = (): Dist => require(DIST) as Dist;
    const distSandbox = (): DistSandbox => require(path.resolve(__dirname, '../../dist/electron/host/script/sandbox.js')) as DistSandbox;

    function mixedSession(n: number): SessionText {
      const sqos = { sending: unmeasured, receiving: { ...unmeasured, latency: 27, derived: { latency: 'tcpi_rtt' } }, providerSpecific: '' };
      const s = new SessionText().listener(1).listener(2, { fallback: 'accept', reofferMs: 7 });
      for (let i = 1; i <= n; i++) {
        const t = i * 3;
        const l = (i % 2) + 1;
        switch (i % 5) {
          case 0: s.offer(t, l, i, 1, 'accept', { data: `ok-${i}`, sqos }).decision(t + 0.1, l, i, 'accept', 1, 100); break;
          case 1: s.offer(t, l, i, 1, 'defer', { ask: true }).offer(t + 1, l, i, 2, 'reject', { by: 'person' }).decision(t + 1.1, l, i, 'reject', 2, 1100, 'person'); break;
          case 2: s.offer(t, l, i, 1, 'defer').offer(t + 1, l, i, 2, 'defer', { data: 'late' }).decision(t + 2, l, i, 'withdraw', 2, 2000, 'system'); break;
          case 3: s.offer(t, l, i, 1, 'reject', { data: `no-${i}`, sqos }).decision(t + 0.1, l, i, 'reject', 1, 100); break;
          default: s.decision(t, l, i, 'withdraw', 0, 50, 'system');
        }
      }
      return s;
    }
    const SCRIPT = [
      'export default (req, ctx) => {',
      '  ctx.state.n = (ctx.state.n ?? 0) + 1;',
      '  const text = new TextDecoder().decode(req.callerData);',
      '  if (text.endsWith("3")) throw new Error("three");',
      '  if (req.id % 4 === 1) return "ask";',
      '  if (req.sqos && req.sqos.receiving.latency === 27 && ctx.state.n % 3 === 0) return "defer";',
      '  return text.startsWith("ok") || text === "late" ? "accept" : req.attempt > 1 ? "reject" : "defer";',
      '};',
    ].join('\n');

    async function run(f: string, thread: 'main' | 'worker', opts: { signal?: AbortSignal; shapes?: boolean } = {}) {
      const sb = await distSandbox().loadSandbox();
      const script = sb.compile(SCRIPT, 'mixed.js');
      const results: unknown[] = [];
      const errors: unknown[] = [];
      try {
        const r = await dist().replaySessionFile(f, script, { thread, onResult: (x) => results.push(x), onError: (x) => errors.push(x), ...opts });
        const { elapsedMs: _e, requestsPerSecond: _r, ...summary } = r.summary;
        return { header: r.header, summary, results, errors };
      } finally {
        script.dispose();
      }
    }

    it('gives exactly the results of reading in this thread', async () => {
      const f = path.join(dir, 'mixed.jsonl');
      fs.writeFileSync(f, mixedSession(3000).end(100_000).text().replace(/\n$/, '\n{"type":"off'));
      const main = await run(f, 'main');
      const worker = await run(f, 'worker');
      expect(main.summary).toMatchObject({ requests: 3000, warnings: [expect.stringMatching(/cut short/)] });
      expect(main.summary.changed).toBeGreaterThan(100);
      expect(main.summary.errors).toBeGreaterThan(10);
      expect(main.summary.syntheticOffers).toBeGreaterThan(10);
      expect(worker).toEqual(main);
      // Parsing every line instead of matching line shapes: the same, in either thread.
      expect(await run(f, 'worker', { shapes: false })).toEqual(main);
      expect(await run(f, 'main', { shapes: false })).toEqual(main);
    });

    it('reports a malformed line and stops when aborted, as in this thread', async () => {
      const bad = path.join(dir, 'mixed-bad.jsonl');
      fs.writeFileSync(bad, mixedSession(400).text().replace('"id":250,"attempt":1', '"id":250,"attempt":-1'));
      const message = /mixed-bad\.jsonl:\d+: field "attempt": must be an integer of at least 1/;
      await expect(run(bad, 'main')).rejects.toThrow(message);
      await expect(run(bad, 'worker')).rejects.toThrow(message);
      await expect(run(bad, 'worker', { shapes: false })).rejects.toThrow(message);
      const ac = new AbortController();
      ac.abort();
      expect((await run(path.join(dir, 'mixed.jsonl'), 'worker', { signal: ac.signal })).summary).toMatchObject({ aborted: true });
    });
  });
});
