// The app started under different conditions, with a mocked `electron` module (no Electron binary
// here): the dev server's policy against the packaged one, AW_DEV_URL refused where it does not
// belong, the single-instance lock, a saved window position no display shows, quitting while the
// host hangs, and settings flushed to disk before they replace the old file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { scratchDir } from '../helpers/scratch';

const work = scratchDir('aw-lifecycle-');

interface FakeWindow { options: Record<string, unknown>; loadFile: ReturnType<typeof vi.fn>; loadURL: ReturnType<typeof vi.fn> }
interface FakeChild extends EventEmitter { postMessage: ReturnType<typeof vi.fn>; kill: ReturnType<typeof vi.fn> }

const fake = vi.hoisted(() => ({
  app: null as unknown,
  windows: [] as unknown[],
  forks: [] as unknown[],
  headersHook: null as null | ((d: { responseHeaders: Record<string, string[]> }, cb: (r: unknown) => void) => void),
  lock: true,
  packaged: false,
  userData: '',
  displays: [] as Array<{ workArea: { x: number; y: number; width: number; height: number } }>,
}));

vi.mock('electron', async () => {
  const { EventEmitter: EE } = await import('node:events');
  const app = Object.assign(new EE(), {
    whenReady: () => Promise.resolve(),
    getPath: () => fake.userData,
    quit: vi.fn(),
    requestSingleInstanceLock: vi.fn(() => fake.lock),
  });
  Object.defineProperty(app, 'isPackaged', { get: () => fake.packaged });
  fake.app = app;
  class BrowserWindow extends EE {
    webContents = Object.assign(new EE(), { send: vi.fn(), postMessage: vi.fn(), mainFrame: { url: '' }, setWindowOpenHandler: vi.fn() });
    loadFile = vi.fn(() => Promise.resolve());
    loadURL = vi.fn(() => Promise.resolve());
    maximize = vi.fn();
    show = vi.fn();
    focus = vi.fn();
    restore = vi.fn();
    isMinimized = () => false;
    isMaximized = () => false;
    getNormalBounds = () => ({ width: 1200, height: 800, x: 0, y: 0 });
    constructor(readonly options: Record<string, unknown>) {
      super();
      fake.windows.push(this);
    }
  }
  return {
    app,
    BrowserWindow,
    MessageChannelMain: class { port1 = {}; port2 = {}; },
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: () => undefined },
    ipcMain: { handle: () => undefined },
    dialog: {},
    screen: {
      getAllDisplays: () => fake.displays,
      getDisplayMatching: () => fake.displays[0],
      getPrimaryDisplay: () => fake.displays[0],
    },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (fn: typeof fake.headersHook) => { fake.headersHook = fn; } },
        setPermissionRequestHandler: () => undefined,
      },
    },
    utilityProcess: {
      fork: () => {
        const child = Object.assign(new EE(), { pid: 4242, postMessage: vi.fn(), kill: vi.fn(() => true) });
        fake.forks.push(child);
        return child;
      },
    },
  };
});

const { startWorkbench, appPaths } = await import('../../electron/main/app');
const { SettingsStore } = await import('../../electron/main/settings');

const mainDir = path.resolve(__dirname, '../../dist/electron/main');
const paths = appPaths(mainDir);
const app = () => fake.app as EventEmitter & { quit: ReturnType<typeof vi.fn> };
const DEV_VARS = ['AW_DEV_URL', 'AW_DEV_SCRIPT_HASHES'] as const;
const PREAMBLE_HASH = 'sha256-Z2/iFzh9VMlVkEOar1f/oSHWwQk3ve1qk/C2WdsC4Xk=';
let launches = 0;

