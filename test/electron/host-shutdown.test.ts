// The host as an Electron utilityProcess, run by plain Node with a stand-in `process.parentPort`
// (no Electron binary here): the desktop app's quit asks it to shut down with {shutdown:true}, and
// it closes cleanly — a recording in progress ends with its `end` record — and exits 0.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, writeIn } from '../helpers/scratch';

const ROOT = path.resolve(__dirname, '../..');
const work = scratchDir('aw-host-shutdown-');

// Once the host is ready: one UI connection starts a recording; once it has started, the parent
// posts the shutdown request, as electron/main/host-process.ts does on quit.
const PARENT_PORT = `
const { EventEmitter } = require('node:events');
const parent = new EventEmitter();
setInterval(() => {}, 1 << 30); // a real parent port keeps the process alive
process.parentPort = {
  on: (event, listener) => parent.on(event, listener),
  postMessage: (m) => {
    if (!m || !m.ready) return;
    const ui = new EventEmitter();
    const port = {
      on: (event, listener) => ui.on(event, listener),
      start() {},
      close() {},
      postMessage(msg) {
        if (msg && msg.kind === 'response' && msg.id === 1) {
          if (msg.error) process.stderr.write('recording.start: ' + msg.error.message + '\\n');
          parent.emit('message', { data: { shutdown: true }, ports: [] });
        }
      },
    };
    parent.emit('message', { data: { connect: true }, ports: [port] });
    ui.emit('message', { data: { kind: 'request', id: 1, method: 'recording.start', params: { path: process.env.AW_TEST_RECORDING } } });
  },
};
`;

describe('the host in a utilityProcess', () => {
  it('on {shutdown:true} ends the recording with its end record and exits 0', () => {
    const main = path.join(ROOT, 'dist/electron/host/main.js');
    expect(fs.existsSync(main), 'npm run build:ts has built the host').toBe(true);
    const setup = writeIn(work, 'parent-port.cjs', PARENT_PORT);
    const recording = path.join(work, 'session.jsonl');
    const r = spawnSync(process.execPath, ['--require', setup, main], {
      cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, AW_TEST_RECORDING: recording },
    });
    expect(r.status, r.stderr).toBe(0);
    const records = fs.readFileSync(recording, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type?: string });
    expect(records.at(-1)!.type).toBe('end');
  }, 30_000);
});
