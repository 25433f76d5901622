// `accept-workbench listen` end to end: a real process, real sockets, real session files.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { client, sleep } from '../helpers/net';
import { jsonLines, killStrayClis, runCli, startCli } from '../helpers/cli';
import { scratchDir, writeIn } from '../helpers/scratch';
import { validateSessionFile } from '../helpers/session-schema';

const dir = scratchDir('aw-cli-');
afterEach(() => killStrayClis());

const script = (name: string, text: string): string => writeIn(dir, name, text);

async function listening(r: ReturnType<typeof startCli>): Promise<{ port: number; address: string }> {
  const line = await r.waitLine((l) => l.includes('"listening"'));
  return JSON.parse(line) as { port: number; address: string };
}

describe('usage errors: one line, exit 2', () => {
  it.each([
    [['listen'], /listen needs --bind/],
    [['listen', '--bind', '127.0.0.1:0', '--bogus'], /unknown option --bogus/],
    [['listen', '--bind', 'nonsense'], /--bind must be HOST:PORT/],
    [['listen', '--bind', '127.0.0.1:99999'], /port must be 0-65535/],
    [['listen', '--bind', '127.0.0.1:0', '--discipline', 'fifo'], /--discipline must be one of winsock, held/],
    [['listen', '--bind', '127.0.0.1:0', '--budget-ms', 'abc'], /--budget-ms needs a whole number/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('%j', async (args, message) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('an unreadable script', async () => {
    const r = await runCli(['listen', '--bind', '127.0.0.1:0', '--script', path.join(dir, 'missing.js')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^accept-workbench: cannot read script '.*missing\.js': ENOENT$/);
  });

  it('a script that does not compile names file, line and column', async () => {
    const f = script('broken.js', 'export default (req) => {\n  return "accept"\n  let = ;\n};\n');
    const r = await runCli(['listen', '--bind', '127.0.0.1:0', '--script', f]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/broken\.js:3:\d+: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('SO_CONDITIONAL_ACCEPT where the stack has none', async () => {
    const r = await runCli(['listen', '--bind', '127.0.0.1:0', '--conditional-accept']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^accept-workbench: cannot listen on 127\.0\.0\.1:0: SO_CONDITIONAL_ACCEPT is a Winsock option/);
  });

  it('a port in use', async () => {
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as net.AddressInfo).port;
    const r = await runCli(['listen', '--bind', `127.0.0.1:${port}`]);
    server.close();
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`accept-workbench: cannot listen on 127.0.0.1:${port}: address already in use`);
  });
});

describe('listen --json', () => {
  it('decides with the script, prints listening / decision / log / error / summary lines, stops on SIGINT', async () => {
    const f = script('policy.js', [
      'export default function (req, ctx) {',
      '  ctx.state.n = (ctx.state.n ?? 0) + 1;',
      '  const text = new TextDecoder().decode(req.callerData);',
      '  if (req.callerData.length === 0) return "defer";',
      '  ctx.log("request", ctx.state.n, text);',
      '  if (text === "boom") throw new Error("bad data");',
      '  return text === "let me in" ? CF_ACCEPT : "reject";',
      '}',
    ].join('\n'));
    const r = startCli(['listen', '--bind', '127.0.0.1:0', '--script', f, '--json']);
    const { port } = await listening(r);
    const ok = await client(port, { send: 'let me in', expectBytes: 9 }).outcome;
    const no = await client(port, { send: 'go away' }).outcome;
    const boom = await client(port, { send: 'boom' }).outcome;
    expect(ok.received.toString()).toBe('let me in');
    expect(no.end).toBe('reset');
    expect(boom.end).toBe('reset'); // fallback: reject
    await r.waitLine((l) => l.includes('"decision"') && l.includes('"id":3'));
    r.child.kill('SIGINT');
    expect((await r.exited).code).toBe(0);
    const objs = jsonLines(r.lines);
    expect(objs[0]).toMatchObject({ type: 'listening', address: '127.0.0.1', port });
    const decisions = objs.filter((o) => o.type === 'decision');
    expect(decisions.map((d) => [d.id, d.verdict, d.by])).toEqual([[1, 'accept', 'script'], [2, 'reject', 'script'], [3, 'reject', 'fallback']]);
    for (const d of decisions) {
      expect(d).toHaveProperty('caller.address', '127.0.0.1');
      expect(typeof d.latencyUs).toBe('number');
      expect(d.attempts).toBeGreaterThanOrEqual(1);
    }
    expect(objs.filter((o) => o.type === 'log').map((o) => o.message)).toEqual([expect.stringMatching(/^request \d+ let me in$/), expect.stringMatching(/^request \d+ go away$/), expect.stringMatching(/^request \d+ boom$/)]);
    const err = objs.find((o) => o.type === 'error');
    expect(err).toMatchObject({ id: 3, code: 'throw', line: 6 });
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', accept: 1, reject: 2, expire: 0, withdraw: 0, error: 0, total: 3 });
  });

  it('without --script accepts everything; stops after --duration and expires what is still deferred', async () => {
    const r = startCli(['listen', '--bind', '127.0.0.1:0', '--json', '--duration', '1.5', '--handler', 'close']);
    const { port } = await listening(r);
    const out = await client(port).outcome;
    expect(out).toMatchObject({ connected: true, end: 'eof' });
    expect((await r.exited).code).toBe(0);
    const objs = jsonLines(r.lines);
    expect(objs.filter((o) => o.type === 'decision')).toEqual([expect.objectContaining({ verdict: 'accept', by: 'script', attempts: 1 })]);
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', accept: 1, total: 1, reason: 'duration' });
  });

  it('stops on SIGTERM with every pending request final: deferred ones expire', async () => {
    const f = script('defer.js', 'export default () => "defer";');
    const r = startCli(['listen', '--bind', '127.0.0.1:0', '--script', f, '--json', '--discipline', 'held']);
    const { port } = await listening(r);
    const a = client(port, { timeoutMs: 10_000 });
    const b = client(port, { timeoutMs: 10_000 });
    await sleep(200);
    r.child.kill('SIGTERM');
    expect((await r.exited).code).toBe(0);
    expect((await a.outcome).end).toBe('reset');
    expect((await b.outcome).end).toBe('reset');
    const objs = jsonLines(r.lines);
    expect(objs.filter((o) => o.type === 'decision').map((o) => o.verdict)).toEqual(['expire', 'expire']);
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', expire: 2, total: 2, reason: 'SIGTERM' });
  });
});

describe('listen on IPv6', () => {
  it('binds [::1] and reports IPv6 callers', async () => {
    const f = script('v6.js', 'export default (req) => req.caller.family === "ipv6" && req.callee.address === "::1" ? "accept" : "reject";');
    const r = startCli(['listen', '--bind', '[::1]:0', '--script', f, '--json', '--handler', 'close']);
    const { port, address } = await listening(r);
    expect(address).toBe('::1');
    expect((await client(port, { host: '::1' }).outcome).end).toBe('eof');
    await r.waitLine((l) => l.includes('"decision"'));
    r.child.kill('SIGINT');
    expect((await r.exited).code).toBe(0);
    const d = jsonLines(r.lines).find((o) => o.type === 'decision');
    expect(d).toMatchObject({ verdict: 'accept', caller: { address: '::1' } });
  });
});

describe('listen (readable output)', () => {
  it('prints readable lines', async () => {
    const r = startCli(['listen', '--bind', '127.0.0.1:0', '--handler', 'close']);
    const line = await r.waitLine((l) => l.startsWith('listening on '));
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
    await client(port).outcome;
    await r.waitLine((l) => l.startsWith('#1 '));
    r.child.kill('SIGINT');
    expect((await r.exited).code).toBe(0);
    expect(r.lines.find((l) => l.startsWith('#1 '))).toMatch(/^#1 127\.0\.0\.1:\d+ accept after 1 offer, \d+ µs, by script$/);
    expect(r.lines[r.lines.length - 1]).toMatch(/^summary: 1 requests: 1 accepted, 0 rejected, 0 expired, 0 withdrawn, 0 errors/);
  });
});

describe('listen --record', () => {
  it('writes a session file that validates against the schema and holds every event', async () => {
    const f = script('rec.js', 'export default (req) => req.attempt < 2 ? CF_DEFER : (req.caller.port % 2 ? "accept" : "reject");');
    const file = path.join(dir, 'session.jsonl');
    const r = startCli(['listen', '--bind', '127.0.0.1:0', '--script', f, '--json', '--record', file, '--handler', 'close']);
    const { port } = await listening(r);
    for (let i = 0; i < 6; i++) await client(port).outcome;
    await r.waitLine((l) => l.includes('"decision"') && l.includes('"id":6'));
    r.child.kill('SIGINT');
    expect((await r.exited).code).toBe(0);
    const check = validateSessionFile(file);
    expect(check.errors).toEqual([]);
    expect(check.ok).toBe(true);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'session', format: 'accept-workbench/session', version: 1, backend: 'posix' });
    expect(lines[1]).toMatchObject({ type: 'listener', port });
    expect(lines[2]).toMatchObject({ type: 'script', version: 1, filename: 'rec.js' });
    const offers = lines.filter((l) => l.type === 'offer');
    expect(offers.length).toBe(12);
    expect(offers[0]).toMatchObject({ id: 1, attempt: 1, verdict: 'defer', by: 'script', result: 'WSATRY_AGAIN', scriptVersion: 1 });
    const decisions = lines.filter((l) => l.type === 'decision');
    expect(decisions.length).toBe(6);
    for (const d of decisions) expect(d.attempts).toBe(2);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'end' });
    const times = lines.map((l) => l.t as number);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });
});
