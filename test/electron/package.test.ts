// The desktop package's layout: electron-builder packs the app against a stand-in Electron
// distribution (the real binary cannot be downloaded here), and the result must hold what the app
// loads at run time — and the native addon and QuickJS's WebAssembly outside the asar archive.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch';

const ROOT = path.resolve(__dirname, '../..');
const work = scratchDir('aw-package-');
/** The Electron the app is built against: the version package.json pins. */
const electronVersion = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> })
  .devDependencies.electron!;

function asarList(archive: string): string[] {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/@electron/asar/bin/asar.js'), 'list', archive], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`asar list failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

describe('electron-builder --linux dir', () => {
  it('packs the main process, preload, host, renderer and production modules; the addon and wasm unpacked', () => {
    for (const built of ['dist/electron/main/main.js', 'dist/renderer/index.html', 'build/Release/accept_workbench.node']) {
      expect(fs.existsSync(path.join(ROOT, built)), `${built} is built`).toBe(true);
    }
    expect(electronVersion, 'package.json pins an exact Electron version').toMatch(/^\d+\.\d+\.\d+$/);
    const electronDist = path.join(work, 'electron-dist');
    fs.mkdirSync(electronDist);
    fs.writeFileSync(path.join(electronDist, 'electron'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const out = path.join(work, 'release');
    const r = spawnSync(process.execPath, [
      path.join(ROOT, 'node_modules/electron-builder/cli.js'), '--linux', 'dir', '--config', 'electron-builder.yml',
      `-c.electronDist=${electronDist}`, `-c.electronVersion=${electronVersion}`, `-c.directories.output=${out}`,
    ], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const resources = path.join(out, 'linux-unpacked/resources');
    const files = asarList(path.join(resources, 'app.asar'));
    for (const f of [
      '/package.json', '/dist/electron/main/main.js', '/dist/electron/preload/preload.js', '/dist/electron/host/main.js',
      '/dist/electron/protocol/schema.js', '/dist/native/index.js', '/dist/renderer/index.html', '/docs/platforms.md',
      '/node_modules/zod/package.json', '/node_modules/ws/package.json', '/node_modules/quickjs-emscripten-core/package.json',
      '/node_modules/node-gyp-build/package.json',
    ]) expect(files, f).toContain(f);
    // Build-time tools, sources and source maps stay out.
    expect(files.filter((f) => /^\/node_modules\/(node-gyp|node-addon-api|vite|react|electron|typescript)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /\.(map|ts|mts|cts)$/.test(f))).toEqual([]);
    const unpacked = path.join(resources, 'app.asar.unpacked');
    expect(fs.existsSync(path.join(unpacked, 'build/Release/accept_workbench.node'))).toBe(true);
    const wasm = fs.readdirSync(path.join(unpacked, 'node_modules/@jitl/quickjs-wasmfile-release-sync/dist')).filter((f) => f.endsWith('.wasm'));
    expect(wasm.length).toBeGreaterThan(0);
  }, 120_000);
});
