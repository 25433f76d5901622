// `accept-workbench replay` end to end: sessions recorded by a real `listen` with real loopback
// clients, replayed by the real binary against other scripts.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { client } from '../helpers/net';
import { jsonLines, killStrayClis, runCli, startCli } from '../helpers/cli';
import { scratchDir, writeIn } from '../helpers/scratch';

const dir = scratchDir('aw-replay-');
afterEach(() => killStrayClis());

const file = (name: string, text: string): string => writeIn(dir, name, text);

// The recording's policy: wait for the first bytes, accept "ok-..." callers, reject the rest.
const RECORDED_POLICY = [
  'export default (req) => {',
  '  if (req.callerData.length === 0) return "defer";',
  '  return new TextDecoder().decode(req.callerData).startsWith("ok") ? "accept" : "reject";',
  '};',
].join('\n');
const CALLERS = ['ok-1', 'no-2', 'ok-3', 'bad-4', 'ok-5'];

let recording: string;
let recordingLines: string[];

beforeAll(async () => {
  recording = path.join(dir, 'session.jsonl');
  const policy = file('recorded.js', RECORDED_POLICY);
  const r = startCli(['listen', '--bind', '127.0.0.1:0', '--script', policy, '--json', '--record', recording, '--handler', 'close']);
  const { port } = JSON.parse(await r.waitLine((l) => l.includes('"listening"'))) as { port: number };
  // One after the other, so that request ids follow CALLERS.
  for (const text of CALLERS) await client(port, { send: text }).outcome;
  await r.waitLine((l) => l.includes('"decision"') && l.includes(`"id":${CALLERS.length}`));
  r.child.kill('SIGINT');
  expect((await r.exited).code).toBe(0);
  recordingLines = fs.readFileSync(recording, 'utf8').split('\n').filter((l) => l !== '');
}, 30_000);

