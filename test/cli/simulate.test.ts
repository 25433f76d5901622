// `accept-workbench simulate` end to end: the real CLI against real listeners (the workbench's own
// `listen`, and a plain Node server) on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { jsonLines, killStrayClis, runCli, startCli, type Running } from '../helpers/cli';
import { scratchDir, writeIn } from '../helpers/scratch';
import { sleep } from '../helpers/net';

const dir = scratchDir('aw-simcli-');
afterEach(() => killStrayClis());

const script = (name: string, text: string): string => writeIn(dir, name, text);

/** Starts `listen --json` and returns its port. */
async function listen(args: string[]): Promise<{ r: Running; port: number }> {
  const r = startCli(['listen', '--bind', '127.0.0.1:0', '--json', ...args]);
  const line = await r.waitLine((l) => l.includes('"listening"'));
  return { r, port: (JSON.parse(line) as { port: number }).port };
}

/** Stops a `listen` and returns its decision lines. */
async function decisions(l: { r: Running }, expected: number): Promise<Array<Record<string, unknown>>> {
  if (expected > 0) await l.r.waitLine(() => jsonLines(l.r.lines).filter((o) => o.type === 'decision').length >= expected, 5000);
  l.r.child.kill('SIGINT');
  expect((await l.r.exited).code).toBe(0);
  return jsonLines(l.r.lines).filter((o) => o.type === 'decision');
}

interface Summary {
  type: string;
  count: number;
  connected: number;
  outcomes: Record<string, number>;
  connectMs: Record<string, number | null>;
  outcomeMs: Record<string, number | null>;
  elapsedMs: number;
  reason: string;
  cancelled: number;
}

async function simulate(args: string[]): Promise<{ summary: Summary; lines: Array<Record<string, unknown>>; stderr: string }> {
  const res = await runCli(['simulate', '--json', ...args], 10_000);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  const lines = jsonLines(res.stdout.split('\n'));
  const summary = lines[lines.length - 1] as unknown as Summary;
  expect(summary.type).toBe('summary');
  return { summary, lines, stderr: res.stderr };
}

const only = (outcomes: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(outcomes).filter(([, n]) => n > 0));

describe('simulate: argument errors are one line, exit 2', () => {
  it.each([
    [['simulate', '--count', '1'], /simulate needs --target HOST:PORT/],
    [['simulate', '--target', '127.0.0.1:7000'], /simulate needs --count N/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1000001'], /--count must be at most 1000000/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--fast-open'], /--fast-open sends the caller data in the SYN: give --data or --data-hex/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--sources', '10.0.0.1'], /'10\.0\.0\.1' is not a loopback address/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--sources', '::2'], /of IPv6 only ::1/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--sources', '::1'], /different address families/],
    [['simulate', '--target', '192.0.2.1:7000', '--count', '1', '--sources', '127.0.0.2'], /--sources needs a loopback --target/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--data', 'a', '--data-hex', '61'], /not both/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--data-hex', '6'], /--data-hex needs pairs of hex digits/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--abort-ratio', '2'], /--abort-ratio must be at most 1/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--concurrency', '0'], /--concurrency must be at least 1/],
    [['simulate', '--target', 'nowhere', '--count', '1'], /--target must be HOST:PORT/],
    [['simulate', '--target', '127.0.0.1:0', '--count', '1'], /port 0 cannot be connected to/],
    [['simulate', '--target', '127.0.0.1:7000', '--count', '1', '--bogus'], /unknown option --bogus/],
  ])('%j', async (args, message) => {
    const r = await runCli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^accept-workbench: simulate: /);
    expect(r.stderr).toMatch(message);
  });

  it('--help prints the usage', async () => {
    const r = await runCli(['simulate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: accept-workbench simulate --target HOST:PORT --count N/);
  });
});

