// `accept-workbench replay SESSION --live`: record a session with `listen --record`, then re-drive
// its callers against a second `listen` with another script and compare then and now.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { jsonLines, killStrayClis, runCli, startCli, type Running } from '../helpers/cli';
import { scratchDir, writeIn } from '../helpers/scratch';
import { client, sleep } from '../helpers/net';

const dir = scratchDir('aw-live-');
let session: string;
const recordedPorts = new Map<number, number>();

const script = (name: string, text: string): string => writeIn(dir, name, text);

async function listen(args: string[]): Promise<{ r: Running; port: number }> {
  const r = startCli(['listen', '--bind', '127.0.0.1:0', '--json', ...args]);
  const line = await r.waitLine((l) => l.includes('"listening"'));
  return { r, port: (JSON.parse(line) as { port: number }).port };
}

async function stop(l: { r: Running }): Promise<Array<Record<string, unknown>>> {
  l.r.child.kill('SIGINT');
  expect((await l.r.exited).code).toBe(0);
  return jsonLines(l.r.lines).filter((o) => o.type === 'decision');
}

// Accepts a caller that greets with HELLO, rejects others, waits (defers) until the caller speaks.
const HELLO = 'export default (req) => req.callerData.length === 0 ? "defer" : (new TextDecoder().decode(req.callerData).startsWith("HELLO") ? "accept" : "reject");';

/** A caller that connects and resets its own connection after `ms` without saying anything. */
function withdrawer(port: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => setTimeout(() => s.resetAndDestroy(), ms));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

beforeAll(async () => {
  session = path.join(dir, 'session.jsonl');
  const l = await listen(['--script', script('hello.js', HELLO), '--discipline', 'held', '--record', session]);
  // 1: greets at once (served), 2: says NOPE (reset), 3: greets after 150 ms (served),
  // 4: goes away after 100 ms without a word (withdrawn).
  const one = client(l.port, { send: 'HELLO 1', expectBytes: 7 }).outcome;
  await sleep(50);
  const two = client(l.port, { send: 'NOPE' }).outcome;
  await sleep(50);
  const three = client(l.port, { send: 'HELLO 3', sendAfterMs: 150, expectBytes: 7 }).outcome;
  await sleep(50);
  const four = withdrawer(l.port, 100);
  const outcomes = await Promise.all([one, two, three]);
  await four;
  expect(outcomes.map((o) => o.received.toString() || o.end)).toEqual(['HELLO 1', 'reset', 'HELLO 3']);
  await l.r.waitLine(() => jsonLines(l.r.lines).filter((o) => o.type === 'decision').length === 4);
  const d = await stop(l);
  expect(d.map((x) => [x.id, x.verdict])).toEqual(expect.arrayContaining([[1, 'accept'], [2, 'reject'], [3, 'accept'], [4, 'withdraw']]));
  for (const x of d) recordedPorts.set(x.id as number, (x.caller as { port: number }).port);
});
afterEach(() => killStrayClis());

interface RequestLine {
  id: number;
  caller: { address: string; port: number };
  source: { address: string; port: number };
  atMs: number;
  recorded: string;
  then: string;
  now: string;
  differs: boolean;
  portChanged?: boolean;
}

async function replay(port: number, extra: string[] = []) {
  const r = await runCli(['replay', session, '--live', '--target', `127.0.0.1:${port}`, '--json', '--timeout-ms', '400', ...extra], 15_000);
  const lines = jsonLines(r.stdout.split('\n'));
  const requests = lines.filter((o) => o.type === 'request') as unknown as RequestLine[];
  const byId = new Map(requests.map((q) => [q.id, q]));
  return { ...r, requests, byId, summary: lines[lines.length - 1] };
}

