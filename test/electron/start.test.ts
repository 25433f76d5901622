// `npm start`: where Electron's binary is missing, one line naming the way to the same UI; where it
// is there, the build steps run npm through this Node and npm's own script (npm_execpath), and a
// failure to run npm at all is printed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir, writeIn } from '../helpers/scratch';

const START = path.resolve(__dirname, '../../scripts/start.mjs');
const work = scratchDir('aw-start-');

/** A stand-in Electron distribution: start.mjs only checks that the executable exists. */
function fakeElectronDist(): string {
  const dir = path.join(work, 'electron-dist');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['electron', 'electron.exe']) fs.writeFileSync(path.join(dir, f), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return dir;
}

function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

describe('npm start without an Electron binary', () => {
  it('says so in one line, with the serve alternative, and exits 1', () => {
    const r = spawnSync(process.execPath, [START], {
      env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: path.join(__dirname, 'no-such-electron') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm start: Electron's binary is not installed here .*bin\/accept-workbench serve$/);
    expect(r.stdout).toBe('');
  });
});

describe('npm start with an Electron binary', () => {
  it('runs the build through this Node and npm_execpath, and stops when it fails', () => {
    const npm = writeIn(work, 'fake-npm-cli.js', "process.stderr.write('npm ' + process.argv.slice(2).join(' ') + '\\n'); process.exit(7);\n");
    const r = spawnSync(process.execPath, [START], {
      // No npm on PATH: the build must not depend on finding one there.
      env: { ...envWithout('npm_execpath'), ELECTRON_OVERRIDE_DIST_PATH: fakeElectronDist(), npm_execpath: npm, PATH: path.join(work, 'no-such-bin'), Path: path.join(work, 'no-such-bin') },
      encoding: 'utf8',
    });
    expect(r.stderr.trim()).toBe('npm run --silent build:ts');
    expect(r.status).toBe(7);
  });

  it.skipIf(process.platform === 'win32')('says why npm could not be run at all', () => {
    const r = spawnSync(process.execPath, [START], {
      env: { ...envWithout('npm_execpath'), ELECTRON_OVERRIDE_DIST_PATH: fakeElectronDist(), PATH: path.join(work, 'no-such-bin'), Path: path.join(work, 'no-such-bin') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^npm start: could not run npm run build:ts: .*ENOENT/m);
  });
});