describe('simulate against listeners that accept', () => {
  it('workbench listen, handler echo: every client is served its data back', async () => {
    const l = await listen([]);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '30', '--concurrency', '5', '--data', 'hello']);
    expect(summary).toMatchObject({ count: 30, connected: 30, bytesOut: 150, bytesIn: 150, reason: 'done' });
    expect(only(summary.outcomes)).toEqual({ served: 30 });
    for (const k of ['p50', 'p90', 'p99', 'max']) {
      expect(typeof summary.connectMs[k]).toBe('number');
      expect(typeof summary.outcomeMs[k]).toBe('number');
    }
    const d = await decisions(l, 30);
    expect(d.every((x) => x.verdict === 'accept')).toBe(true);
  });

  it('workbench listen with a script and handler close: EOF without data, reset with unread data', async () => {
    // Accept once data is there (or after 3 offers without): close(2) with the caller's bytes
    // unread sends a reset, not an end of stream.
    const f = script('accept.js', 'export default (req) => req.callerData.length || req.attempt >= 3 ? "accept" : "defer";');
    const l = await listen(['--script', f, '--handler', 'close', '--discipline', 'held']);
    const a = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '5']);
    expect(only(a.summary.outcomes)).toEqual({ eof: 5 });
    const b = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '5', '--data', 'hi']);
    expect(only(b.summary.outcomes)).toEqual({ reset: 5 });
    const d = await decisions(l, 10);
    expect(d.every((x) => x.verdict === 'accept')).toBe(true);
  });

  it('a plain Node echo server', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const { summary } = await simulate(['--target', `127.0.0.1:${port}`, '--count', '20', '--data-hex', '00ff10']);
      expect(only(summary.outcomes)).toEqual({ served: 20 });
      expect(summary).toMatchObject({ bytesOut: 60, bytesIn: 60 });
    } finally {
      server.close();
    }
  });

  it('--each prints one line per connection; --hold-ms keeps silent clients open', async () => {
    const l = await listen(['--handler', 'hold']);
    const { summary, lines } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '4', '--hold-ms', '100', '--each']);
    expect(only(summary.outcomes)).toEqual({ open: 4 });
    const each = lines.filter((o) => o.type === 'connection');
    expect(each.map((o) => o.index).sort()).toEqual([0, 1, 2, 3]);
    for (const o of each) {
      expect(o).toMatchObject({ outcome: 'open', connected: true, bytesOut: 0, bytesIn: 0, local: { address: '127.0.0.1' } });
      expect(o.outcomeMs as number).toBeGreaterThanOrEqual(100);
    }
    await decisions(l, 4);
  });
});

describe('simulate against listeners that refuse', () => {
  it('a script that rejects: the clients are reset', async () => {
    const f = script('reject.js', 'export default (req) => req.callerData.length ? "reject" : "defer";');
    const l = await listen(['--script', f, '--discipline', 'held']);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '10', '--data', 'let me in']);
    expect(only(summary.outcomes)).toEqual({ reset: 10 });
    expect(summary.connected).toBe(10);
    const d = await decisions(l, 10);
    expect(d.every((x) => x.verdict === 'reject')).toBe(true);
  });

  it('deferred forever: reset once the defer timeout expires', async () => {
    const f = script('defer.js', 'export default () => "defer";');
    const l = await listen(['--script', f, '--discipline', 'held', '--defer-timeout-ms', '200']);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '4', '--concurrency', '4']);
    expect(only(summary.outcomes)).toEqual({ reset: 4 });
    expect(summary.outcomeMs.p50!).toBeGreaterThanOrEqual(190);
    const d = await decisions(l, 4);
    expect(d.map((x) => x.verdict)).toEqual(['expire', 'expire', 'expire', 'expire']);
  });

  it('never accepted (winsock discipline, head deferred, backlog 1): connect times out', async () => {
    const f = script('defer.js', 'export default () => "defer";');
    const l = await listen(['--script', f, '--backlog', '1']);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '6', '--concurrency', '6', '--timeout-ms', '300']);
    expect(only(summary.outcomes)).toEqual({ timeout: 6 });
    // The head is taken and deferred, the kernel completes backlog+1 more; the rest get no SYN-ACK.
    expect(summary.connected).toBeGreaterThanOrEqual(1);
    expect(summary.connected).toBeLessThan(6);
    l.r.child.kill('SIGINT');
    expect((await l.r.exited).code).toBe(0);
  });

  it('nothing listening: refused', async () => {
    const server = net.createServer();
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((res) => server.close(() => res()));
    const { summary } = await simulate(['--target', `127.0.0.1:${port}`, '--count', '3']);
    expect(only(summary.outcomes)).toEqual({ refused: 3 });
    expect(summary.connectMs.p50).toBeNull();
  });
});

