// The engine: native acceptor + QuickJS condition scripts + a person's decisions, on real sockets.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchListener, type FinalDecision } from '../../electron/host/listener';
import { loadSandbox, ScriptCompileError, type Sandbox } from '../../electron/host/script/sandbox';
import * as net from 'node:net';
import { client, openFds, sleep, waitFor } from '../helpers/net';

let sandbox: Sandbox;
beforeAll(async () => { sandbox = await loadSandbox(); });

const running: WorkbenchListener[] = [];
afterEach(() => { for (const l of running.splice(0)) l.stop(); });

function listen(options: ConstructorParameters<typeof WorkbenchListener>[1], source?: string) {
  const l = new WorkbenchListener(1, options, sandbox);
  running.push(l);
  if (source !== undefined) l.setScript(source, 'policy.js');
  const decisions: FinalDecision[] = [];
  const errors: Array<{ id: number; code: string; line?: number }> = [];
  const logs: string[] = [];
  l.on('decision', (d: FinalDecision) => decisions.push(d));
  l.on('script-error', (e: { id: number; code: string; line?: number }) => errors.push(e));
  l.on('log', (m: { message: string }) => logs.push(m.message));
  l.start();
  return { l, decisions, errors, logs };
}

describe('a person decides', () => {
  it('"ask" parks the request until decide(); the decision is applied at once', async () => {
    const { l, decisions } = listen({ discipline: 'held', reofferMs: 1 }, 'export default () => "ask";');
    const a = client(l.port, { send: 'a', expectBytes: 1 });
    const b = client(l.port, { send: 'b' });
    await waitFor(() => l.pendingForPerson.length === 2);
    await sleep(50);
    expect(decisions).toEqual([]);
    const [first, second] = l.pendingForPerson.sort();
    l.decide(second, { verdict: 'reject' });
    l.decide(first, { verdict: 'accept', calleeData: new Uint8Array([1, 2]), group: 7 });
    expect((await a.outcome).received.toString()).toBe('a');
    expect((await b.outcome).end).toBe('reset');
    await waitFor(() => decisions.length === 2);
    expect(decisions.find((d) => d.id === first)).toMatchObject({ verdict: 'accept', by: 'person', attempts: 2 });
    expect(decisions.find((d) => d.id === second)).toMatchObject({ verdict: 'reject', by: 'person' });
    expect(() => l.decide(first, { verdict: 'reject' })).toThrow(/not pending/);
    expect(() => l.decide(999, { verdict: 'reject' })).toThrow(/not pending/);
  });
});

describe('scripts', () => {
  it('hostile scripts give the fallback verdict with an error, and the listener keeps running', async () => {
    const source = [
      'export default function (req, ctx) {',
      '  const kind = new TextDecoder().decode(req.callerData);',
      '  if (req.callerData.length === 0) return "defer";',
      '  if (kind === "loop") for (;;) {}',
      '  if (kind === "throw") throw new Error("no");',
      '  if (kind === "alloc") { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); }',
      '  if (kind === "recurse") { const f = (n) => f(n + 1) + 1; return f(0); }',
      '  if (kind === "wrong") return 42;',
      '  return "accept";',
      '}',
    ].join('\n');
    const { l, decisions, errors } = listen({ fallback: 'reject', budgetMs: 30, memoryLimit: 8 << 20 }, source);
    for (const kind of ['loop', 'throw', 'alloc', 'recurse', 'wrong']) {
      const out = await client(l.port, { send: kind }).outcome;
      expect(out.end, kind).toBe('reset');
    }
    const ok = await client(l.port, { send: 'fine', expectBytes: 4 }).outcome;
    expect(ok.received.toString()).toBe('fine');
    await waitFor(() => decisions.length === 6);
    // QuickJS polls its interrupt handler only every few thousand operations, so a script stuck
    // in heavy built-ins can overrun its budget; then the native side applies the same fallback
    // verdict itself ('default'). Either way the caller gets the fallback.
    const fallbackBy = expect.stringMatching(/^(fallback|default)$/);
    expect(decisions.map((d) => [d.verdict, d.by])).toEqual([
      ['reject', fallbackBy], ['reject', 'fallback'], ['reject', fallbackBy], ['reject', 'fallback'], ['reject', 'fallback'], ['accept', 'script'],
    ]);
    expect(errors.map((e) => e.code)).toEqual(['timeout', 'throw', 'memory', 'stack', 'invalid-verdict']);
    expect(errors[1].line).toBe(5);
  });

  it('a script that does not compile is refused with line:column and the old one stays', async () => {
    const { l, decisions } = listen({ handler: 'close' }, 'export default () => "reject";');
    expect(() => l.setScript('export default () => {\n  return "accept" +;\n}', 'bad.js')).toThrow(ScriptCompileError);
    try {
      l.setScript('export default () => {\n  return "accept" +;\n}', 'bad.js');
    } catch (e) {
      expect((e as ScriptCompileError).line).toBe(2);
    }
    expect((await client(l.port).outcome).end).toBe('reset');
    await waitFor(() => decisions.length === 1);
    expect(decisions[0].verdict).toBe('reject');
    expect(l.currentScript?.version).toBe(1);
  });

  it('replacing the script under traffic swaps atomically and re-offers deferred requests at once', async () => {
    const { l, decisions, logs } = listen({ discipline: 'held', handler: 'close', reofferMs: 10_000 },
      'export default (req, ctx) => { ctx.state.n = (ctx.state.n ?? 0) + 1; return "defer"; };');
    const waiting = [client(l.port), client(l.port), client(l.port)];
    await waitFor(() => l.queueDepths().deferred === 3);
    // Traffic keeps arriving while the script changes.
    const more: Array<ReturnType<typeof client>> = [];
    const traffic = (async () => {
      for (let i = 0; i < 30; i++) { more.push(client(l.port)); await sleep(2); }
    })();
    await sleep(10);
    const v = l.setScript('export default (req, ctx) => { ctx.log("state", JSON.stringify(ctx.state)); return "accept"; };', 'v2.js');
    expect(v.version).toBe(2);
    await traffic;
    for (const c of [...waiting, ...more]) await c.outcome;
    await waitFor(() => decisions.length === 33, 5000, '33 decisions');
    // The re-offer came at once (not after the 10 s re-offer interval), and every request ended once.
    expect(decisions.every((d) => d.verdict === 'accept' || d.verdict === 'withdraw')).toBe(true);
    expect(new Set(decisions.map((d) => d.id)).size).toBe(33);
    // A new script starts with fresh ctx.state.
    expect(logs.every((m) => m === 'state {}')).toBe(true);
  });
});

