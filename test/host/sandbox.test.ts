// The condition-script sandbox against real QuickJS (no mocks).
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ScriptCompileError,
  compileConditionScript,
  loadSandbox,
  type ConditionScript,
  type Sandbox,
  type SandboxLimits,
  type ScriptCallResult,
  type ScriptRunOptions,
} from '../../electron/host/script/sandbox';
import { loadedQuickJS } from '../../electron/host/script/quickjs';
import type { ConditionRequest, Qos } from '../../electron/host/types';

function request(over: Partial<ConditionRequest> = {}): ConditionRequest {
  return {
    id: 1,
    caller: { family: 'ipv4', address: '192.0.2.7', port: 50001 },
    callee: { family: 'ipv4', address: '127.0.0.1', port: 8080 },
    callerData: new Uint8Array(0),
    callerDataSource: 'none',
    sqos: null,
    gqos: null,
    attempt: 1,
    queue: { kernel: 0, held: 1, deferred: 0 },
    listener: { id: 3, address: '0.0.0.0', port: 8080, discipline: 'winsock' },
    callbackData: 0,
    ...over,
  };
}

const RUN: ScriptRunOptions = { budgetMs: 50, fallback: 'reject' };

let sandbox: Sandbox;
const open: ConditionScript[] = [];

function compile(source: string, filename = 'policy.js', limits?: SandboxLimits): ConditionScript {
  const script = sandbox.compile(source, filename, limits);
  open.push(script);
  return script;
}

function compileError(source: string, filename = 'policy.js', limits?: SandboxLimits): ScriptCompileError {
  try {
    compile(source, filename, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(ScriptCompileError);
    return error as ScriptCompileError;
  }
  throw new Error('expected a compile error');
}

/** Runs `fn` (a function expression) as the default export once. */
function once(fn: string, req = request(), opts: ScriptRunOptions = RUN): ScriptCallResult {
  return compile(`export default ${fn};`).run(req, opts);
}

function expectFallback(result: ScriptCallResult, code: string, fallback = RUN.fallback): void {
  expect(result.by).toBe('fallback');
  expect(result.verdict).toBe(fallback);
  expect(result.ask).toBe(false);
  expect(result.calleeData).toBeUndefined();
  expect(result.group).toBeUndefined();
  expect(result.error?.code).toBe(code);
}

beforeAll(async () => {
  sandbox = await loadSandbox();
});

afterAll(() => {
  for (const script of open) script.dispose();
});

describe('verdicts', () => {
  it.each([
    ['"accept"', 'accept'],
    ['"reject"', 'reject'],
    ['"defer"', 'defer'],
    ['0', 'accept'],
    ['1', 'reject'],
    ['2', 'defer'],
    ['CF_ACCEPT', 'accept'],
    ['CF_REJECT', 'reject'],
    ['CF_DEFER', 'defer'],
    ['({ verdict: "reject" })', 'reject'],
    ['({ verdict: CF_DEFER })', 'defer'],
  ])('%s → %s', (expression, verdict) => {
    const result = once(`() => ${expression}`, request(), { budgetMs: 50, fallback: 'accept' });
    expect(result).toMatchObject({ verdict, by: 'script', ask: false, logs: [] });
    expect(result.error).toBeUndefined();
    expect(result.conditionUs).toBeGreaterThan(0);
  });

  it('defines the CF_* constants as read-only globals', () => {
    const result = once('() => { CF_ACCEPT = 5; return [CF_ACCEPT, CF_REJECT, CF_DEFER].join() === "0,1,2" ? "accept" : "reject" }');
    // assigning a read-only global throws in module (strict) code
    expectFallback(result, 'throw');
    expect(once('() => [CF_ACCEPT, CF_REJECT, CF_DEFER].join() === "0,1,2" ? "accept" : "reject"').verdict).toBe('accept');
  });

  it('"ask" defers and asks for a person', () => {
    expect(once('() => "ask"')).toMatchObject({ verdict: 'defer', ask: true, by: 'script' });
    expect(once('() => ({ verdict: "ask", group: 9 })')).toMatchObject({ verdict: 'defer', ask: true, group: 9 });
  });

  it('object verdicts carry callee data and a group', () => {
    const text = once('() => ({ verdict: "accept", calleeData: "héllo ✓", group: 4294967295 })');
    expect(text).toMatchObject({ verdict: 'accept', by: 'script', group: 4294967295 });
    expect(text.calleeData).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(text.calleeData!).toString('utf8')).toBe('héllo ✓');

    const bytes = once('() => ({ verdict: "reject", calleeData: new Uint8Array([0, 1, 127, 128, 255]), group: 0 })');
    expect(bytes).toMatchObject({ verdict: 'reject', group: 0 });
    expect([...bytes.calleeData!]).toEqual([0, 1, 127, 128, 255]);

    const array = once('() => ({ verdict: CF_ACCEPT, calleeData: [104, 105] })');
    expect([...array.calleeData!]).toEqual([104, 105]);
    expect(array.group).toBeUndefined();

    const buffer = once('() => ({ verdict: "accept", calleeData: new Uint8Array([7, 8]).buffer })');
    expect([...buffer.calleeData!]).toEqual([7, 8]);

    const empty = once('() => ({ verdict: "accept", calleeData: "" })');
    expect(empty.calleeData).toEqual(new Uint8Array(0));

    const none = once('() => ({ verdict: "accept", calleeData: null, group: undefined })');
    expect(none.calleeData).toBeUndefined();
    expect(none.group).toBeUndefined();
  });

  it.each([
    ['7', '7'],
    ['"maybe"', "'maybe'"],
    ['"ACCEPT"', "'ACCEPT'"],
    ['undefined', 'missing return'],
    ['null', 'null'],
    ['true', 'true'],
    ['3', '3'],
    ['-1', '-1'],
    ['0.5', '0.5'],
    ['"0"', "'0'"],
    ['[0]', '[ 0 ]'],
    ['(() => "accept")', '[Function'],
    ['{ verdict: "nope" }', "verdict 'nope'"],
    ['{ calleeData: "x" }', 'has no verdict'],
    ['{ verdict: "accept", group: -1 }', 'group'],
    ['{ verdict: "accept", group: 4294967296 }', 'group'],
    ['{ verdict: "accept", group: 1.5 }', 'group'],
    ['{ verdict: "accept", group: "1" }', 'group'],
    ['{ verdict: "accept", calleeData: [256] }', 'calleeData'],
    ['{ verdict: "accept", calleeData: [1.5] }', 'calleeData'],
    ['{ verdict: "accept", calleeData: { length: 1 } }', 'calleeData'],
    ['{ verdict: "accept", calleeData: 42 }', 'calleeData'],
    ['{ verdict: "accept", calleeData: new Uint8Array(65537) }', 'calleeData'],
    ['{ verdict: "accept", calleeData: "x".repeat(70000) }', 'calleeData'],
  ])('returning %s gives the fallback (invalid-verdict)', (expression, mention) => {
    const result = once(`() => (${expression})`, request(), { budgetMs: 50, fallback: 'defer' });
    expectFallback(result, 'invalid-verdict', 'defer');
    expect(result.error!.message).toContain(mention);
    expect(result.error!.line).toBeUndefined();
  });

  it('multi-byte callee data over the limit is refused on the host side too', () => {
    // 30000 characters of 3 bytes each: short enough for the script-side check, too long as UTF-8.
    const result = once('() => ({ verdict: "accept", calleeData: "✓".repeat(30000) })');
    expectFallback(result, 'invalid-verdict');
    expect(result.error!.message).toContain('90000 bytes');
  });

  it('a Promise (or an async function) is not a verdict', () => {
    for (const fn of ['() => Promise.resolve("accept")', 'async () => "accept"', '() => ({ then(r) { r("accept") } })']) {
      const result = once(fn);
      expectFallback(result, 'invalid-verdict');
      expect(result.error!.message).toContain('Promise');
    }
  });

  it('gives the fallback the caller chose', () => {
    for (const fallback of ['accept', 'reject', 'defer'] as const) {
      expectFallback(once('() => 7', request(), { budgetMs: 50, fallback }), 'invalid-verdict', fallback);
    }
  });
});