/** Starts the app afresh (a new user-data folder unless given) and waits for it to be ready. */
async function launch(opts: { env?: Partial<Record<(typeof DEV_VARS)[number], string>>; settings?: unknown } = {}) {
  app().removeAllListeners();
  app().quit.mockClear();
  fake.windows.length = 0;
  fake.forks.length = 0;
  fake.headersHook = null;
  fake.userData = path.join(work, `user-${++launches}`);
  fs.mkdirSync(fake.userData);
  if (opts.settings) fs.writeFileSync(path.join(fake.userData, 'settings.json'), JSON.stringify(opts.settings));
  const saved = Object.fromEntries(DEV_VARS.map((k) => [k, process.env[k]]));
  for (const k of DEV_VARS) {
    if (opts.env?.[k] === undefined) delete process.env[k];
    else process.env[k] = opts.env[k];
  }
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  let lines: string[] = [];
  try {
    startWorkbench(mainDir);
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    for (const k of DEV_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    lines = stderr.mock.calls.map((c) => String(c[0]));
    stderr.mockRestore();
  }
  let policy = '';
  fake.headersHook?.({ responseHeaders: {} }, (r) => { policy = (r as { responseHeaders: Record<string, string[]> }).responseHeaders['Content-Security-Policy']![0]!; });
  return { lines, policy, win: fake.windows[0] as FakeWindow | undefined, child: fake.forks[0] as FakeChild | undefined };
}

afterEach(() => {
  fake.lock = true;
  fake.packaged = false;
  fake.displays = [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }];
  vi.useRealTimers();
});
fake.displays = [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }];

describe('the content security policy', () => {
  it('packaged / npm start: the built renderer with the strict policy', async () => {
    const { policy, win, lines } = await launch();
    expect(win!.loadFile).toHaveBeenCalledWith(paths.rendererIndex);
    expect(policy).toMatch(/script-src 'self';/);
    expect(policy).toMatch(/connect-src 'self';/);
    expect(policy).not.toMatch(/script-src[^;]*unsafe-inline|sha256-|ws:/);
    expect(lines).toEqual([]);
  });

  it('npm run dev: the dev server, its preamble allowed by hash and its websocket, nothing else inline', async () => {
    const { policy, win } = await launch({ env: { AW_DEV_URL: 'http://127.0.0.1:5173/', AW_DEV_SCRIPT_HASHES: PREAMBLE_HASH } });
    expect(win!.loadURL).toHaveBeenCalledWith('http://127.0.0.1:5173/');
    expect(policy).toMatch(new RegExp(`script-src 'self' '${PREAMBLE_HASH.replace(/[+/]/g, '\\$&')}';`));
    expect(policy).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:5173;/);
    expect(policy).not.toMatch(/script-src[^;]*unsafe-inline/);
  });

  it('a dev URL without hashes (set by hand): inline scripts allowed, still only in dev', async () => {
    const { policy, win } = await launch({ env: { AW_DEV_URL: 'http://localhost:5180/' } });
    expect(win!.loadURL).toHaveBeenCalledWith('http://localhost:5180/');
    expect(policy).toMatch(/script-src 'self' 'unsafe-inline';/);
    expect(policy).toMatch(/connect-src 'self' ws:\/\/localhost:5180;/);
  });
});

describe('AW_DEV_URL', () => {
  it('is ignored by a packaged app, with one line saying so', async () => {
    fake.packaged = true;
    const { policy, win, lines } = await launch({ env: { AW_DEV_URL: 'http://127.0.0.1:5173/', AW_DEV_SCRIPT_HASHES: PREAMBLE_HASH } });
    expect(win!.loadFile).toHaveBeenCalledWith(paths.rendererIndex);
    expect(win!.loadURL).not.toHaveBeenCalled();
    expect(policy).toMatch(/script-src 'self';/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^accept-workbench: AW_DEV_URL is ignored in a packaged app\n$/);
  });

  it.each(['http://192.168.1.5:5173/', 'https://localhost:5173/', 'file:///etc/passwd', 'http://127.0.0.1.example.com/', 'not\na url'])(
    'must be http on 127.0.0.1 or localhost: %j is refused',
    async (url) => {
      const { policy, win, lines } = await launch({ env: { AW_DEV_URL: url } });
      expect(win!.loadFile).toHaveBeenCalledWith(paths.rendererIndex);
      expect(win!.loadURL).not.toHaveBeenCalled();
      expect(policy).toMatch(/script-src 'self';/);
      expect(lines).toHaveLength(1);
      expect(lines[0]!.trimEnd().split('\n')).toHaveLength(1);
      expect(lines[0]).toMatch(/^accept-workbench: AW_DEV_URL /);
    },
  );
});

