// `accept-workbench inspect` end to end: a session recorded by a real `listen`, and small
// hand-written ones for the edge cases.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { client, sleep } from '../helpers/net';
import { killStrayClis, runCli, startCli } from '../helpers/cli';
import { scratchDir, writeIn } from '../helpers/scratch';

const dir = scratchDir('aw-inspect-');
afterEach(() => killStrayClis());

const file = (name: string, text: string): string => writeIn(dir, name, text);

const POLICY = [
  'export default (req) => {',
  '  if (req.callerData.length === 0) return "defer";',
  '  const text = new TextDecoder().decode(req.callerData);',
  '  if (text === "bad-4") throw new Error("no");',
  '  return text.startsWith("ok") ? "accept" : "reject";',
  '};',
].join('\n');
const CALLERS = ['ok-1', 'no-2', 'ok-3', 'bad-4', 'ok-5'];

let recording: string;
let records: Array<Record<string, any>>;

beforeAll(async () => {
  recording = path.join(dir, 'session.jsonl');
  const policy = file('policy.js', POLICY);
  const r = startCli(['listen', '--bind', '127.0.0.1:0', '--script', policy, '--json', '--record', recording, '--handler', 'echo']);
  const { port } = JSON.parse(await r.waitLine((l) => l.includes('"listening"'))) as { port: number };
  for (const text of CALLERS) {
    // Accepted callers get their bytes echoed and then close; rejected ones are reset.
    await client(port, { send: text, expectBytes: text.startsWith('ok') ? text.length : undefined, timeoutMs: 2000 }).outcome;
  }
  await r.waitLine((l) => l.includes('"decision"') && l.includes(`"id":${CALLERS.length}`));
  await sleep(200); // let the echo handlers see their callers close
  r.child.kill('SIGINT');
  expect((await r.exited).code).toBe(0);
  records = fs.readFileSync(recording, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}, 30_000);

function nearestRank(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

describe('inspect of a real recording', () => {
  it('--json: one object with everything', async () => {
    const r = await runCli(['inspect', recording, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, any>;
    const listener = records.find((x) => x.type === 'listener')!;
    const decisions = records.filter((x) => x.type === 'decision');
    const latencies = decisions.map((d) => d.latencyUs as number);
    const deferred = new Set(records.filter((x) => x.type === 'offer' && x.verdict === 'defer').map((x) => x.id));
    expect(s).toMatchObject({
      type: 'inspect',
      file: 'session.jsonl',
      header: { platform: process.platform, backend: 'posix' },
      complete: true,
      endReason: 'SIGINT',
      listeners: [{ id: 1, address: '127.0.0.1', port: listener.port, discipline: 'winsock', handler: 'echo', fallback: 'reject', budgetMs: 20, deferTimeoutMs: 30000, reofferMs: 5 }],
      scripts: [{ listener: 1, version: 1, filename: 'policy.js', hash: createHash('sha256').update(POLICY).digest('hex').slice(0, 12) }],
      requests: 5,
      unfinished: 0,
      offers: records.filter((x) => x.type === 'offer').length,
      verdicts: { accept: 3, reject: 2, expire: 0, withdraw: 0, error: 0 },
      deciders: { script: 4, fallback: 1, person: 0, default: 0, system: 0 },
      latencyUs: { p50: nearestRank(latencies, 50), p90: nearestRank(latencies, 90), p99: nearestRank(latencies, 99), max: Math.max(...latencies) },
      defers: {
        meanAttempts: Math.round((decisions.reduce((a, d) => a + d.attempts, 0) / 5) * 100) / 100,
        maxAttempts: Math.max(...decisions.map((d) => d.attempts as number)),
        deferredRequests: deferred.size,
        deferredShare: deferred.size / 5,
      },
      errors: { total: 1, byCode: { throw: 1 } },
      handlers: { connections: 3, bytesIn: 12, bytesOut: 12 },
      warnings: [],
    });
    expect(s.handlers.resets + s.handlers.closes + s.handlers.localCloses).toBe(3);
  });

  it('readable report', async () => {
    const r = await runCli(['inspect', recording]);
    expect(r.code).toBe(0);
    const port = records.find((x) => x.type === 'listener')!.port as number;
    expect(r.stdout).toMatch(/^session session\.jsonl: started \S+ on linux\/\w+ \(posix backend, workbench [\d.]+\), [\d.]+ s, closed \(SIGINT\)\n/);
    expect(r.stdout).toContain(`listeners: 1\n  1: 127.0.0.1:${port} winsock discipline, handler echo, fallback reject, budget 20 ms, defer timeout 30000 ms, re-offer 5 ms\n`);
    expect(r.stdout).toMatch(/scripts: 1\n {2}listener 1 version 1: policy\.js \(sha256 [0-9a-f]{12}…\)\n/);
    expect(r.stdout).toContain('  verdicts: 3 accept, 2 reject, 0 expire, 0 withdraw, 0 error\n');
    expect(r.stdout).toContain('  decided by: 4 script, 1 fallback, 0 person, 0 default, 0 system\n');
    expect(r.stdout).toMatch(/latency: p50 [\d,]+ µs, p90 [\d,]+ µs, p99 [\d,]+ µs, max [\d,]+ µs\n/);
    expect(r.stdout).toContain('errors: 1 (throw 1)\n');
    expect(r.stdout).toMatch(/handlers: 3 connections ended, 12 bytes in, 12 bytes out, /);
  });

  it('--csv writes one row per request', async () => {
    const csv = path.join(dir, 'requests.csv');
    const r = await runCli(['inspect', recording, '--csv', csv]);
    expect(r.code).toBe(0);
    const text = fs.readFileSync(csv, 'utf8');
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = text.slice(0, -2).split('\r\n').map((l) => l.split(','));
    expect(rows[0]).toEqual(['listener', 'id', 'caller_address', 'caller_port', 'arrival_ms', 'final_ms', 'verdict', 'by', 'attempts',
      'latency_us', 'caller_data_bytes', 'caller_data_source', 'result']);
    const decisions = records.filter((x) => x.type === 'decision');
    expect(rows).toHaveLength(1 + decisions.length);
    decisions.forEach((d, i) => {
      const row = rows[i + 1]!;
      expect(row).toEqual([
        '1', String(d.id), '127.0.0.1', String(d.caller.port), expect.any(String), String(d.t), d.verdict, d.by, String(d.attempts),
        String(d.latencyUs), String(CALLERS[d.id - 1]!.length), 'peek', d.result,
      ]);
      expect(Number(row[4])).toBeCloseTo(d.t - d.latencyUs / 1000, 3);
    });
  });
});

describe('inspect of hand-written sessions', () => {
  const header = '{"type":"session","format":"accept-workbench/session","version":1,"t":0,"startTime":"2026-01-01T00:00:00.000Z","platform":"linux","arch":"x64","backend":"posix","appVersion":"0.1.0","nodeVersion":"20.20.2"}';
  const listener = '{"type":"listener","t":1,"listener":1,"address":"::1","port":40000,"options":{"bind":"::1","port":0,"backlog":16,"discipline":"held","handler":"hold","fallback":"defer","budgetMs":5,"deferTimeoutMs":1000,"reofferMs":50,"deferAcceptS":0,"fastOpen":false}}';
  const offer = (t: number, id: number, attempt: number, verdict: string, address = '::1', data = '') =>
    `{"type":"offer","t":${t},"listener":1,"id":${id},"attempt":${attempt},"caller":{"family":"ipv6","address":${JSON.stringify(address)},"port":5000${id},"raw":""},"callee":{"family":"ipv6","address":"::1","port":40000,"raw":""},"callerData":"${Buffer.from(data).toString('base64')}","callerDataSource":"${data ? 'syn' : 'none'}","sqos":null,"gqos":null,"verdict":"${verdict}","by":"script","conditionUs":3,"result":"OK","scriptVersion":null}`;
  const decision = (t: number, id: number, verdict: string, attempts: number, latencyUs: number, by: string, address = '::1') =>
    `{"type":"decision","t":${t},"listener":1,"id":${id},"caller":{"address":${JSON.stringify(address)},"port":5000${id}},"verdict":"${verdict}","attempts":${attempts},"latencyUs":${latencyUs},"by":"${by}","result":"OK"}`;

  it('CSV fields are quoted as RFC 4180 asks; requests never decided get empty final fields', async () => {
    const odd = 'host,"one"';
    const f = file('odd.jsonl', [
      header, listener,
      offer(10, 1, 1, 'defer', odd, 'hey'), offer(60, 1, 2, 'accept', odd, 'hey!'), decision(60.5, 1, 'accept', 2, 50_500, 'script', odd),
      offer(70, 2, 1, 'defer'),
    ].join('\n') + '\n');
    const csv = path.join(dir, 'odd.csv');
    const r = await runCli(['inspect', f, '--csv', csv, '--json']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(csv, 'utf8').split('\r\n').slice(1)).toEqual([
      '1,1,"host,""one""",50001,10,60.5,accept,script,2,50500,4,syn,OK',
      '1,2,::1,50002,70,,,,1,,0,none,',
      '',
    ]);
    const s = JSON.parse(r.stdout) as Record<string, any>;
    expect(s).toMatchObject({ complete: false, endReason: null, requests: 2, unfinished: 1, defers: { meanAttempts: 2, maxAttempts: 2, deferredRequests: 1, deferredShare: 1 } });
  });

  it('a session without requests', async () => {
    const r = await runCli(['inspect', file('empty.jsonl', `${header}\n${listener}\n`), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      requests: 0, latencyUs: { p50: null, p90: null, p99: null, max: null }, defers: { meanAttempts: null, maxAttempts: 0, deferredShare: null },
    });
    const human = await runCli(['inspect', path.join(dir, 'empty.jsonl')]);
    expect(human.stdout).toContain('latency: p50 n/a, p90 n/a, p99 n/a, max n/a');
  });

  it('a cut-short last line is a warning', async () => {
    const f = file('cut.jsonl', `${header}\n${listener}\n${offer(10, 1, 1, 'accept')}\n${decision(10.2, 1, 'accept', 1, 200, 'script').slice(0, 40)}`);
    const r = await runCli(['inspect', f, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('accept-workbench: warning: cut.jsonl: line 4 is cut short (file truncated?); ignored\n');
    expect(JSON.parse(r.stdout)).toMatchObject({ requests: 1, unfinished: 1, warnings: ['line 4 is cut short (file truncated?); ignored'] });
  });

  it('a malformed file: one line naming line and field, exit 2, no CSV left behind', async () => {
    const f = file('bad.jsonl', `${header}\n${listener}\n${offer(10, 1, 1, 'accept').replace('"attempt":1', '"attempt":0')}\n`);
    const csv = path.join(dir, 'bad.csv');
    const r = await runCli(['inspect', f, '--csv', csv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('accept-workbench: bad.jsonl:3: field "attempt": must be an integer of at least 1\n');
    expect(r.stdout).toBe('');
    expect(fs.existsSync(csv)).toBe(false);
  });
});

describe('inspect: bad arguments, exit 2', () => {
  it.each([
    [[], /^accept-workbench: inspect: inspect needs a SESSION file \(see accept-workbench inspect --help\)$/],
    [['s.jsonl', '--csv'], /^accept-workbench: inspect: option --csv needs a value \(see accept-workbench inspect --help\)$/],
    [['s.jsonl', '--script', 'x.js'], /^accept-workbench: inspect: unknown option --script \(see accept-workbench inspect --help\)$/],
    [['a.jsonl', 'b.jsonl'], /^accept-workbench: inspect: unexpected argument 'b.jsonl' \(see accept-workbench inspect --help\)$/],
  ])('%j', async (args, message) => {
    const r = await runCli(['inspect', ...(args as string[])]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
  });

  it('a missing session file, an unwritable CSV file', async () => {
    const missing = path.join(dir, 'missing.jsonl');
    let r = await runCli(['inspect', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`accept-workbench: cannot read session file '${missing}': ENOENT\n`);
    const csv = path.join(dir, 'no-such-dir', 'x.csv');
    r = await runCli(['inspect', recording, '--csv', csv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`accept-workbench: cannot write CSV file '${csv}': ENOENT\n`);
  });
});