describe('simulate: withdrawal and sources', () => {
  it('--abort-ratio: that share of clients resets before a decision; the listener reports withdrawals', async () => {
    const f = script('wait.js', 'export default (req) => req.callerData.length ? "accept" : "defer";');
    const l = await listen(['--script', f, '--discipline', 'held']);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '10', '--abort-ratio', '0.5', '--data', 'HELLO']);
    expect(only(summary.outcomes)).toEqual({ served: 5, aborted: 5 });
    const d = await decisions(l, 10);
    const counts = d.reduce<Record<string, number>>((m, x) => ({ ...m, [String(x.verdict)]: (m[String(x.verdict)] ?? 0) + 1 }), {});
    expect(counts).toEqual({ accept: 5, withdraw: 5 });
    expect(d.filter((x) => x.verdict === 'withdraw').every((x) => x.by === 'system' && x.result === 'WSAECONNRESET')).toBe(true);
  });

  it('--sources: the listener sees the callers at the given addresses, in turn', async () => {
    const l = await listen(['--handler', 'close']);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '6', '--concurrency', '1', '--sources', '127.0.0.2-127.0.0.4']);
    expect(only(summary.outcomes)).toEqual({ eof: 6 });
    const d = await decisions(l, 6);
    expect(d.map((x) => (x.caller as { address: string }).address))
      .toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.2', '127.0.0.3', '127.0.0.4']);
  });

  it('--sources ::1 against an IPv6 listener', async () => {
    const r = startCli(['listen', '--bind', '[::1]:0', '--json', '--handler', 'close']);
    const port = (JSON.parse(await r.waitLine((x) => x.includes('"listening"'))) as { port: number }).port;
    const { summary } = await simulate(['--target', `[::1]:${port}`, '--count', '2', '--sources', '::1']);
    expect(only(summary.outcomes)).toEqual({ eof: 2 });
    const d = await decisions({ r }, 2);
    expect(d.map((x) => (x.caller as { address: string }).address)).toEqual(['::1', '::1']);
  });
});

describe('simulate: output, progress and stopping', () => {
  it('prints a readable table without --json', async () => {
    const l = await listen([]);
    const r = await runCli(['simulate', '--target', `127.0.0.1:${l.port}`, '--count', '5', '--data', 'x']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^simulated 5 of 5 connections to 127\\.0\\.0\\.1:${l.port} in \\d+\\.\\d\\d s, concurrency 10$`));
    expect(lines).toContain('  served           5  100.0%');
    expect(lines.find((x) => x.startsWith('  connect '))).toMatch(/^ {2}connect( +[\d.]+){4}$/);
    expect(lines.find((x) => x.startsWith('  outcome '))).toMatch(/^ {2}outcome( +[\d.]+){4}$/);
    await decisions(l, 5);
  });

  it('Ctrl-C stops with a partial report (exit 0); --progress reports on stderr', async () => {
    const l = await listen(['--handler', 'hold']);
    const s = startCli(['simulate', '--target', `127.0.0.1:${l.port}`, '--count', '100000', '--concurrency', '3', '--hold-ms', '250', '--progress', '--json']);
    // Wait for two progress lines (a slow start, e.g. under the sanitizers, must not matter).
    for (const until = Date.now() + 10_000; Date.now() < until && s.stderr().trim().split('\n').length < 2;) await sleep(50);
    s.child.kill('SIGINT');
    const { code } = await s.exited;
    expect(code).toBe(0);
    const summary = jsonLines(s.lines).find((o) => o.type === 'summary') as unknown as Summary & { requested: number; started: number };
    expect(summary.reason).toBe('SIGINT');
    expect(summary.requested).toBe(100000);
    expect(summary.count).toBeGreaterThanOrEqual(6);
    expect(summary.outcomes.open).toBe(summary.count);
    expect(summary.cancelled).toBe(3);
    expect(summary.started).toBe(summary.count + 3);
    const progress = s.stderr().trim().split('\n');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatch(/^simulate: \d+\/100000 done, 3 in flight, 0\.5 s/);
    l.r.child.kill('SIGINT');
    await l.r.exited;
  });

  it('--duration stops starting connections', async () => {
    const l = await listen([]);
    const { summary } = await simulate(['--target', `127.0.0.1:${l.port}`, '--count', '1000000', '--concurrency', '1', '--hold-ms', '50', '--duration', '0.3']);
    expect(summary.reason).toBe('duration');
    expect(summary.count).toBeGreaterThanOrEqual(3);
    expect(summary.count).toBeLessThanOrEqual(7);
    l.r.child.kill('SIGINT');
    await l.r.exited;
  });
});