describe('req', () => {
  it('carries every field of the request', () => {
    const sqos: Qos = {
      sending: {
        tokenRate: 1, tokenBucketSize: 2, peakBandwidth: 3, latency: 27, delayVariation: 0xffffffff,
        serviceType: 0xffffffff, maxSduSize: 1460, minimumPolicedSize: 0xffffffff, derived: { latency: 'tcpi_rtt' },
      },
      receiving: {
        tokenRate: 0xffffffff, tokenBucketSize: 0xffffffff, peakBandwidth: 0xffffffff, latency: 0xffffffff,
        delayVariation: 0xffffffff, serviceType: 0xffffffff, maxSduSize: 0xffffffff, minimumPolicedSize: 0xffffffff,
        derived: {},
      },
      providerSpecific: 'AAEC',
    };
    const req = request({
      id: 4242,
      caller: { family: 'ipv6', address: '2001:db8::7', port: 65535 },
      callee: { family: 'ipv6', address: '::1', port: 443 },
      callerData: new Uint8Array([0, 1, 2, 250, 255]),
      callerDataSource: 'syn',
      sqos,
      attempt: 3,
      queue: { kernel: null, held: 5, deferred: 2 },
      listener: { id: 9, address: '::', port: 443, discipline: 'held' },
      callbackData: 0xdeadbeef,
    });
    const script = compile(`export default (req, ctx) => {
      ctx.log(JSON.stringify({ ...req, callerData: Array.from(req.callerData) }));
      return "accept";
    }`);
    const result = script.run(req, RUN);
    expect(result.verdict).toBe('accept');
    expect(JSON.parse(result.logs[0]!)).toEqual({ ...req, callerData: [0, 1, 2, 250, 255] });
  });

  it('callerData is a real Uint8Array with the bytes, fresh per call', () => {
    const script = compile(`export default (req, ctx) => {
      const d = req.callerData;
      ctx.log(d instanceof Uint8Array, d.constructor === Uint8Array, Object.prototype.toString.call(d), d.length, d.join(","));
      if (d.length > 0) d[0] = 99; // a script may scribble on its copy
      return "accept";
    }`);
    const bytes = new Uint8Array(300).map((_, i) => (i * 37) % 256);
    const first = script.run(request({ callerData: bytes, callerDataSource: 'peek' }), RUN);
    expect(first.logs).toEqual([`true true [object Uint8Array] 300 ${[...bytes].join(',')}`]);
    expect(bytes[0]).toBe(0); // the host's bytes are untouched
    const second = script.run(request({ callerData: new Uint8Array([5, 6]) }), RUN);
    expect(second.logs).toEqual(['true true [object Uint8Array] 2 5,6']);
    const empty = script.run(request(), RUN);
    expect(empty.logs).toEqual(['true true [object Uint8Array] 0 ']);
  });

  it('TextDecoder / TextEncoder (UTF-8) are available for caller data', () => {
    const script = compile(`export default (req, ctx) => {
      const text = new TextDecoder().decode(req.callerData);
      ctx.log(text, text.length);
      ctx.log(new TextDecoder("utf8").decode(req.callerData.subarray(0, 3)));
      ctx.log(JSON.stringify(new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x98]))));
      ctx.log(new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]).buffer), new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])).length);
      try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xc0, 0x80])); } catch (e) { ctx.log(e.name); }
      try { new TextDecoder("latin1"); } catch (e) { ctx.log(e.name); }
      ctx.log(Array.from(new TextEncoder().encode("h\u00e9\u{1F600}\ud800")).join(","));
      return { verdict: text === "let me in \u{1F600}" ? CF_ACCEPT : "reject", calleeData: new TextEncoder().encode("ok \u2713") };
    }`);
    const result = script.run(request({ callerData: Buffer.from('let me in 😀') }), RUN);
    expect(result.logs).toEqual([
      'let me in 😀 12',
      'let',
      JSON.stringify('a\ufffd\ufffdb\ufffd'),
      'A 2',
      'TypeError',
      'RangeError',
      '104,195,169,240,159,152,128,239,191,189',
    ]);
    expect(result.verdict).toBe('accept');
    expect(Buffer.from(result.calleeData!).toString()).toBe('ok ✓');
  });

  it('large caller data (shared buffer growth) arrives intact', () => {
    const script = compile(`export default (req) => {
      let sum = 0;
      for (const b of req.callerData) sum = (sum * 31 + b) >>> 0;
      const text = [req.caller.address, req.callee.address, req.listener.discipline, req.callerData.length].join(" ");
      return { verdict: "accept", group: sum, calleeData: text };
    }`);
    // Strings sent before the buffer grows must still be known after it grew.
    for (const size of [10, 0, 100_000, 5, 1_000_000, 3]) {
      const data = new Uint8Array(size).map((_, i) => (i * 7 + 3) % 256);
      let sum = 0;
      for (const b of data) sum = (sum * 31 + b) >>> 0;
      const result = script.run(request({ callerData: data }), { budgetMs: 2000, fallback: 'reject' });
      expect(result.error).toBeUndefined();
      expect(result.group).toBe(sum);
      expect(Buffer.from(result.calleeData!).toString()).toBe(`192.0.2.7 127.0.0.1 winsock ${size}`);
    }
  });

  it('strings stay right across many distinct callers (string table resets)', () => {
    const script = compile('export default (req) => ({ verdict: "accept", calleeData: req.caller.address + " " + req.listener.address })');
    for (let i = 0; i < 9000; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const listenerAddress = i % 3 === 0 ? '0.0.0.0' : `127.0.0.${i % 7}`;
      const result = script.run(
        request({ caller: { family: 'ipv4', address, port: i }, listener: { id: 1, address: listenerAddress, port: 1, discipline: 'held' } }),
        RUN,
      );
      const got = Buffer.from(result.calleeData!).toString();
      if (got !== `${address} ${listenerAddress}`) expect(got).toBe(`${address} ${listenerAddress}`);
    }
  });

  it('callee and listener are frozen and shared, the rest is fresh per call', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.log(Object.isFrozen(req.callee), Object.isFrozen(req.listener), Object.isFrozen(req.caller));
      if (ctx.state.last) ctx.log(ctx.state.last.listener === req.listener, ctx.state.last.caller === req.caller, ctx.state.last.id);
      req.caller.port = 1; // harmless
      ctx.state.last = req;
      return "accept";
    }`);
    expect(script.run(request({ id: 1 }), RUN).logs).toEqual(['true true false']);
    expect(script.run(request({ id: 2 }), RUN).logs).toEqual(['true true false', 'true false 1']);
  });
});

describe('ctx', () => {
  it('ctx.state persists across calls and is reset by a recompile', () => {
    const source = `export default (req, ctx) => {
      ctx.state.n = (ctx.state.n ?? 0) + 1;
      return { verdict: "accept", group: ctx.state.n };
    }`;
    const first = compile(source);
    expect([1, 2, 3].map(() => first.run(request(), RUN).group)).toEqual([1, 2, 3]);
    const second = compile(source);
    expect(second.run(request(), RUN).group).toBe(1);
    expect(first.run(request(), RUN).group).toBe(4); // instances are independent
  });

  it('a script may replace ctx.state wholesale', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.state = { n: (ctx.state.n ?? 0) + 10 };
      return { verdict: "accept", group: ctx.state.n };
    }`);
    expect(script.run(request(), RUN).group).toBe(10);
    expect(script.run(request(), RUN).group).toBe(20);
  });

  it('ctx.log and console.log collect messages formatted like console.log', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.log("plain", 1, -0, 2n, true, null, undefined);
      console.log({ a: 1, b: "x", c: [1, 2, { d: null }] }, [1, "two", "it's"], new Uint8Array([1, 2]));
      console.info("info"); console.warn("warn"); console.error(new TypeError("bad"));
      const log = ctx.log; log("unbound", Symbol("s"), function named() {});
      const cyc = {}; cyc.self = cyc; ctx.log(cyc);
      ctx.log();
      return "accept";
    }`);
    const result = script.run(request(), RUN);
    expect(result.logs).toEqual([
      'plain 1 -0 2n true null undefined',
      `{ a: 1, b: 'x', c: [ 1, 2, { d: null } ] } [ 1, 'two', "it's" ] Uint8Array(2) [ 1, 2 ]`,
      'info',
      'warn',
      'TypeError: bad',
      'unbound Symbol(s) [Function: named]',
      '{ self: [Circular] }',
      '',
    ]);
    // logs belong to the call that made them
    expect(compile('export default () => "accept"').run(request(), RUN).logs).toEqual([]);
    expect(script.run(request(), RUN).logs).toHaveLength(8);
  });

  it('limits the number and size of log messages per call', () => {
    const script = compile(`export default (req, ctx) => {
      for (let i = 0; i < 150; i++) ctx.log("line " + i);
      return "accept";
    }`);
    const result = script.run(request(), RUN);
    expect(result.verdict).toBe('accept');
    expect(result.logs).toHaveLength(101);
    expect(result.logs[99]).toBe('line 99');
    expect(result.logs[100]).toMatch(/^\[sandbox\] 50 more log message\(s\) dropped/);
    const long = once('(req, ctx) => { ctx.log("x".repeat(5000)); return "accept" }');
    expect(long.logs[0]!.length).toBeLessThanOrEqual(2001);
  });

  it('top-level logs are returned with the compiled script', () => {
    const script = compile('console.log("loading", 42);\nexport default () => "accept";');
    expect(script.compileLogs).toEqual(['loading 42']);
    expect(script.run(request(), RUN).logs).toEqual([]);
  });
});

describe('hostile scripts', () => {
  it('stops an infinite loop at about the budget; the script keeps working', () => {
    const script = compile(`export default (req, ctx) => {
  ctx.log("before");
  if (req.id === 1) {
    while (true) {}
  }
  ctx.state.after = (ctx.state.after ?? 0) + 1;
  return { verdict: "accept", group: ctx.state.after };
};`);
    const started = performance.now();
    const result = script.run(request({ id: 1 }), { budgetMs: 20, fallback: 'defer' });
    const elapsed = performance.now() - started;
    expectFallback(result, 'timeout', 'defer');
    expect(result.error!.message).toContain('20 ms');
    // QuickJS reports the last position it recorded before the loop (not always the loop's line)
    expect(result.error!.line).toBeGreaterThanOrEqual(1);
    expect(result.error!.line).toBeLessThanOrEqual(4);
    expect(result.logs).toEqual(['before']);
    expect(elapsed).toBeGreaterThanOrEqual(19);
    expect(elapsed).toBeLessThan(20 + 150);
    expect(result.conditionUs).toBeGreaterThanOrEqual(19_000);
    console.log(`infinite loop with a 20 ms budget stopped after ${elapsed.toFixed(1)} ms`);
    for (let id = 2; id < 5; id++) {
      expect(script.run(request({ id }), RUN)).toMatchObject({ verdict: 'accept', by: 'script', group: id - 1 });
    }
    expect(script.restarts).toBe(0);
  });

  it('a loop through function calls, a getter and a log argument is stopped too', () => {
    for (const fn of [
      '() => { const f = () => f2(); const f2 = () => 1; for (;;) f(); }',
      '() => ({ get verdict() { for (;;); } })',
      '(req, ctx) => { ctx.log({ get x() { for (;;); } }); return "accept"; }',
      '() => { throw { get message() { for (;;); } }; }',
      '() => { let s = 0; for (let i = 0; i < 1e12; i++) s += i; return "accept"; }',
    ]) {
      expectFallback(once(fn, request(), { budgetMs: 10, fallback: 'reject' }), 'timeout');
    }
  });

  it('a throw gives the fallback with the line and column of the throw', () => {
    const script = compile(`export default (req, ctx) => {
  if (req.id === 1) {
    throw new Error("boom");
  }
  if (req.id === 2) return null.x;
  if (req.id === 3) throw "a string";
  return "accept";
};`, 'throws.js');
    const thrown = script.run(request({ id: 1 }), RUN);
    expectFallback(thrown, 'throw');
    expect(thrown.error).toEqual({ code: 'throw', message: 'Error: boom', line: 3, column: 20 });
    const typeError = script.run(request({ id: 2 }), RUN);
    expect(typeError.error).toMatchObject({ code: 'throw', line: 5 });
    expect(typeError.error!.message).toMatch(/^TypeError: /);
    const value = script.run(request({ id: 3 }), RUN);
    expect(value.error).toEqual({ code: 'throw', message: "uncaught 'a string'" });
    expect(script.run(request({ id: 4 }), RUN).verdict).toBe('accept');
  });

  it('the reported position is in the user file, not in a helper', () => {
    const result = compile(`function helper(x) {
  return x.y.z;
}
export default (req) => helper({});`, 'deep.js').run(request(), RUN);
    expect(result.error).toMatchObject({ code: 'throw', line: 2 });
  });

  it('a huge allocation is a memory error; the instance (and its state) survive', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.state.n = (ctx.state.n ?? 0) + 1;
      if (req.id === 1) return new Uint8Array(1e8).length ? "accept" : "reject";
      if (req.id === 2) return "x".repeat(1e8);
      return { verdict: "accept", group: ctx.state.n };
    }`);
    const big = script.run(request({ id: 1 }), RUN);
    expectFallback(big, 'memory');
    expect(big.error!.message).toContain('out of memory');
    expect(big.error!.message).toContain('32 MiB');
    expectFallback(script.run(request({ id: 2 }), RUN), 'memory');
    const after = script.run(request({ id: 3 }), RUN);
    expect(after).toMatchObject({ verdict: 'accept', by: 'script', group: 3 });
    expect(after.restarted).toBeUndefined();
    expect(script.restarts).toBe(0);
  });

  it('memory kept in ctx.state until exhausted: the instance is rebuilt and state resets', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.state.calls = (ctx.state.calls ?? 0) + 1;
      if (req.id === 1) {
        ctx.state.hog = ctx.state.hog ?? [];
        for (;;) ctx.state.hog.push(new Uint8Array(65536));
      }
      return { verdict: "accept", group: ctx.state.calls };
    }`, 'hog.js', { memoryLimit: 4 * 1024 * 1024 });
    expect(script.run(request({ id: 0 }), RUN).group).toBe(1);
    const hog = script.run(request({ id: 1 }), { budgetMs: 2000, fallback: 'reject' });
    expectFallback(hog, 'memory');
    expect(hog.restarted).toBe(true);
    expect(hog.error!.message).toContain('ctx.state was reset');
    expect(script.restarts).toBe(1);
    expect(script.run(request({ id: 2 }), RUN)).toMatchObject({ verdict: 'accept', by: 'script', group: 1 });
  });

  it('memory piling up in ctx.state over many calls is caught by measurement', () => {
    const script = compile(`export default (req, ctx) => {
      ctx.state.calls = (ctx.state.calls ?? 0) + 1;
      (ctx.state.kept ??= []).push(new Uint8Array(1 << 20)); // each allocation alone is within the limit
      return { verdict: "accept", group: ctx.state.calls };
    }`, 'pile.js', { memoryLimit: 8 * 1024 * 1024 });
    let caught: ScriptCallResult | undefined;
    for (let i = 0; i < 200 && !caught; i++) {
      const result = script.run(request(), RUN);
      if (result.by === 'fallback') caught = result;
      else expect(result.group).toBe(i + 1);
    }
    expect(caught).toBeDefined();
    expectFallback(caught!, 'memory');
    expect(caught!.error!.message).toMatch(/over its memory limit of 8 MiB/);
    expect(caught!.restarted).toBe(true);
    expect(script.run(request(), RUN)).toMatchObject({ by: 'script', group: 1 });
  });

  it('deep recursion is a stack error and the process lives on', () => {
    const script = compile(`function down(n) { return down(n + 1) + 1; }
