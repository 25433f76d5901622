#!/usr/bin/env node
// `npm start` / `npm run dev`: builds and launches the desktop app where Electron's binary is
// installed. Where it is not (installed with ELECTRON_SKIP_BINARY_DOWNLOAD), says so in one line
// and how to open the same UI in a browser. `--dev` serves the renderer from Vite with hot reload.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const name = dev ? 'npm run dev' : 'npm start';

/** The Electron executable, or null. Does not require('electron'): that would try to download it. */
function electronBinary() {
  const pkg = path.join(ROOT, 'node_modules/electron');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  let rel = null;
  try { rel = fs.readFileSync(path.join(pkg, 'path.txt'), 'utf8').trim(); } catch { /* not downloaded */ }
  if (override) {
    const p = path.join(override, rel || (process.platform === 'win32' ? 'electron.exe' : 'electron'));
    return fs.existsSync(p) ? p : null;
  }
  if (!rel) return null;
  const p = path.join(pkg, 'dist', rel);
  return fs.existsSync(p) ? p : null;
}

const electron = electronBinary();
if (!electron) {
  process.stderr.write(`${name}: Electron's binary is not installed here (npm ci ran with ELECTRON_SKIP_BINARY_DOWNLOAD); ` +
    'open the same UI in a browser instead: npm run build:renderer && bin/accept-workbench serve\n');
  process.exit(1);
}

function run(script) {
  // Through npm's own script with this Node when npm started us (npm_execpath): npm.cmd cannot be
  // spawned without a shell on Windows since Node 20.12.2.
  const npmCli = process.env.npm_execpath;
  const r = npmCli && /\.[cm]?js$/.test(npmCli)
    ? spawnSync(process.execPath, [npmCli, 'run', '--silent', script], { cwd: ROOT, stdio: 'inherit' })
    : spawnSync('npm', ['run', '--silent', script], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error) process.stderr.write(`${name}: could not run npm run ${script}: ${r.error.message}\n`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/**
 * sha256 sources for the inline scripts in `html` (the React plugin's hot-reload preamble): the
 * window's Content-Security-Policy allows these and no other inline script.
 */
function inlineScriptHashes(html) {
  const hashes = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (/\bsrc\s*=/i.test(m[1]) || m[2] === '') continue;
    hashes.push(`sha256-${createHash('sha256').update(m[2], 'utf8').digest('base64')}`);
  }
  return hashes;
}

run('build:ts');
const env = { ...process.env };
delete env.ELECTRON_RUN_AS_NODE;
// Only `--dev` points the app at a dev server, never a value left in the environment.
delete env.AW_DEV_URL;
delete env.AW_DEV_SCRIPT_HASHES;
let vite = null;
if (dev) {
  const { createServer } = await import('vite');
  vite = await createServer({ configFile: path.join(ROOT, 'renderer/vite.config.ts'), server: { host: '127.0.0.1', port: 5173, strictPort: false } });
  await vite.listen();
  env.AW_DEV_URL = vite.resolvedUrls.local[0];
  // The page exactly as the dev server will serve it.
  const page = await vite.transformIndexHtml('/', fs.readFileSync(path.join(ROOT, 'renderer/index.html'), 'utf8'));
  env.AW_DEV_SCRIPT_HASHES = inlineScriptHashes(page).join(' ');
  process.stderr.write(`${name}: renderer with hot reload at ${env.AW_DEV_URL}\n`);
} else {
  run('build:renderer');
}
const child = spawn(electron, [path.join(ROOT, 'dist/electron/main/main.js')], { cwd: ROOT, env, stdio: 'inherit' });
child.on('exit', async (code) => {
  await vite?.close();
  process.exit(code ?? 0);
});
