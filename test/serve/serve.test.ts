// `accept-workbench serve` end to end: the built CLI, its host child process, real HTTP, WebSocket
// and TCP sockets on 127.0.0.1. Everything waits on events (lines, messages, exits), never on time.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WorkbenchClient, type StatusChange } from '../../electron/protocol/client';
import type { HostEvent } from '../../electron/protocol/schema';
import { WebSocketTransport, type WebSocketLike } from '../../electron/protocol/transport';
import { readSession } from '../../electron/host/session/reader';
import { killStrayClis, runCli, startCli, type Running } from '../helpers/cli';
import { client, waitFor } from '../helpers/net';
import { scratchDir, writeIn } from '../helpers/scratch';

const scratch = scratchDir('aw-serve-');
const ACCEPT_ALL = { source: 'export default () => "accept";', filename: 'all.js' };

interface Serving {
  cli: Running;
  url: string;
  port: number;
  token: string;
  hostPid: number;
}

async function serve(args: string[] = []): Promise<Serving> {
  const cli = startCli(['serve', '--json', ...args]);
  const line = await cli.waitLine((l) => l.includes('"type":"serving"'), 20_000);
  const s = JSON.parse(line) as { url: string; host: string; port: number; hostPid: number };
  expect(s.host).toBe('127.0.0.1');
  expect(s.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${s.port}/\\?token=[A-Za-z0-9_-]{40,}$`));
  return { cli, url: s.url, port: s.port, token: new URL(s.url).searchParams.get('token')!, hostPid: s.hostPid };
}

async function stopServe(s: Serving): Promise<{ code: number | null }> {
  if (s.cli.child.exitCode === null && s.cli.child.signalCode === null) s.cli.child.kill('SIGINT');
  return s.cli.exited;
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** A raw GET: the path goes out exactly as written (no URL normalisation, unlike fetch). */
function get(port: number, target: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket upgrade: 101 when it opened, else the HTTP status the server answered with. */
function upgradeStatus(port: number, target: string, opts: { origin?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${target}`, { ...(opts.origin ? { origin: opts.origin } : {}), headers: opts.headers ?? {} });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode ?? 0); req.destroy(); });
    ws.on('error', (e) => reject(e));
  });
}

const sockets: WebSocket[] = [];
afterEach(() => {
  for (const ws of sockets.splice(0)) ws.terminate();
});
afterAll(() => killStrayClis());