describe('burst through the whole engine', () => {
  it('2,000 connections, a script with mixed verdicts: one final state each, fds back to baseline', async () => {
    const baseline = openFds();
    const { l, decisions } = listen({ discipline: 'held', handler: 'close', backlog: 1024, reofferMs: 1 }, [
      'export default (req) => {',
      '  switch (req.id % 4) {',
      '    case 0: return "accept";',
      '    case 1: return CF_REJECT;',
      '    case 2: return req.attempt < 3 ? "defer" : { verdict: "accept", group: 1 };',
      '    default: return req.attempt < 2 ? CF_DEFER : "reject";',
      '  }',
      '};',
    ].join('\n'));
    const N = 2000;
    let done = 0;
    await new Promise<void>((resolve) => {
      let started = 0;
      const launch = (): void => {
        if (started >= N) return;
        started++;
        const s = net.connect(l.port, '127.0.0.1');
        let ended = false;
        const finish = (): void => {
          if (ended) return;
          ended = true;
          s.destroy();
          if (++done === N) resolve(); else launch();
        };
        s.on('end', finish);
        s.on('error', finish);
        s.on('close', finish);
      };
      for (let i = 0; i < 100; i++) launch();
    });
    await waitFor(() => decisions.length >= N, 10_000, `${N} decisions`);
    expect(new Set(decisions.map((d) => d.id)).size).toBe(N);
    expect(decisions.filter((d) => d.verdict === 'accept').length).toBe(N / 2);
    expect(decisions.filter((d) => d.verdict === 'reject').length).toBe(N / 2);
    expect(decisions.every((d) => d.by === 'script')).toBe(true);
    const summary = l.stop();
    expect(summary.total).toBe(N);
    running.splice(running.indexOf(l), 1);
    await sleep(50);
    expect(openFds()).toBe(baseline);
  });
});

describe('a stalled host', () => {
  it('gets the default verdict from the native side, recorded as an offer by "default"', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { SessionRecorder } = await import('../../electron/host/session/recorder');
    const { validateSessionFile } = await import('../helpers/session-schema');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aw-stall-'));
    const file = path.join(dir, 's.jsonl');
    const recorder = SessionRecorder.open(file, { appVersion: 'test', backend: 'posix' });
    const l = new WorkbenchListener(1, { budgetMs: 10, fallback: 'reject', handler: 'close' }, sandbox, recorder);
    running.push(l);
    l.setScript('export default () => "accept";', 'accept.js');
    const decisions: FinalDecision[] = [];
    l.on('decision', (d: FinalDecision) => decisions.push(d));
    l.start();
    // The caller lives in another process, so it connects while this JS thread is stalled.
    const { spawn } = await import('node:child_process');
    const caller = spawn(process.execPath, ['-e', `
      const s = require('net').connect(${l.port}, '127.0.0.1');
      s.on('error', (e) => { console.log(e.code); process.exit(0); });
      s.on('end', () => { console.log('eof'); process.exit(0); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    caller.stdout.on('data', (d: Buffer) => { seen += d.toString(); });
    const exited = new Promise((resolve) => caller.on('exit', resolve));
    // Stay busy well past the native wait (budget + 250 ms) after the caller has connected.
    const until = Date.now() + 1500;
    while (Date.now() < until) { /* stalled host */ }
    await exited;
    expect(seen.trim()).toBe('ECONNRESET');
    await waitFor(() => decisions.length === 1);
    expect(decisions[0]).toMatchObject({ verdict: 'reject', by: 'default', attempts: 1 });
    l.stop();
    running.splice(running.indexOf(l), 1);
    recorder.close();
    expect(validateSessionFile(file).errors).toEqual([]);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as Record<string, unknown>);
    const offers = lines.filter((x) => x.type === 'offer');
    expect(offers).toEqual([expect.objectContaining({ id: 1, attempt: 1, verdict: 'reject', by: 'default', error: expect.objectContaining({ code: 'budget' }) })]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