export default (req, ctx) => {
  ctx.state.n = (ctx.state.n ?? 0) + 1;
  if (req.id === 1) return down(0);
  return { verdict: "accept", group: ctx.state.n };
};`, 'recurse.js');
    const result = script.run(request({ id: 1 }), RUN);
    expectFallback(result, 'stack');
    expect(result.error!.message).toContain('stack overflow');
    expect(result.error!.line).toBe(1);
    expect(script.run(request({ id: 2 }), RUN)).toMatchObject({ verdict: 'accept', group: 2 });
    expect(script.restarts).toBe(0);
  });

  it('a script that catches the overflow itself may still decide', () => {
    const result = once('() => { const r = (n) => r(n + 1); try { r(0); } catch (e) { return "defer"; } }');
    expect(result).toMatchObject({ verdict: 'defer', by: 'script' });
  });

  it('deep recursion inside native code (JSON, String, parser) does not crash the host', () => {
    const cases = [
      'let a = []; for (let i = 0; i < 300000; i++) a = [a]; return JSON.stringify(a);',
      'let a = {}; for (let i = 0; i < 300000; i++) a = { a }; return JSON.stringify(a);',
      'let a = []; for (let i = 0; i < 300000; i++) a = [a]; return String(a);',
      'return JSON.parse("[".repeat(300000) + "]".repeat(300000));',
      'let a = []; for (let i = 0; i < 300000; i++) a = [a]; return a.flat(Infinity);',
      'let p = {}; for (let i = 0; i < 300000; i++) p = new Proxy(p, {}); return p.x;',
    ];
    for (const maxStackSize of [undefined, 256 * 1024]) {
      for (const body of cases) {
        const script = compile(
          `export default (req, ctx) => {
  ctx.state.n = (ctx.state.n ?? 0) + 1;
  if (req.id === 1) { ${body} }
  return { verdict: "accept", group: ctx.state.n };
};`,
          'native.js',
          { maxStackSize },
        );
        const result = script.run(request({ id: 1 }), { budgetMs: 5000, fallback: 'reject' });
        expect(result.by).toBe('fallback');
        expect(['stack', 'memory', 'timeout']).toContain(result.error!.code);
        const next = script.run(request({ id: 2 }), RUN);
        expect(next).toMatchObject({ verdict: 'accept', by: 'script' });
        if (result.restarted) {
          console.log(`host stack exhausted (stack limit ${maxStackSize ?? 'default'}): ${body.slice(0, 40)}… → instance rebuilt`);
          expect(next.group).toBe(1);
        } else {
          expect(next.group).toBe(2);
        }
      }
    }
    // V8's stack overflow does not unwind the wasm shadow stack: the sandbox must have reset it.
    const host = loadedQuickJS()!;
    expect(host.shadowStack).not.toBeNull();
    expect(host.shadowStack!.current()).toBe(host.shadowStackTop);
  });

  it('has no Node, timers, network, eval or module loading', () => {
    const script = compile(`export default (req, ctx) => {
      const seen = [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof setInterval,
        typeof queueMicrotask, typeof XMLHttpRequest, typeof WebSocket, typeof std, typeof os, typeof print,
        typeof module, typeof exports, typeof __dirname, typeof Buffer, typeof globalThis.require];
      ctx.log(seen.every((t) => t === "undefined"));
      const attempts = [
        () => eval("1 + 1"),
        () => new Function("return 1")(),
        () => Function("return 1")(),
        () => (function () {}).constructor("return 1")(),
        () => (function* () {}).constructor("yield 1")().next(),
        () => (async function () {}).constructor("return 1")(),
        () => (async function* () {}).constructor("yield 1")(),
      ];
      for (const attempt of attempts) {
        try { attempt(); ctx.log("escaped"); } catch (e) { ctx.log(e instanceof TypeError, e.message); }
      }
      ctx.log((() => {}) instanceof Function, typeof Function.prototype.call);
      return "accept";
    }`);
    const result = script.run(request(), RUN);
    expect(result.verdict).toBe('accept');
    expect(result.logs[0]).toBe('true');
    expect(result.logs.slice(1, 8)).toEqual(
      Array(7).fill('true code generation from strings (eval, Function) is disabled in condition scripts'),
    );
    expect(result.logs[8]).toBe('true function');
  });

  it('dynamic import() fails (its rejection is seen through promise jobs)', () => {
    const script = compile(`export default (req, ctx) => {
      if (ctx.state.outcome) return { verdict: "reject", calleeData: ctx.state.outcome };
      import("fs").then(() => { ctx.state.outcome = "loaded"; }, (e) => { ctx.state.outcome = "failed: " + e.message; });
      Promise.resolve().then(() => console.log("job ran"));
      return "defer";
    }`);
    const first = script.run(request(), RUN);
    expect(first).toMatchObject({ verdict: 'defer', by: 'script' });
    expect(first.logs).toEqual(['job ran']);
    const second = script.run(request(), RUN);
    expect(second.verdict).toBe('reject');
    expect(Buffer.from(second.calleeData!).toString()).toMatch(/^failed: could not load module/);
  });

  it('promise jobs that never end are stopped by the budget', () => {
    const script = compile(`export default (req, ctx) => {
      const spin = () => Promise.resolve().then(spin);
      if (req.id === 1) spin();
      return "accept";
    }`);
    const result = script.run(request({ id: 1 }), { budgetMs: 10, fallback: 'reject' });
    expect(result).toMatchObject({ verdict: 'accept', by: 'script' });
    expect(result.logs.at(-1)).toMatch(/promise jobs were stopped/);
    expect(script.run(request({ id: 2 }), RUN).verdict).toBe('accept');
  });

  it('replacing built-ins cannot break the host', () => {
    const script = compile(`export default (req, ctx) => {
      JSON.stringify = () => "{garbage";
      JSON.parse = () => ({});
      String.fromCharCode = () => "";
      Array.prototype.push = () => { throw new Error("no"); };
      Object.prototype.toJSON = () => "x";
      Uint8Array.prototype.subarray = () => null;
      Object.freeze = (o) => o;
      ctx.log("still", "logging", [1, 2]);
      return { verdict: "accept", calleeData: [1, 2, 3], group: 5 };
    }`);
    for (let i = 0; i < 3; i++) {
      const result = script.run(request({ callerData: new Uint8Array([9]), sqos: null }), RUN);
      expect(result).toMatchObject({ verdict: 'accept', by: 'script', group: 5, logs: ['still logging [ 1, 2 ]'] });
      expect([...result.calleeData!]).toEqual([1, 2, 3]);
    }
  });
});

describe('compile', () => {
  it('reports a syntax error with its line and column', () => {
    const error = compileError('export default (req, ctx) => {\n  const a = 1;\n  const b = = 2;\n  return "accept";\n};\n', 'broken.js');
    expect(error).toMatchObject({ code: 'syntax', filename: 'broken.js', line: 3, column: 13 });
    expect(error.message).toMatch(/^SyntaxError: /);
    expect(error.toString()).toBe(`broken.js:3:13: ${error.message}`);
  });

  it('requires a default export that is a function', () => {
    for (const source of ['export const x = 1;', 'export default 42;', 'const f = () => "accept";', '']) {
      const error = compileError(source);
      expect(error).toMatchObject({ code: 'module', line: 1, column: 1 });
      expect(error.message).toMatch(/^default export is not a function/);
    }
  });

  it('stops a top-level infinite loop (compile error, not a hang)', () => {
    const started = performance.now();
    const error = compileError('let i = 0;\nwhile (true) { i++; }\nexport default () => "accept";', 'loop.js', { budgetMs: 20 });
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('20 ms');
    expect(error.line).toBeLessThanOrEqual(2);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('reports a top-level throw with its position and what was logged before', () => {
    const error = compileError('console.log("starting");\nconst table = {};\ntable.missing.x = 1;\nexport default () => "accept";', 'top.js');
    expect(error).toMatchObject({ code: 'throw', line: 3, logs: ['starting'] });
    expect(error.message).toMatch(/^TypeError: /);
  });

  it('refuses imports', () => {
    const error = compileError('import fs from "fs";\nimport { x } from "./other.js";\nexport default () => "accept";', 'imports.js');
    expect(error).toMatchObject({ code: 'module', line: 1, column: 16 });
    expect(error.message).toBe("import of 'fs' is not allowed: condition scripts cannot import modules");
  });

  it('refuses top-level await', () => {
    const error = compileError('await 1;\nexport default () => "accept";');
    expect(error.code).toBe('module');
    expect(error.message).toContain('top-level await');
  });

  it('rejects nesting too deep for the parser instead of crashing', () => {
    const deep = `export default () => ${'('.repeat(20000)}"accept"${')'.repeat(20000)};`;
    const error = compileError(deep);
    expect(error.code).toBe('stack');
    const fine = compile(`export default () => ${'('.repeat(100)}"accept"${')'.repeat(100)};`);
    expect(fine.run(request(), RUN).verdict).toBe('accept');
  });

  it('validates limits', () => {
    expect(() => sandbox.compile('export default () => 0', 'x.js', { memoryLimit: 1000 })).toThrow(RangeError);
    expect(() => sandbox.compile('export default () => 0', 'x.js', { maxStackSize: 1024 * 1024 })).toThrow(RangeError);
    expect(() => sandbox.compile('export default () => 0', 'x.js', { budgetMs: 0 })).toThrow(RangeError);
    const script = compile('export default () => 0', 'x.js', { memoryLimit: 8 * 1024 * 1024, maxStackSize: 64 * 1024, budgetMs: 5 });
    expect(script.limits).toEqual({ memoryLimit: 8 * 1024 * 1024, maxStackSize: 64 * 1024, budgetMs: 5 });
    expect(() => script.run(request(), { budgetMs: -1, fallback: 'reject' })).toThrow(RangeError);
    expect(() => script.run(request(), { budgetMs: 5, fallback: 'maybe' as never })).toThrow(TypeError);
  });

  it('compileConditionScript works once the sandbox is loaded', () => {
    const script = compileConditionScript('export default (req) => req.attempt > 1 ? "accept" : "defer"', 'retry.js');
    open.push(script);
    expect(script.run(request({ attempt: 1 }), RUN).verdict).toBe('defer');
    expect(script.run(request({ attempt: 2 }), RUN).verdict).toBe('accept');
  });
});

describe('lifecycle', () => {
  it('dispose frees the runtime; disposing twice is fine; running afterwards throws', () => {
    const script = sandbox.compile('export default (req, ctx) => { ctx.state.x = [1, 2, 3]; return "accept"; }', 'x.js');
    script.run(request(), RUN);
    script.dispose();
    script.dispose();
    expect(script.disposed).toBe(true);
    expect(() => script.run(request(), RUN)).toThrow(/disposed/);
  });

  it('a malformed request gives the fallback without losing ctx.state', () => {
    const script = compile('export default (req, ctx) => ({ verdict: "accept", group: (ctx.state.n = (ctx.state.n ?? 0) + 1) })');
    expect(script.run(request(), RUN).group).toBe(1);
    const broken = script.run({ ...request(), caller: undefined } as unknown as ConditionRequest, RUN);
    expect(broken).toMatchObject({ by: 'fallback', verdict: 'reject', error: { code: 'throw' } });
    expect(broken.error!.message).toMatch(/^sandbox: /);
    expect(script.run(request(), RUN).group).toBe(2);
  });

  it('many scripts can be compiled, run, failed and disposed', () => {
    for (let i = 0; i < 40; i++) {
      const script = sandbox.compile(
        `export default (req, ctx) => {
          ctx.state.list = (ctx.state.list ?? []).concat([req.id]);
          Promise.resolve().then(() => { ctx.state.job = true; });
          if (req.id % 4 === 1) throw new Error("x");
          if (req.id % 4 === 2) while (true) {}
          if (req.id % 4 === 3) return new Uint8Array(1e9);
          return "accept";
        }`,
        `s${i}.js`,
        { memoryLimit: 2 * 1024 * 1024 },
      );
      for (let id = 0; id < 4; id++) script.run(request({ id }), { budgetMs: 5, fallback: 'reject' });
      script.dispose();
    }
  });
});

describe('editor declarations (condition-api.d.ts)', () => {
  function diagnostics(script: string): string[] {
    const file = path.resolve('test/host/__condition-script__.js');
    const dts = path.resolve('electron/host/script/condition-api.d.ts');
    const options: ts.CompilerOptions = {
      allowJs: true, checkJs: true, noEmit: true, strict: true, target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022, lib: ['lib.es2022.d.ts'], types: [],
    };
    const compilerHost = ts.createCompilerHost(options);
    const readFile = compilerHost.readFile.bind(compilerHost);
    compilerHost.readFile = (name) => (path.resolve(name) === file ? script : readFile(name));
    compilerHost.fileExists = ((exists) => (name: string) => path.resolve(name) === file || exists(name))(compilerHost.fileExists.bind(compilerHost));
    const program = ts.createProgram([dts, file], options, compilerHost);
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }

  it('types a correct script without errors and catches a wrong verdict', () => {
    expect(diagnostics(`/** @type {ConditionFunction} */
