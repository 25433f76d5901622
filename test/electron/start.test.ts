// `npm start` where Electron's binary is missing: one line naming the way to the same UI.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm start without an Electron binary', () => {
  it('says so in one line, with the serve alternative, and exits 1', () => {
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../scripts/start.mjs')], {
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