describe('replay --live', () => {
  it('against a script that accepts every greeting: the rejected caller is served now; exit 1', async () => {
    const all = script('all.js', 'export default (req) => req.callerData.length === 0 ? "defer" : "accept";');
    const l = await listen(['--script', all, '--discipline', 'held']);
    const res = await replay(l.port);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(1);
    expect(res.requests.map((q) => q.id)).toEqual([1, 2, 3, 4]);
    expect(res.requests.map((q) => [q.id, q.recorded, q.then, q.now, q.differs])).toEqual([
      [1, 'accept', 'served', 'served', false],
      [2, 'reject', 'reset', 'served', true],
      [3, 'accept', 'served', 'served', false],
      [4, 'withdraw', 'aborted', 'aborted', false],
    ]);
    expect(res.summary).toMatchObject({
      type: 'summary', requests: 4, replayed: 4, compared: 4, same: 3, differ: 1, unknown: 0,
      changes: { 'reset->served': 1 }, speed: 1, reason: 'done',
    });
    // One recorded caller address → 127.0.0.2; the recorded ports are kept when free.
    for (const q of res.requests) {
      expect(q.caller).toEqual({ address: '127.0.0.1', port: recordedPorts.get(q.id) });
      expect(q.source.address).toBe('127.0.0.2');
      if (!q.portChanged) expect(q.source.port).toBe(q.caller.port);
    }
    // Same order and relative timing (speed 1).
    const at = res.requests.map((q) => q.atMs);
    expect(at[3] - at[0]).toBeGreaterThanOrEqual(120);
    const d = await stop(l);
    expect(d.map((x) => [x.verdict, (x.caller as { address: string }).address]).sort()).toEqual([
      ['accept', '127.0.0.2'], ['accept', '127.0.0.2'], ['accept', '127.0.0.2'], ['withdraw', '127.0.0.2'],
    ]);
    // The late greeting arrives late again: the listener deferred it several times first.
    const three = d.find((x) => (x.caller as { port: number }).port === recordedPorts.get(3));
    if (three) expect(three.attempts as number).toBeGreaterThan(2);
  });

  it('against the same script: nothing differs; exit 0; readable output', async () => {
    const l = await listen(['--script', script('hello2.js', HELLO), '--discipline', 'held']);
    const r = await runCli(['replay', session, '--live', '--target', `127.0.0.1:${l.port}`, '--timeout-ms', '400'], 15_000);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^#1 127\.0\.0\.1:\d+ as 127\.0\.0\.2:\d+ at \+\d+\.\d ms: then served \(accept\), now served {2}same$/);
    expect(lines[1]).toMatch(/^#2 .* then reset \(reject\), now reset \(ECONNRESET\) {2}same$/);
    expect(lines[3]).toMatch(/^#4 .* then aborted \(withdraw\), now aborted {2}same$/);
    expect(lines[4]).toBe(`replayed 4 of 4 requests against 127.0.0.1:${l.port} at speed 1: 4 same, 0 differ, 0 unknown`);
    const d = await stop(l);
    expect(d.map((x) => x.verdict).sort()).toEqual(['accept', 'accept', 'reject', 'withdraw']);
  });

  it('against a listener that defers everything and expires fast: served callers are reset now; --speed 5', async () => {
    const never = script('never.js', 'export default () => "defer";');
    const l = await listen(['--script', never, '--discipline', 'held', '--defer-timeout-ms', '250']);
    const res = await replay(l.port, ['--speed', '5']);
    expect(res.code).toBe(1);
    expect(res.requests.map((q) => [q.id, q.then, q.now])).toEqual([
      [1, 'served', 'reset'], [2, 'reset', 'reset'], [3, 'served', 'reset'], [4, 'aborted', 'aborted'],
    ]);
    expect(res.summary).toMatchObject({ same: 2, differ: 2, changes: { 'served->reset': 2 }, speed: 5 });
    const at = res.requests.map((q) => q.atMs);
    expect(at[3] - at[0]).toBeLessThan(100); // ~150 ms recorded, five times faster
    const d = await stop(l);
    expect(d.map((x) => x.verdict).sort()).toEqual(['expire', 'expire', 'expire', 'withdraw']);
  });

  it('nothing listening: every caller is refused now', async () => {
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((res) => server.close(() => res()));
    const res = await replay(port, ['--speed', '10']);
    expect(res.code).toBe(1);
    expect(res.requests.every((q) => q.now === 'refused' && q.differs)).toBe(true);
  });

  it('Ctrl-C stops with the report so far', async () => {
    const never = script('never2.js', 'export default () => "defer";');
    const l = await listen(['--script', never, '--discipline', 'held']);
    const r = startCli(['replay', session, '--live', '--target', `127.0.0.1:${l.port}`, '--json', '--timeout-ms', '10000']);
    // Request 4 withdraws at ~250 ms (the listener reports it); 1-3 wait for an answer that never comes.
    await l.r.waitLine((line) => line.includes('"withdraw"'));
    await sleep(100);
    r.child.kill('SIGINT');
    const { code } = await r.exited;
    expect(code).toBe(0);
    const objs = jsonLines(r.lines);
    expect(objs.filter((o) => o.type === 'request').map((o) => [o.id, o.then, o.now])).toEqual([[4, 'aborted', 'aborted']]);
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', requests: 4, replayed: 1, same: 1, differ: 0, cancelled: 3, reason: 'SIGINT' });
    await stop(l);
  });

  it('says once that Fast Open data is sent with Fast Open again', async () => {
    const syn = path.join(dir, 'syn.jsonl');
    fs.writeFileSync(syn, fs.readFileSync(session, 'utf8').replaceAll('"callerDataSource":"peek"', '"callerDataSource":"syn"'));
    const l = await listen(['--script', script('hello3.js', HELLO), '--discipline', 'held']);
    const r = await runCli(['replay', syn, '--live', '--target', `127.0.0.1:${l.port}`, '--timeout-ms', '400', '--speed', '10'], 15_000);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      'accept-workbench: replay: 3 request(s) had caller data in a Fast Open SYN; they send it with Fast Open again (in the SYN once the kernel holds the listener\'s cookie, and where net.ipv4.tcp_fastopen allows)',
    ]);
    await stop(l);
  });
});

describe('replay --live: bad files and arguments exit 2 with one line', () => {
  it.each([
    [['replay', 'x.jsonl', '--live'], /^accept-workbench: replay: replay --live needs --target HOST:PORT$/],
    [['replay', '--live', '--target', '127.0.0.1:7000'], /needs a SESSION file/],
    [['replay', 'x.jsonl', '--live', '--target', '192.0.2.1:7000'], /--target must be a loopback address/],
    [['replay', 'x.jsonl', '--live', '--target', '127.0.0.1:7000', '--speed', '0'], /--speed must be at least 0\.001/],
    [['replay', 'a', 'b', '--live', '--target', '127.0.0.1:7000'], /unexpected argument 'b'/],
  ])('%j', async (args, message) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });

  it('a missing file', async () => {
    const r = await runCli(['replay', path.join(dir, 'missing.jsonl'), '--live', '--target', '127.0.0.1:7000']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^accept-workbench: cannot read session file '.*missing\.jsonl': ENOENT$/);
  });

  it('a malformed file names the line and field', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    const lines = fs.readFileSync(session, 'utf8').split('\n');
    const i = lines.findIndex((x) => x.includes('"type":"decision"'));
    lines[i] = lines[i].replace(/"verdict":"[a-z]+"/, '"verdict":"maybe"');
    fs.writeFileSync(bad, lines.join('\n'));
    const r = await runCli(['replay', bad, '--live', '--target', '127.0.0.1:7000']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`accept-workbench: bad.jsonl:${i + 1}: field "verdict": must be one of accept, reject, expire, withdraw, error`);
  });
});