/** A WorkbenchClient over the `ws` client, as the renderer would use over the browser's. */
function connectUi(s: Serving) {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws?token=${s.token}`);
  sockets.push(ws);
  const ui = new WorkbenchClient(new WebSocketTransport(ws as unknown as WebSocketLike));
  const events: HostEvent[] = [];
  const statuses: StatusChange[] = [];
  ui.onEvents((b) => { events.push(...b.events); });
  ui.onStatus((c) => { statuses.push(c); });
  return { ws, ui, events, statuses };
}

/** A raw WebSocket that keeps every message it receives. */
async function rawSocket(s: Serving): Promise<{ ws: WebSocket; received: Array<Record<string, unknown>> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { Authorization: `Bearer ${s.token}` } });
  sockets.push(ws);
  const received: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => { received.push(JSON.parse(String(data)) as Record<string, unknown>); });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return { ws, received };
}

const CSP = (port: number): string =>
  `default-src 'self'; script-src 'self'; connect-src 'self' ws://127.0.0.1:${port}; style-src 'self' 'unsafe-inline'; img-src 'self' data:`;

describe('serve: access, static files, protocol', () => {
  let s: Serving;
  const renderer = path.join(scratch, 'renderer');

  beforeAll(async () => {
    fs.mkdirSync(path.join(renderer, 'assets'), { recursive: true });
    writeIn(renderer, 'index.html', '<!doctype html><title>workbench ui</title><script src="/assets/app.js"></script>');
    writeIn(path.join(renderer, 'assets'), 'app.js', 'console.log("ui");\n');
    writeIn(path.join(renderer, 'assets'), 'app.css', 'body { margin: 0 }\n');
    writeIn(scratch, 'secret.txt', 'not for the browser\n');
    s = await serve(['--renderer', renderer]);
  });

  afterAll(async () => {
    if (s) expect((await stopServe(s)).code).toBe(0);
  });

  it('answers 401 without the right token, 200 and the page with it, and sets the cookie', async () => {
    for (const [target, headers] of [
      ['/', {}],
      ['/?token=wrong', {}],
      [`/?token=${s.token}x`, {}],
      ['/assets/app.js', { Authorization: 'Bearer wrong' }],
      ['/assets/app.js', { Cookie: `aw_token_${s.port}=wrong` }],
      // The cookie of a server on another port does not count here.
      ['/assets/app.js', { Cookie: `aw_token_1=${s.token}` }],
      ['/no-such-file', {}],
    ] as Array<[string, Record<string, string>]>) {
      const r = await get(s.port, target, headers);
      expect(r.status, `${target} ${JSON.stringify(headers)}`).toBe(401);
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.body).not.toContain('workbench ui');
    }

    const page = await get(s.port, `/?token=${s.token}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<title>workbench ui</title>');
    expect(page.headers['content-security-policy']).toBe(CSP(s.port));
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const cookie = page.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^aw_token_${s.port}=${s.token};`));
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*SameSite=Strict/i);

    // The page's own assets load on the cookie alone, with their content types.
    const jar = cookie.split(';')[0]!;
    const js = await get(s.port, '/assets/app.js', { Cookie: `other=1; ${jar}` });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect(js.body).toBe('console.log("ui");\n');
    const css = await get(s.port, '/assets/app.css', { Cookie: jar });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const bearer = await get(s.port, '/index.html', { Authorization: `Bearer ${s.token}` });
    expect(bearer.status).toBe(200);
    expect(bearer.body).toContain('workbench ui');
    expect((await get(s.port, '/assets/none.js', { Cookie: jar })).status).toBe(404);
  });

  it('refuses paths that leave the renderer directory (404)', async () => {
    const auth = { Authorization: `Bearer ${s.token}` };
    for (const target of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/%2e%2e%2f%2e%2e%2fsecret.txt', '/%00index.html', '/%E0%A4%A']) {
      const r = await get(s.port, target, auth);
      expect(r.status, target).toBe(404);
      expect(r.body).not.toContain('not for the browser');
    }
  });

  it('refuses WebSocket upgrades without the token (401) or from another origin (403)', async () => {
    expect(await upgradeStatus(s.port, '/ws')).toBe(401);
    expect(await upgradeStatus(s.port, '/ws?token=wrong')).toBe(401);
    expect(await upgradeStatus(s.port, '/ws', { headers: { Authorization: 'Bearer wrong' } })).toBe(401);
    expect(await upgradeStatus(s.port, `/ws?token=${s.token}`, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(s.port, `/ws?token=${s.token}`, { origin: `http://127.0.0.1:${s.port + 1}` })).toBe(403);
    expect(await upgradeStatus(s.port, `/other?token=${s.token}`)).toBe(404);
    // Our own page: its origin, and the cookie the page load set.
    expect(await upgradeStatus(s.port, '/ws', { origin: `http://127.0.0.1:${s.port}`, headers: { Cookie: `aw_token_${s.port}=${s.token}` } })).toBe(101);
    expect(await upgradeStatus(s.port, `/ws?token=${s.token}`)).toBe(101);
  });

  it('drives the host over the WebSocket: a listener decides a real TCP connection and the events arrive', async () => {
    const { ui, events } = connectUi(s);
    const hello = await ui.ready();
    expect(hello.protocol).toBe(1);
    // Held discipline and a script that waits for the caller's data: the verdict depends on what
    // the client sent, whatever the timing.
    const created = await ui.call('listener.create', {
      options: { address: '127.0.0.1', port: 0, discipline: 'held' },
      script: { source: 'export default (req) => req.callerData.length > 0 ? "accept" : "defer";', filename: 'data.js' },
    });
    const started = await ui.call('listener.start', { listener: created.id });
    expect(started.state).toBe('running');
    const tcp = client(started.bound!.port, { send: 'hi', expectBytes: 2 });
    expect((await tcp.outcome).received.toString()).toBe('hi');
    await waitFor(() => events.find((e) => e.type === 'decision'), 10_000, 'decision event');
    const decision = events.find((e) => e.type === 'decision')!;
    expect(decision).toMatchObject({ listener: created.id, verdict: 'accept', by: 'script' });
    expect(events.some((e) => e.type === 'offer' && e.verdict === 'accept')).toBe(true);
    const detail = await ui.call('request.get', { listener: created.id, requestId: (decision as { id: number }).id });
    expect(Buffer.from(detail.callerData, 'base64').toString()).toBe('hi');
    await ui.call('listener.remove', { listener: created.id });
  });

  it('answers invalid messages over the WebSocket with an error and keeps working', async () => {
    const { ws, received } = await rawSocket(s);
    await waitFor(() => received.find((m) => m.kind === 'hello'), 10_000, 'hello');
    ws.send('this is not JSON');
    ws.send(JSON.stringify({ kind: 'request', id: 7, method: 'listener.list', params: {}, extra: true }));
    ws.send(JSON.stringify({ kind: 'ack', seq: -1 }));
    ws.send(JSON.stringify({ kind: 'request', id: 8, method: 'no.such', params: {} }));
    ws.send(JSON.stringify({ kind: 'request', id: 9, method: 'listener.list', params: {} }));
    await waitFor(() => received.find((m) => m.id === 9), 10_000, 'answer to request 9');
    const responses = received.filter((m) => m.kind === 'response');
    const errorOf = (id: number): unknown => responses.find((m) => m.id === id)?.error;
    expect(responses.filter((m) => m.id === 0)).toHaveLength(2); // the garbage and the bad ack
    expect(responses.filter((m) => m.id === 0).every((m) => (m.error as { code: string }).code === 'invalid-message')).toBe(true);
    expect(errorOf(7)).toMatchObject({ code: 'invalid-message' });
    expect(errorOf(8)).toMatchObject({ code: 'unknown-method' });
    expect(Array.isArray(responses.find((m) => m.id === 9)?.result)).toBe(true);
    // Still the same host.
    expect(process.kill(s.hostPid, 0)).toBe(true);
  });

  it('exits 2 with one line for bad arguments, a remote host without --allow-remote, a port in use', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['serve', '--host', '0.0.0.0'], /0\.0\.0\.0 is not a loopback address.*--allow-remote/],
      [['serve', '--port', 'x'], /--port needs a whole number/],
      [['serve', '--colour'], /unknown option --colour/],
      [['serve', '--port', String(s.port)], /address already in use/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });
});