describe('one instance', () => {
  it('a second start quits without a window or a host', async () => {
    fake.lock = false;
    const { win, child } = await launch();
    expect(app().quit).toHaveBeenCalled();
    expect(win).toBeUndefined();
    expect(child).toBeUndefined();
  });
});

describe('the saved window position', () => {
  const saved = { window: { width: 1200, height: 800, x: 2500, y: 100 }, recentSessions: [] };

  it('is dropped when no display shows it any more (a monitor was removed); the size stays', async () => {
    const { win } = await launch({ settings: saved });
    expect(win!.options).toMatchObject({ width: 1200, height: 800 });
    expect(win!.options).not.toHaveProperty('x');
    expect(win!.options).not.toHaveProperty('y');
  });

  it('is kept where a display shows it', async () => {
    fake.displays = [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }, { workArea: { x: 1920, y: 0, width: 2560, height: 1440 } }];
    const { win } = await launch({ settings: saved });
    expect(win!.options).toMatchObject({ width: 1200, height: 800, x: 2500, y: 100 });
  });
});

describe('quitting', () => {
  it('a host that does not exit within 2 s of the shutdown request is killed, then the app quits', async () => {
    const { child } = await launch();
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    onTestFinished(() => { stderr.mockRestore(); });
    vi.useFakeTimers();
    const quit = { preventDefault: vi.fn() };
    app().emit('before-quit', quit);
    expect(quit.preventDefault).toHaveBeenCalled();
    expect(child!.postMessage).toHaveBeenCalledWith({ shutdown: true });
    await vi.advanceTimersByTimeAsync(1900);
    expect(child!.kill).not.toHaveBeenCalled();
    expect(app().quit).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(200);
    expect(child!.kill).toHaveBeenCalled();
    expect(app().quit).toHaveBeenCalled();
    expect(stderr.mock.calls.map((c) => String(c[0]))).toEqual([expect.stringMatching(/did not exit within 2000 ms .*killing it/)]);
    const next = { preventDefault: vi.fn() };
    app().emit('before-quit', next);
    expect(next.preventDefault).not.toHaveBeenCalled();
  });
});

describe('settings', () => {
  it('are flushed to disk (fsync) before they are renamed over the old file', () => {
    // The ESM view of node:fs follows the CommonJS one after syncBuiltinESMExports().
    const fsCjs = createRequire(import.meta.url)('node:fs') as typeof fs;
    const order: string[] = [];
    const fsync = vi.spyOn(fsCjs, 'fsyncSync').mockImplementation((fd) => { order.push('fsync'); void fd; });
    const rename = vi.spyOn(fsCjs, 'renameSync');
    rename.mockImplementation((from, to) => { order.push('rename'); rename.mockRestore(); syncBuiltinESMExports(); fsCjs.renameSync(from, to); });
    syncBuiltinESMExports();
    try {
      const file = path.join(work, 'durable.json');
      new SettingsStore(file).addRecentSession('/s/a.jsonl');
      expect(order).toEqual(['fsync', 'rename']);
      expect(new SettingsStore(file).settings.recentSessions).toEqual(['/s/a.jsonl']);
    } finally {
      fsync.mockRestore();
      rename.mockRestore();
      syncBuiltinESMExports();
    }
  });
});
