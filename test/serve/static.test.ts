// serve's static files, in this process: a download cancelled part way closes the file it was
// reading (a browser that keeps cancelling must not run the server out of descriptors).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { inProcessPair } from '../../electron/protocol/transport';
import { startServer, type WorkbenchServer } from '../../electron/serve/server';
import { sleep, waitFor } from '../helpers/net';
import { scratchDir } from '../helpers/scratch';

const scratch = scratchDir('aw-static-');
const servers: WorkbenchServer[] = [];
afterEach(async () => { for (const s of servers.splice(0)) await s.close(); });

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

/** GETs `target` and destroys the connection at the first chunk of the body. */
function cancelledDownload(s: WorkbenchServer, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: s.port, path: target, headers: { Authorization: `Bearer ${s.token}` }, agent: false }, (res) => {
      res.once('data', () => { req.destroy(); resolve(res.statusCode ?? 0); });
    });
    req.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET') reject(e); });
  });
}

it.skipIf(!fs.existsSync('/proc/self/fd'))('a download cancelled part way closes its file', async () => {
  const renderer = path.join(scratch, 'renderer');
  fs.mkdirSync(path.join(renderer, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>ui</title>');
  fs.writeFileSync(path.join(renderer, 'assets', 'big.js'), Buffer.alloc(32 << 20, 0x20));
  const server = await startServer({ rendererDir: renderer, heartbeatMs: 0, connect: () => inProcessPair()[0] });
  servers.push(server);
  const before = openFds();
  for (let i = 0; i < 10; i++) expect(await cancelledDownload(server, '/assets/big.js')).toBe(200);
  await waitFor(() => openFds() <= before, 3000, 'the files closed');
  await sleep(100);
  expect(openFds()).toBeLessThanOrEqual(before);
});