describe('serve: the host process', () => {
  it('restarts a crashed host: disconnected, restarted with what was lost, a new hello; nothing resurrected', async () => {
    const s = await serve();
    try {
      const { ui, events, statuses } = connectUi(s);
      const first = await ui.ready();
      const rec = path.join(scratch, 'crash.jsonl');
      await ui.call('recording.start', { path: rec });
      const created = await ui.call('listener.create', { options: { address: '127.0.0.1', port: 0 }, script: ACCEPT_ALL });
      const { bound } = await ui.call('listener.start', { listener: created.id });
      const port = bound!.port;
      for (const text of ['a', 'b', 'c']) {
        expect((await client(port, { send: text, expectBytes: 1 }).outcome).received.toString()).toBe(text);
      }
      await waitFor(() => events.filter((e) => e.type === 'decision').length >= 3, 10_000, 'three decisions');
      const before = statuses.length;

      process.kill(s.hostPid, 'SIGKILL');
      await waitFor(() => statuses.slice(before).find((c) => c.state === 'connected'), 20_000, 'a new hello');
      const after = statuses.slice(before);
      expect(after.map((c) => c.state)).toEqual(['disconnected', 'connecting', 'connected']);
      expect(after[0]!.reason).toMatch(/killed \(SIGKILL\)/);
      const lost = after[1]!.lost!;
      expect(lost.recording).toBe(rec);
      expect(lost.listeners).toHaveLength(1);
      expect(lost.listeners[0]).toMatchObject({ options: { address: '127.0.0.1', port: 0 }, script: ACCEPT_ALL });
      expect(after[2]!.hello!.hostId).not.toBe(first.hostId);
      const line = JSON.parse(await s.cli.waitLine((l) => l.includes('"host-restarted"'))) as { hostPid: number };
      expect(line.hostPid).not.toBe(s.hostPid);
      expect(s.cli.stderr()).toMatch(/host restarted/);

      // The listener died with its host and is not started again: the UI offers that.
      expect((await client(port).outcome).end).toBe('refused');
      expect(await ui.call('listener.list', {})).toEqual([]);
      expect((await ui.call('host.info', {})).recording).toBeNull();

      // The recording is readable up to the kill and has every decision made before it.
      const session = await readSession(rec);
      expect(session.end).toBeNull();
      const decisions = session.events.filter((e) => e.type === 'decision');
      expect(decisions.map((d) => (d as { verdict: string }).verdict)).toEqual(['accept', 'accept', 'accept']);
    } finally {
      expect((await stopServe(s)).code).toBe(0);
    }
  });

  it('stops cleanly on SIGINT: exit 0, host ended, listener closed, recording ended; says when the UI is not built', async () => {
    const empty = path.join(scratch, 'no-renderer');
    fs.mkdirSync(empty);
    const s = await serve(['--renderer', empty]);
    const page = await get(s.port, `/?token=${s.token}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toMatch(/has not been built/);
    expect(page.body).toContain('npm run build:renderer');
    expect(page.body).not.toMatch(/<script/i);
    expect(page.headers['content-security-policy']).toBe(CSP(s.port));

    const { ui, statuses } = connectUi(s);
    await ui.ready();
    const rec = path.join(scratch, 'sigint.jsonl');
    await ui.call('recording.start', { path: rec });
    const created = await ui.call('listener.create', { options: { address: '127.0.0.1', port: 0 }, script: ACCEPT_ALL });
    const { bound } = await ui.call('listener.start', { listener: created.id });
    expect((await client(bound!.port, { send: 'z', expectBytes: 1 }).outcome).received.toString()).toBe('z');

    const t0 = Date.now();
    s.cli.child.kill('SIGINT');
    const { code } = await s.cli.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.cli.lines.map((l) => JSON.parse(l) as { type: string }).at(-1)).toEqual({ type: 'stopped', reason: 'SIGINT' });
    expect(() => process.kill(s.hostPid, 0)).toThrow(/ESRCH/);
    expect((await client(bound!.port).outcome).end).toBe('refused');
    await waitFor(() => statuses.some((c) => c.state === 'disconnected'), 5000, 'the UI told');
    const session = await readSession(rec);
    expect(session.end).toMatchObject({ reason: 'host closed' });
    expect(session.events.filter((e) => e.type === 'decision')).toHaveLength(1);
  });
});
