// The serve bridge's heartbeat: a WebSocket that stops answering pings (a browser that went away
// without closing its connection) is cut off and its host connection closed; one that answers
// stays. The server is started in this process with a fake host end and a short interval.
import { afterEach, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { inProcessPair } from '../../electron/protocol/transport';
import { startServer, type WorkbenchServer } from '../../electron/serve/server';
import { sleep, waitFor } from '../helpers/net';
import { scratchDir } from '../helpers/scratch';

const scratch = scratchDir('aw-heartbeat-');
const servers: WorkbenchServer[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const s of servers.splice(0)) await s.close();
});

function open(s: WorkbenchServer, autoPong: boolean): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { Authorization: `Bearer ${s.token}` }, autoPong });
  sockets.push(ws);
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject); });
}

it('cuts off a WebSocket that stops answering pings and closes its host connection; one that answers stays', async () => {
  const hostEnds: Array<{ closed: string | null }> = [];
  const server = await startServer({
    rendererDir: scratch,
    heartbeatMs: 100,
    connect: () => {
      const [bridgeSide, hostSide] = inProcessPair();
      const end = { closed: null as string | null };
      hostSide.onClose((reason) => { end.closed = reason; });
      hostEnds.push(end);
      return bridgeSide;
    },
  });
  servers.push(server);
  const silent = await open(server, false);
  const answering = await open(server, true);
  let silentClosedAt = 0;
  const start = Date.now();
  silent.on('close', () => { silentClosedAt = Date.now(); });
  await waitFor(() => silentClosedAt > 0, 2000, 'the silent socket cut off');
  // Pinged at the first tick, cut off at the second.
  expect(silentClosedAt - start).toBeGreaterThanOrEqual(100);
  await waitFor(() => hostEnds[0]!.closed !== null, 1000, 'its host connection closed');
  await sleep(400); // several more ticks
  expect(answering.readyState).toBe(WebSocket.OPEN);
  expect(hostEnds[1]!.closed).toBeNull();
});

it('pings every 30 s by default; heartbeatMs 0 turns it off', async () => {
  const intervals = vi.spyOn(globalThis, 'setInterval');
  try {
    servers.push(await startServer({ rendererDir: scratch, connect: () => inProcessPair()[0] }));
    expect(intervals.mock.calls.map((c) => c[1])).toEqual([30_000]);
    intervals.mockClear();
    const server = await startServer({ rendererDir: scratch, heartbeatMs: 0, connect: () => inProcessPair()[0] });
    servers.push(server);
    expect(intervals).not.toHaveBeenCalled();
    const silent = await open(server, false);
    await sleep(300);
    expect(silent.readyState).toBe(WebSocket.OPEN);
  } finally {
    intervals.mockRestore();
  }
});