describe('replay of a real recording', () => {
  it('the recording script changes nothing: exit 0, only the summary', async () => {
    const r = await runCli(['replay', recording, '--script', file('same.js', RECORDED_POLICY), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const objs = jsonLines(r.stdout.split('\n'));
    expect(objs).toHaveLength(1);
    expect(objs[0]).toMatchObject({ type: 'summary', requests: 5, same: 5, changed: 0, unfinished: 0, errors: 0 });
    expect(typeof objs[0]!.elapsedMs).toBe('number');
    expect(typeof objs[0]!.requestsPerSecond).toBe('number');
  });

  it('another script: exactly the requests whose verdict changes, exit 1', async () => {
    const policy = file('other.js', [
      'export default (req) => {',
      '  if (req.callerData.length === 0) return "defer";',
      '  const text = new TextDecoder().decode(req.callerData);',
      '  return text === "no-2" || (text.startsWith("ok") && text !== "ok-3") ? "accept" : "reject";',
      '};',
    ].join('\n'));
    const r = await runCli(['replay', recording, '--script', policy, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const objs = jsonLines(r.stdout.split('\n'));
    const changed = objs.filter((o) => o.type === 'changed');
    expect(changed.map((o) => o.id)).toEqual([2, 3]);
    const decisions = recordingLines.map((l) => JSON.parse(l) as Record<string, any>).filter((o) => o.type === 'decision');
    for (const c of changed) {
      const d = decisions.find((x) => x.id === c.id)!;
      expect(c).toEqual({
        type: 'changed', listener: 1, id: d.id, caller: d.caller,
        recorded: { verdict: d.verdict, by: 'script', attempts: d.attempts },
        now: { verdict: d.verdict === 'accept' ? 'reject' : 'accept', by: 'script', attempts: d.attempts },
      });
    }
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', requests: 5, same: 3, changed: 2, errors: 0 });
  });

  it('readable output: one line per changed request and a summary', async () => {
    const r = await runCli(['replay', recording, '--script', file('all.js', 'export default () => "accept";')]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    const port2 = (JSON.parse(recordingLines.find((l) => l.includes('"decision"') && l.includes('"id":2,'))!) as { caller: { port: number } }).caller.port;
    expect(lines).toHaveLength(3); // no-2 and bad-4 change, then the summary
    expect(lines[0]).toBe(`#2 127.0.0.1:${port2} recorded reject (script) → now accept (script)`);
    expect(lines[1]).toMatch(/^#4 127\.0\.0\.1:\d+ recorded reject \(script\) → now accept \(script\)$/);
    expect(lines[2]).toMatch(/^replay: 5 requests: 3 same, 2 changed; 0 script errors; \d+ offers \(0 beyond the recorded ones\); [\d.]+ s, [\d,]+ requests\/s$/);
  });

  it('script errors are reported with their position and give the fallback verdict', async () => {
    const policy = file('throws.js', [
      'export default (req) => {',
      '  if (req.callerData.length === 0) return "defer";',
      '  const text = new TextDecoder().decode(req.callerData);',
      '  if (text === "bad-4") throw new Error("cannot decide " + text);',
      '  return text.startsWith("ok") ? "accept" : "reject";',
      '};',
    ].join('\n'));
    const r = await runCli(['replay', recording, '--script', policy, '--json']);
    expect(r.code).toBe(0); // the fallback (reject) is what the recording has
    const objs = jsonLines(r.stdout.split('\n'));
    expect(objs.filter((o) => o.type === 'error')).toEqual([
      expect.objectContaining({ type: 'error', listener: 1, id: 4, code: 'throw', message: expect.stringContaining('cannot decide bad-4'), line: 4, column: expect.any(Number) }),
    ]);
    expect(objs[objs.length - 1]).toMatchObject({ type: 'summary', same: 5, changed: 0, errors: 1 });
  });

  it('a file whose last line is cut short loads with a warning', async () => {
    const text = recordingLines.join('\n');
    const cut = file('cut.jsonl', text.slice(0, text.length - 10)); // into the end record
    const r = await runCli(['replay', cut, '--script', file('same2.js', RECORDED_POLICY), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`accept-workbench: warning: cut.jsonl: line ${recordingLines.length} is cut short (file truncated?); ignored\n`);
    expect(jsonLines(r.stdout.split('\n')).pop()).toMatchObject({ type: 'summary', requests: 5, same: 5 });
  });
});

describe('replay of a hand-written session', () => {
  it('names the listener when the session has more than one; defers past the recording expire', async () => {
    const header = '{"type":"session","format":"accept-workbench/session","version":1,"t":0,"startTime":"2026-01-01T00:00:00.000Z","platform":"linux","arch":"x64","backend":"posix","appVersion":"0.1.0","nodeVersion":"20.20.2"}';
    const listener = (id: number) => `{"type":"listener","t":1,"listener":${id},"address":"127.0.0.1","port":${40000 + id},"options":{"bind":"127.0.0.1","port":0,"backlog":16,"discipline":"held","handler":"close","fallback":"reject","budgetMs":20,"deferTimeoutMs":50,"reofferMs":10,"deferAcceptS":0,"fastOpen":false}}`;
    const offer = (t: number, l: number, id: number) => `{"type":"offer","t":${t},"listener":${l},"id":${id},"attempt":1,"caller":{"family":"ipv6","address":"::1","port":5000${id},"raw":""},"callee":{"family":"ipv6","address":"::1","port":40000,"raw":""},"callerData":"","callerDataSource":"none","sqos":null,"gqos":null,"verdict":"accept","by":"script","conditionUs":3,"result":"OK","scriptVersion":null}`;
    const decision = (t: number, l: number, id: number) => `{"type":"decision","t":${t},"listener":${l},"id":${id},"caller":{"address":"::1","port":5000${id}},"verdict":"accept","attempts":1,"latencyUs":100,"by":"script","result":"OK"}`;
    const f = file('two.jsonl', [header, listener(1), listener(2), offer(10, 1, 1), decision(10.1, 1, 1), offer(11, 2, 1), decision(11.1, 2, 1),
      '{"type":"end","t":500,"reason":"stopped","counts":{"accept":2,"reject":0,"expire":0,"withdraw":0,"error":0},"offers":2}'].join('\n') + '\n');
    const r = await runCli(['replay', f, '--script', file('l2.js', 'export default (req) => req.listener.id === 2 ? "defer" : "accept";')]);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe('listener 2 #1 [::1]:50001 recorded accept (script) → now expire (system)');
    // Offers at 11, then every 10 ms until the expiry at 11.1 - 0.1 + 50 = 61: 21, 31, 41, 51.
    const json = await runCli(['replay', f, '--script', path.join(dir, 'l2.js'), '--json']);
    expect(jsonLines(json.stdout.split('\n'))).toEqual([
      { type: 'changed', listener: 2, id: 1, caller: { address: '::1', port: 50001 }, recorded: { verdict: 'accept', by: 'script', attempts: 1 }, now: { verdict: 'expire', by: 'system', attempts: 5 } },
      expect.objectContaining({ type: 'summary', requests: 2, same: 1, changed: 1, offers: 6, syntheticOffers: 4 }),
    ]);
  });
});

describe('bad input: one line on stderr, exit 2', () => {
  const firstDecision = (): number => recordingLines.findIndex((l) => l.includes('"type":"decision"'));
  const ok = () => file('ok.js', 'export default () => "accept";');

  it.each([
    [[], /^accept-workbench: replay: replay needs a SESSION file \(see accept-workbench replay --help\)$/],
    [['s.jsonl'], /^accept-workbench: replay: replay needs --script FILE \(see accept-workbench replay --help\)$/],
    [['s.jsonl', '--script'], /^accept-workbench: replay: option --script needs a value \(see accept-workbench replay --help\)$/],
    [['s.jsonl', '--script', 'x.js', '--speed', '2'], /^accept-workbench: replay: unknown option --speed \(see accept-workbench replay --help\)$/],
    [['a.jsonl', 'b.jsonl', '--script', 'x.js'], /^accept-workbench: replay: unexpected argument 'b.jsonl' \(see accept-workbench replay --help\)$/],
    [['s.jsonl', '--script', 'x.js', '--json=yes'], /^accept-workbench: replay: option --json takes no value \(see accept-workbench replay --help\)$/],
  ])('arguments %j', async (args, message) => {
    const r = await runCli(['replay', ...(args as string[])]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a session file that does not exist', async () => {
    const missing = path.join(dir, 'missing.jsonl');
    const r = await runCli(['replay', missing, '--script', ok()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`accept-workbench: cannot read session file '${missing}': ENOENT\n`);
  });

  it('a script that cannot be read, or does not compile', async () => {
    const missing = path.join(dir, 'nope.js');
    let r = await runCli(['replay', recording, '--script', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`accept-workbench: cannot read script '${missing}': ENOENT\n`);
    const broken = file('broken.js', 'export default (req) => {\n  return "accept"\n  let = ;\n};\n');
    r = await runCli(['replay', recording, '--script', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^accept-workbench: ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: SyntaxError`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it.each([
    ['not a session file', () => '{"hello":"world"}\n', 'x.jsonl:1: field "type": the first line must be the session header (type "session"), not no type'],
    ['an unknown version', () => recordingLines[0]!.replace('"version":1', '"version":7') + '\n',
      'x.jsonl:1: field "version": unsupported session format version 7; this build reads version 1'],
    ['a bad field in the middle', () => recordingLines.map((l, i) => (i === firstDecision() ? l.replace(/"verdict":"(\w+)"/, '"verdict":"perhaps"') : l)).join('\n') + '\n',
      () => `x.jsonl:${firstDecision() + 1}: field "verdict": must be one of accept, reject, expire, withdraw, error`],
    ['a line that is not JSON', () => [...recordingLines.slice(0, 3), '{"type":"offer",', ...recordingLines.slice(3)].join('\n') + '\n',
      'x.jsonl:4: not valid JSON'],
    ['an offer of a listener that was never started', () => recordingLines.filter((l) => !l.includes('"type":"listener"')).join('\n') + '\n',
      'x.jsonl:3: field "listener": no listener 1 was started before this line'],
  ])('%s', async (_what, text, message) => {
    const r = await runCli(['replay', file('x.jsonl', text()), '--script', ok()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`accept-workbench: ${typeof message === 'string' ? message : message()}`);
    expect(r.stderr.startsWith('accept-workbench: x.jsonl:')).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).not.toMatch(/"summary"/);
  });
});

describe('long replays', () => {
  // A synthetic session of N requests, each offered once and accepted.
  function bigSession(n: number): string {
    const lines = [
      '{"type":"session","format":"accept-workbench/session","version":1,"t":0,"startTime":"2026-01-01T00:00:00.000Z","platform":"linux","arch":"x64","backend":"posix","appVersion":"0.1.0","nodeVersion":"20.20.2"}',
      '{"type":"listener","t":1,"listener":1,"address":"127.0.0.1","port":40000,"options":{"bind":"127.0.0.1","port":0,"backlog":128,"discipline":"held","handler":"close","fallback":"reject","budgetMs":20,"deferTimeoutMs":30000,"reofferMs":5,"deferAcceptS":0,"fastOpen":false}}',
    ];
    for (let id = 1; id <= n; id++) {
      const t = 2 + id * 0.05;
      lines.push(`{"type":"offer","t":${t.toFixed(3)},"listener":1,"id":${id},"attempt":1,"caller":{"family":"ipv4","address":"127.0.0.1","port":50000,"raw":"AgDDUH8AAAEAAAAAAAAAAA=="},"callee":{"family":"ipv4","address":"127.0.0.1","port":40000,"raw":"AgCcQH8AAAEAAAAAAAAAAA=="},"callerData":"","callerDataSource":"none","sqos":null,"gqos":null,"verdict":"accept","by":"script","conditionUs":9,"result":"OK","scriptVersion":null}`);
      lines.push(`{"type":"decision","t":${(t + 0.01).toFixed(3)},"listener":1,"id":${id},"caller":{"address":"127.0.0.1","port":50000},"verdict":"accept","attempts":1,"latencyUs":60,"by":"script","result":"OK"}`);
    }
    return lines.join('\n') + '\n';
  }
  let big: string;
  beforeAll(() => { big = file('big.jsonl', bigSession(60_000)); });

  it('--progress reports on stderr; without it stderr stays clean', async () => {
    // A script slow enough that the run takes more than the 500 ms between reports.
    const slow = file('slow.js', 'export default () => { let x = 0; for (let i = 0; i < 300; i++) x += i; return "accept"; };');
    const quiet = await runCli(['replay', big, '--script', slow, '--json'], 60_000);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const loud = await runCli(['replay', big, '--script', slow, '--json', '--progress'], 60_000);
    expect(loud.code).toBe(0);
    const lines = loud.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^replay: \d+% \([\d,]+ of ~?[\d,]+ lines\)$/);
    expect(jsonLines(loud.stdout.split('\n')).pop()).toMatchObject({ type: 'summary', requests: 60_000, same: 60_000 });
  }, 60_000);

  // Linux-style recordings carry SQOS on every offer; the reader matches such lines against the
  // shape of earlier ones instead of parsing them (in its worker thread: the file is over 4 MiB).
  // A bad value there is still the one-line error naming line and field.
  it('a long recording with SQOS: replayed in full, and a bad SQOS value deep in it is a format error', async () => {
    const header = bigSession(0).split('\n').slice(0, 2);
    const derived = '"derived":{"tokenRate":"tcpi_pacing_rate","latency":"tcpi_rtt","delayVariation":"tcpi_rttvar","maxSduSize":"tcpi_snd_mss"}';
    const flow = (rtt: number) => `{"tokenRate":${1000000 + rtt * 17},"tokenBucketSize":4294967295,"peakBandwidth":4294967295,"latency":${rtt},` +
      `"delayVariation":${rtt >> 1},"serviceType":4294967295,"maxSduSize":65483,"minimumPolicedSize":4294967295,${derived}}`;
    const lines = [...header];
    const n = 6000;
    for (let id = 1; id <= n; id++) {
      const t = 2 + id * 0.05;
      const rtt = 100 + (id % 9000);
      lines.push(`{"type":"offer","t":${t.toFixed(3)},"listener":1,"id":${id},"attempt":1,"caller":{"family":"ipv4","address":"127.0.0.1","port":50000,"raw":"AgDDUH8AAAEAAAAAAAAAAA=="},"callee":{"family":"ipv4","address":"127.0.0.1","port":40000,"raw":"AgCcQH8AAAEAAAAAAAAAAA=="},"callerData":"b2stJHtpZH0=","callerDataSource":"peek","sqos":{"sending":${flow(rtt)},"receiving":${flow(rtt + 1)},"providerSpecific":""},"gqos":null,"verdict":"accept","by":"script","conditionUs":9,"result":"OK","scriptVersion":1}`);
      lines.push(`{"type":"decision","t":${(t + 0.01).toFixed(3)},"listener":1,"id":${id},"caller":{"address":"127.0.0.1","port":50000},"verdict":"accept","attempts":1,"latencyUs":60,"by":"script","result":"OK"}`);
    }
    const text = lines.join('\n') + '\n';
    expect(text.length).toBeGreaterThan(4 << 20);
    const latency = file('latency.js', 'export default (req) => req.sqos.receiving.latency > 3000 ? "reject" : "accept";');
    const ok = await runCli(['replay', file('sqos.jsonl', text), '--script', latency, '--json'], 60_000);
    expect(ok.stderr).toBe('');
    const changed = Array.from({ length: n }, (_, i) => i + 1).filter((id) => 100 + (id % 9000) + 1 > 3000);
    expect(jsonLines(ok.stdout.split('\n')).pop()).toMatchObject({ type: 'summary', requests: n, changed: changed.length, same: n - changed.length });

    const badLine = 2 + 2 * 5000 - 1; // the 5000th offer, 1-based line number
    const bad = [...lines];
    bad[badLine - 1] = bad[badLine - 1]!.replace(/"receiving":\{"tokenRate":(\d+),"tokenBucketSize":4294967295/, '"receiving":{"tokenRate":$1,"tokenBucketSize":70000');
    expect(bad[badLine - 1]).not.toBe(lines[badLine - 1]);
    const r = await runCli(['replay', file('x.jsonl', bad.join('\n') + '\n'), '--script', latency, '--json'], 60_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`accept-workbench: x.jsonl:${badLine}: field "sqos.receiving.tokenBucketSize": must be 4294967295 (QOS_NOT_SPECIFIED) unless "derived" names its source\n`);
    expect(r.stdout).not.toMatch(/"summary"/);
  }, 60_000);

  it('SIGINT stops cleanly with the summary so far, exit 130', async () => {
    const slow = file('slower.js', 'export default () => { let x = 0; for (let i = 0; i < 2000; i++) x += i; return "reject"; };');
    const r = startCli(['replay', big, '--script', slow, '--json']);
    await r.waitLine((l) => l.includes('"changed"'), 20_000);
    r.child.kill('SIGINT');
    const { code } = await r.exited;
    expect(code).toBe(130);
    const objs = jsonLines(r.lines);
    const summary = objs.pop()!;
    expect(summary).toMatchObject({ type: 'summary', aborted: true });
    expect(summary.requests).toBeLessThan(60_000);
    expect(summary.changed).toBe(objs.filter((o) => o.type === 'changed').length);
    expect(r.stderr()).toBe('');
  }, 60_000);
});