export default (req, ctx) => {
  ctx.state.n = (ctx.state.n ?? 0) + 1;
  console.log(req.caller.address, req.callerData.length, req.queue.kernel ?? "n/a", req.sqos?.sending.latency);
  if (req.listener.discipline === "held" && req.attempt > 2) return "ask";
  if (req.callerData[0] === 0x16) return { verdict: CF_ACCEPT, calleeData: new Uint8Array([1]), group: 0 };
  return req.caller.family === "ipv6" ? CF_REJECT : "defer";
};`)).toEqual([]);
    const errors = diagnostics(`/** @type {ConditionFunction} */
export default (req) => req.caller.adress ? "maybe" : 7;`);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.join('\n')).toMatch(/adress|maybe|7/);
  });
});

describe('speed', () => {
  function measure(script: ConditionScript, calls: number): { p50: number; p99: number } {
    const req = request();
    const times: number[] = [];
    for (let i = 0; i < calls; i++) {
      req.id = i;
      const result = script.run(req, { budgetMs: 20, fallback: 'reject' });
      if (result.by !== 'script') throw new Error(`unexpected fallback: ${JSON.stringify(result.error)}`);
      times.push(result.conditionUs);
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(calls * 0.5)]!, p99: times[Math.floor(calls * 0.99)]! };
  }

  it('a call costs microseconds', () => {
    const trivial = compile('export default () => "accept"', 'trivial.js');
    const reading = compile(`export default (req, ctx) => {
      ctx.state.count = (ctx.state.count ?? 0) + 1;
      if (ctx.state.blocked === req.caller.address) return "reject";
      return req.caller.address.startsWith("10.") ? "reject" : "accept";
    }`, 'reading.js');
    measure(trivial, 5000); // warm up (wasm tier-up, V8 JIT)
    measure(reading, 5000);
    const a = measure(trivial, 20000);
    const b = measure(reading, 20000);
    console.log(`sandbox call, trivial script:         p50 ${a.p50.toFixed(2)} µs, p99 ${a.p99.toFixed(2)} µs`);
    console.log(`sandbox call, reads address + state:  p50 ${b.p50.toFixed(2)} µs, p99 ${b.p99.toFixed(2)} µs`);
    expect(a.p50).toBeLessThan(200);
    expect(b.p50).toBeLessThan(200);
  });
});
