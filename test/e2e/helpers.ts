// Shared by the browser end-to-end tests: where Chromium is and how it is started (Debian's
// package, the flags DESIGN §3 gives, a fresh profile per launch), the renderer build check, the
// built CLI's `serve`, and a page on it that records anything it logs as an error.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { killStrayClis, startCli, type Running } from '../helpers/cli';

export const ROOT = path.resolve(__dirname, '../..');
export const CHROMIUM = process.env.AW_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const SCREENSHOTS = process.env.AW_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : null;
export const missingChromium = !fs.existsSync(CHROMIUM);
export const ci = process.env.CI === 'true';

/** Newest modification time of the files under `dir` (recursively). */
export function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** `npm test` builds the TypeScript but not the renderer: build it here when it is missing or older than its sources. */
export function ensureRendererBuilt(): void {
  const index = path.join(ROOT, 'dist', 'renderer', 'index.html');
  const sources = Math.max(newest(path.join(ROOT, 'renderer')), fs.statSync(path.join(ROOT, 'docs', 'platforms.md')).mtimeMs);
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'pipe' });
}

export async function until<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Checks the builds, starts `accept-workbench serve --json` (its host child working in `cwd` when
 * given) and resolves with its URL (token included).
 */
export async function startServe(cwd?: string): Promise<{ serve: Running; url: string }> {
  if (missingChromium) throw new Error(`Chromium not found at ${CHROMIUM}: install it (scripts/system-deps.sh installs the Debian package)`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'electron', 'cli', 'serve.js'))) throw new Error('the CLI is not built: run `npm run build:ts` first');
  ensureRendererBuilt();
  const serve = startCli(['serve', '--json'], cwd !== undefined ? { cwd } : undefined);
  const line = await serve.waitLine((l) => l.includes('"type":"serving"'), 20_000);
  return { serve, url: (JSON.parse(line) as { url: string }).url };
}

export async function stopServe(serve: Running | undefined): Promise<void> {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGINT');
    await serve.exited;
  }
}

/** Chromium with a fresh profile (playwright gives each launch a new temporary one). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A page on the workbench at `url`, connected to the host. Anything it logs as an error (a CSP
 * violation, a failed request, an exception) is pushed to `problems`.
 */
export async function openWorkbenchPage(browser: Browser, url: string, problems: string[], viewport = { width: 1500, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  await page.goto(url);
  await page.getByTestId('connection').getByText('Connected to the host').waitFor();
  return page;
}

/** A TCP caller that sends `greeting` `afterMs` after connecting; records what comes back and how it ends. */
export function caller(port: number, greeting: string, afterMs = 0) {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = '';
  let localPort = 0;
  const ended = new Promise<'eof' | 'reset' | 'error'>((resolve) => {
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      setTimeout(() => socket.write(greeting), afterMs);
    });
    socket.on('data', (d) => { received += d.toString(); });
    socket.on('end', () => resolve('eof'));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : 'error'));
  });
  return { socket, ended, received: () => received, localPort: () => localPort };
}

/**
 * The hooks every browser suite uses: `serve` (its host working in `cwd` when given) and Chromium
 * started once for the suite, and afterwards the callers it made closed and everything stopped.
 * What the page logs as an error lands in `problems`.
 */
export function browserSuite(cwd?: string) {
  let serve: Running | undefined;
  let url = '';
  let browser: Browser | undefined;
  const callers: Array<ReturnType<typeof caller>> = [];
  const problems: string[] = [];
  beforeAll(async () => {
    ({ serve, url } = await startServe(cwd));
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    for (const c of callers) c.socket.destroy();
    await browser?.close();
    await stopServe(serve);
    killStrayClis();
  });
  return {
    callers,
    problems,
    /** A page on the workbench, connected to the host. */
    open: (viewport?: { width: number; height: number }): Promise<Page> => openWorkbenchPage(browser!, url, problems, viewport),
  };
}

/**
 * Creates a listener through the New listener form — `select` and `fill` name fields by their
 * labels — waits until its row (`listener-N`) says it runs, and resolves with its port.
 */
export async function createListenerInForm(page: Page, id: number, fields: { select?: Record<string, string>; fill?: Record<string, string> }): Promise<number> {
  await page.getByRole('button', { name: 'New listener' }).click();
  const form = page.getByRole('form', { name: 'New listener' });
  for (const [label, value] of Object.entries(fields.select ?? {})) await form.getByLabel(label).selectOption(value);
  for (const [label, value] of Object.entries(fields.fill ?? {})) await form.getByLabel(label).fill(value);
  await form.getByRole('button', { name: 'Create' }).click();
  const row = page.getByTestId(`listener-${id}`);
  await row.locator('.badge.state-running').waitFor();
  const port = Number(/127\.0\.0\.1:(\d+)/.exec((await row.textContent()) ?? '')?.[1]);
  if (!(port > 0)) throw new Error(`listener ${id} shows no bound port`);
  return port;
}
