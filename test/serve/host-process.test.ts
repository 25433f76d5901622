// The supervisor on its own, against small fake hosts (real child processes, real IPC): validation
// both ways, what clients are told around a crash, the restart limit, and stop() escalating to
// SIGKILL. The real host is covered end to end in serve.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { HostProcess, type HostProcessEvent } from '../../electron/serve/host-process';
import type { Transport } from '../../electron/protocol/transport';
import { waitFor } from '../helpers/net';
import { scratchDir, writeIn } from '../helpers/scratch';

const scratch = scratchDir('aw-hostproc-');

// Says hello on each connection, echoes each request back as its result; 'crash' exits, 'garbage'
// first sends two messages that are not protocol messages.
const FAKE_HOST = writeIn(scratch, 'fake-host.cjs', `
process.on('message', (m) => {
  if (m.open) {
    process.send({ conn: m.conn, msg: { kind: 'hello', protocol: 1, appVersion: 'fake', backend: 'posix', platform: 'linux', hostId: 'h' + process.pid } });
    return;
  }
  if (!m.msg || m.msg.kind !== 'request') return;
  if (m.msg.method === 'crash') process.exit(3);
  if (m.msg.method === 'garbage') {
    process.send({ conn: m.conn, msg: { kind: 'nonsense' } });
    process.send({ conn: m.conn, msg: { kind: 'response', id: 'x' } });
  }
  process.send({ conn: m.conn, msg: { kind: 'response', id: m.msg.id, result: m.msg } });
});
process.send({ lost: { listeners: [], recording: 'rec-' + process.pid } });
process.send({ ready: true });
`);

// Ignores SIGTERM: stop() has to use SIGKILL.
const STUBBORN_HOST = writeIn(scratch, 'stubborn-host.cjs', `
process.on('SIGTERM', () => {});
process.on('disconnect', () => {});
process.send({ ready: true });
setInterval(() => {}, 1000);
`);

const running: HostProcess[] = [];
afterEach(async () => { await Promise.all(running.splice(0).map((h) => h.stop())); });

function supervise(entry: string, opts: { maxRestarts?: number; stopTimeoutMs?: number } = {}) {
  const events: HostProcessEvent[] = [];
  const hp = new HostProcess({ entry, backoffMs: 1, onEvent: (e) => events.push(e), ...opts });
  running.push(hp);
  return { hp, events };
}

type Msg = Record<string, unknown> & { kind?: string; id?: number; state?: string; reason?: string };

function collect(t: Transport): Msg[] {
  const got: Msg[] = [];
  t.onMessage((m) => got.push(m as Msg));
  return got;
}

const request = (id: number, method: string): unknown => ({ kind: 'request', id, method, params: {} });

describe('HostProcess', () => {
  it('validates both ways, tells clients about a crash and restart, and gives up after the limit', async () => {
    const { hp, events } = supervise(FAKE_HOST, { maxRestarts: 2 });
    await hp.start();
    const firstPid = hp.pid!;
    expect(hp.lostState.recording).toBe(`rec-${firstPid}`);
    const link = hp.connect();
    const got = collect(link);
    await waitFor(() => got.find((m) => m.kind === 'hello'), 5000, 'hello');

    // From the UI: answered here and never forwarded (the fake host would echo it).
    link.send({ kind: 'request', id: 3, method: 'x', params: {}, extra: 1 });
    link.send('not a message');
    // From the host: garbage dropped and reported once; the echo after it goes through.
    link.send(request(4, 'garbage'));
    await waitFor(() => got.find((m) => m.id === 4 && m.kind === 'response' && 'result' in m), 5000, 'echo of 4');
    expect(got.filter((m) => m.id === 3)).toEqual([expect.objectContaining({ kind: 'response', error: expect.objectContaining({ code: 'invalid-message' }) })]);
    expect(got.filter((m) => m.id === 0)).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'invalid-message' }) })]);
    expect(got.filter((m) => m.kind === 'nonsense' || m.id === ('x' as never))).toEqual([]);
    expect(events.filter((e) => e.type === 'warning')).toHaveLength(1);

    // A crash: disconnected; a request meanwhile is refused here; then restarted + lost + hello.
    link.onMessage((m) => {
      got.push(m as Msg);
      if ((m as Msg).state === 'disconnected' && !got.some((x) => x.id === 6)) link.send(request(6, 'during'));
    });
    link.send(request(5, 'crash'));
    await waitFor(() => got.filter((m) => m.kind === 'hello').length === 2, 5000, 'second hello');
    const around = got.slice(got.findIndex((m) => m.state === 'disconnected'));
    expect(around.map((m) => m.state ?? m.kind)).toEqual(['disconnected', 'response', 'restarted', 'hello']);
    expect(around[0]!.reason).toMatch(/exited with code 3; restarting/);
    expect(around[1]).toMatchObject({ id: 6, error: { code: 'disconnected' } });
    expect(around[2]).toMatchObject({ lost: { listeners: [], recording: `rec-${firstPid}` } });
    expect(hp.pid).not.toBe(firstPid);
    expect(events.map((e) => e.type)).toEqual(['warning', 'exited', 'restarted']);

    // One more restart is allowed; the crash after it is final.
    link.send(request(7, 'crash'));
    await waitFor(() => got.filter((m) => m.kind === 'hello').length === 3, 5000, 'third hello');
    link.send(request(8, 'crash'));
    await waitFor(() => events.find((e) => e.type === 'gave-up'), 5000, 'giving up');
    expect(got.at(-1)).toMatchObject({ kind: 'host-status', state: 'disconnected', reason: expect.stringMatching(/not restarted again/) });
    expect(hp.pid).toBeNull();
    // A later client hears the same at once.
    const late = collect(hp.connect());
    await waitFor(() => late.length === 1, 5000, 'late notice');
    expect(late[0]).toMatchObject({ kind: 'host-status', state: 'disconnected', reason: expect.stringMatching(/not restarted again/) });
  });

  it('stop() closes the connections and kills a host that ignores SIGTERM', async () => {
    const { hp } = supervise(STUBBORN_HOST, { stopTimeoutMs: 300 });
    await hp.start();
    const pid = hp.pid!;
    const link = hp.connect();
    let closed: string | null = null;
    link.onClose((r) => { closed = r; });
    await hp.stop();
    expect(closed).toBe('the server is stopping');
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
