// The Electron glue with a mocked `electron` module (no Electron binary here): window options,
// navigation and window-open rules, IPC handlers and their sender checks, menus, the host in a
// utilityProcess and its restart, remembered settings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EventEmitter } from 'node:events';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { scratchDir } from '../helpers/scratch';

const userData = scratchDir('aw-electron-');

interface FakeContents extends EventEmitter {
  postMessage: ReturnType<typeof vi.fn>;
  send: ReturnType<typeof vi.fn>;
  openHandler: ((d: { url: string }) => { action: string }) | null;
  mainFrame: { url: string };
  setWindowOpenHandler(h: (d: { url: string }) => { action: string }): void;
}

function fakeContents(): FakeContents {
  const c = new EventEmitter() as FakeContents;
  c.mainFrame = { url: '' };
  c.postMessage = vi.fn();
  c.send = vi.fn();
  c.openHandler = null;
  c.setWindowOpenHandler = (h) => { c.openHandler = h; };
  return c;
}

const fake = vi.hoisted(() => ({
  windows: [] as Array<{ options: Record<string, unknown>; win: unknown }>,
  handlers: new Map<string, (event: unknown, ...args: unknown[]) => unknown>(),
  menus: [] as unknown[],
  forks: [] as Array<{ path: string; child: unknown }>,
  headersHook: null as null | ((d: { responseHeaders: Record<string, string[]> }, cb: (r: unknown) => void) => void),
  permissionHook: null as null | ((wc: unknown, p: string, cb: (ok: boolean) => void) => void),
  app: null as unknown,
  userData: '',
}));

vi.mock('electron', async () => {
  const { EventEmitter: EE } = await import('node:events');
  const app = Object.assign(new EE(), {
    whenReady: () => Promise.resolve(),
    getPath: () => fake.userData,
    quit: vi.fn(),
    isPackaged: false,
    requestSingleInstanceLock: vi.fn(() => true),
  });
  fake.app = app;
  class BrowserWindow extends EE {
    webContents = fakeContents();
    constructor(readonly options: Record<string, unknown>) {
      super();
      fake.windows.push({ options, win: this });
    }
    maximize = vi.fn();
    show = vi.fn();
    loadFile = vi.fn(() => Promise.resolve());
    loadURL = vi.fn(() => Promise.resolve());
    getNormalBounds = () => ({ width: 1111, height: 777, x: 10, y: 20 });
    isMaximized = () => false;
    isMinimized = () => true;
    restore = vi.fn();
    focus = vi.fn();
  }
  class MessageChannelMain {
    port1 = { name: 'port1' };
    port2 = { name: 'port2' };
  }
  return {
    app,
    BrowserWindow,
    MessageChannelMain,
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: (m: unknown) => { fake.menus.push(m); } },
    ipcMain: { handle: (ch: string, fn: (event: unknown, ...args: unknown[]) => unknown) => { fake.handlers.set(ch, fn); } },
    dialog: {
      showOpenDialog: vi.fn(() => Promise.resolve({ canceled: false, filePaths: ['/tmp/chosen.jsonl'] })),
      showSaveDialog: vi.fn(() => Promise.resolve({ canceled: true })),
      showMessageBox: vi.fn(() => Promise.resolve({ response: 0 })),
    },
    screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }] },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (fn: typeof fake.headersHook) => { fake.headersHook = fn; } },
        setPermissionRequestHandler: (fn: typeof fake.permissionHook) => { fake.permissionHook = fn; },
      },
    },
    utilityProcess: {
      fork: (p: string) => {
        const child = Object.assign(new EE(), { pid: 1000 + fake.forks.length, postMessage: vi.fn(), kill: vi.fn(() => true) });
        fake.forks.push({ path: p, child });
        return child;
      },
    },
  };
});

const { startWorkbench, IPC_CHANNELS, IpcRefused, appPaths } = await import('../../electron/main/app');
const { SettingsStore, MAX_RECENT_SESSIONS } = await import('../../electron/main/settings');

const mainDir = path.resolve(__dirname, '../../dist/electron/main');
const paths = appPaths(mainDir);
const appUrl = pathToFileURL(paths.rendererIndex).toString();

type Win = { webContents: FakeContents; emit(e: string): void };
let win: Win;

beforeAll(async () => {
  fake.userData = userData;
  startWorkbench(mainDir);
  await new Promise((r) => setTimeout(r, 0));
  win = fake.windows[0]!.win as Win;
  win.webContents.mainFrame.url = appUrl;
});

describe('the window', () => {
  it('is created isolated and sandboxed, with the preload and no Node', () => {
    expect(fake.windows).toHaveLength(1);
    const prefs = fake.windows[0]!.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false,
      preload: paths.preload,
    });
    expect((win as unknown as { loadFile: ReturnType<typeof vi.fn> }).loadFile).toHaveBeenCalledWith(paths.rendererIndex);
  });

  it('blocks navigation away from the app, new windows and webviews, on every web contents', () => {
    const contents = fakeContents();
    (fake.app as EventEmitter).emit('web-contents-created', {}, contents);
    const away = { preventDefault: vi.fn() };
    contents.emit('will-navigate', away, 'https://example.com/');
    expect(away.preventDefault).toHaveBeenCalled();
    const home = { preventDefault: vi.fn() };
    contents.emit('will-navigate', home, appUrl);
    expect(home.preventDefault).not.toHaveBeenCalled();
    const redirect = { preventDefault: vi.fn() };
    contents.emit('will-redirect', redirect, 'file:///etc/passwd');
    expect(redirect.preventDefault).toHaveBeenCalled();
    const webview = { preventDefault: vi.fn() };
    contents.emit('will-attach-webview', webview);
    expect(webview.preventDefault).toHaveBeenCalled();
    expect(contents.openHandler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
  });

  it('adds the strict CSP to responses and refuses permission requests', () => {
    let headers: Record<string, string[]> = {};
    fake.headersHook!({ responseHeaders: {} }, (r) => { headers = (r as { responseHeaders: Record<string, string[]> }).responseHeaders; });
    expect(headers['Content-Security-Policy']![0]).toMatch(/script-src 'self';/);
    expect(headers['Content-Security-Policy']![0]).not.toMatch(/unsafe-eval/);
    let granted: boolean | null = null;
    fake.permissionHook!({}, 'media', (ok) => { granted = ok; });
    expect(granted).toBe(false);
  });
});

describe('IPC', () => {
  const trustedEvent = () => ({ sender: win.webContents, senderFrame: win.webContents.mainFrame });

  it('registers a handler for every channel the preload uses', () => {
    expect([...fake.handlers.keys()].sort()).toEqual(Object.keys(IPC_CHANNELS).sort());
    const preload = fs.readFileSync(path.resolve(__dirname, '../../electron/preload/preload.ts'), 'utf8');
    for (const ch of preload.match(/workbench:[a-z-]+/g)!) {
      if (['workbench:port', 'workbench:host-status', 'workbench:menu'].includes(ch)) continue; // main → renderer
      expect(Object.keys(IPC_CHANNELS)).toContain(ch);
    }
  });

  it('answers the app window', async () => {
    const recent = await fake.handlers.get('workbench:recent-sessions')!(trustedEvent());
    expect(Array.isArray(recent)).toBe(true);
    const chosen = await fake.handlers.get('workbench:choose-session')!(trustedEvent());
    expect(chosen).toBe('/tmp/chosen.jsonl');
    expect(await fake.handlers.get('workbench:recent-sessions')!(trustedEvent())).toEqual(['/tmp/chosen.jsonl']);
  });

  it('refuses other senders, other pages and malformed arguments', () => {
    const other = fakeContents();
    const call = (event: unknown, ...args: unknown[]) => () => fake.handlers.get('workbench:save-csv')!(event, ...args);
    expect(call({ sender: other, senderFrame: { url: appUrl } }, 'a,b')).toThrow(IpcRefused);
    expect(call({ sender: win.webContents, senderFrame: { url: 'https://example.com/' } }, 'a,b')).toThrow(/untrusted sender/);
    expect(call({ sender: win.webContents, senderFrame: null }, 'a,b')).toThrow(IpcRefused);
    // A frame inside the page, even on the app's own URL, is not the page.
    expect(call({ sender: win.webContents, senderFrame: { url: appUrl } }, 'a,b')).toThrow(/untrusted sender/);
    expect(call(trustedEvent(), 42)).toThrow(/invalid arguments/);
    expect(call(trustedEvent(), 'a', 'b')).toThrow(/invalid arguments/);
  });
});

describe('menus', () => {
  it('has File (new listener, open session, recent, save recording as, export CSV), View and Help', () => {
    const template = fake.menus.at(-1) as Array<{ label?: string; role?: string; submenu?: Array<{ label?: string }> }>;
    const file = template.find((m) => m.label === 'File')!;
    const labels = file.submenu!.map((i) => i.label).filter(Boolean);
    expect(labels).toEqual(expect.arrayContaining(['New listener…', 'Open session…', 'Open recent', 'Save recording as…', 'Export CSV…']));
    expect(template.find((m) => m.label === 'View')).toBeTruthy();
    const help = template.find((m) => m.role === 'help')!;
    expect(help.submenu!.map((i) => i.label)).toEqual(['Platform notes', 'About Accept Workbench']);
  });

  it('sends menu actions to the renderer', () => {
    const template = fake.menus.at(-1) as Array<{ label?: string; submenu?: Array<{ label?: string; click?: () => void }> }>;
    const file = template.find((m) => m.label === 'File')!;
    file.submenu!.find((i) => i.label === 'New listener…')!.click!();
    expect(win.webContents.send).toHaveBeenCalledWith('workbench:menu', { action: 'new-listener' });
    // The platform notes are the renderer's bundled copy (docs/ is inside app.asar when packaged).
    const help = template.find((m) => (m as { role?: string }).role === 'help')!;
    help.submenu!.find((i) => i.label === 'Platform notes')!.click!();
    expect(win.webContents.send).toHaveBeenCalledWith('workbench:menu', { action: 'platform-notes' });
  });
});

describe('the host in a utilityProcess', () => {
  it('is forked at start and connected to the page with a MessagePort', () => {
    expect(fake.forks).toHaveLength(1);
    expect(fake.forks[0]!.path).toBe(paths.hostMain);
    win.webContents.emit('did-finish-load');
    const child = fake.forks[0]!.child as { postMessage: ReturnType<typeof vi.fn> };
    expect(child.postMessage).toHaveBeenCalledWith({ connect: true }, [{ name: 'port1' }]);
    expect(win.webContents.postMessage).toHaveBeenCalledWith('workbench:port', null, [{ name: 'port2' }]);
  });

  it('a host that dies: the page is told, a new host starts, and what was lost is offered back', async () => {
    const child = fake.forks[0]!.child as EventEmitter;
    const lost = { listeners: [{ options: { address: '127.0.0.1', port: 7000 }, script: null }], recording: '/tmp/r.jsonl' };
    child.emit('message', { lost });
    child.emit('exit', 9);
    expect(win.webContents.send).toHaveBeenCalledWith('workbench:host-status', expect.objectContaining({ state: 'disconnected' }));
    await vi.waitFor(() => expect(fake.forks).toHaveLength(2), { timeout: 3000 });
    expect(win.webContents.send).toHaveBeenCalledWith('workbench:host-status', expect.objectContaining({ state: 'restarted', lost }));
    const second = fake.forks[1]!.child as { postMessage: ReturnType<typeof vi.fn> };
    expect(second.postMessage).toHaveBeenCalledWith({ connect: true }, [{ name: 'port1' }]);
    expect(win.webContents.postMessage).toHaveBeenCalledTimes(2);
  });
});

describe('settings', () => {
  it('remembers the window size when it closes', () => {
    win.emit('close');
    const saved = JSON.parse(fs.readFileSync(path.join(userData, 'settings.json'), 'utf8')) as { window: unknown };
    expect(saved.window).toEqual({ width: 1111, height: 777, x: 10, y: 20, maximized: false });
  });

  it('a damaged settings file means defaults; recent sessions are unique, newest first, capped', () => {
    const file = path.join(userData, 'other.json');
    fs.writeFileSync(file, '{"window": {"width": "wide"}');
    const s = new SettingsStore(file);
    expect(s.settings.window.width).toBe(1400);
    for (let i = 0; i < MAX_RECENT_SESSIONS + 3; i++) s.addRecentSession(`/s/${i}.jsonl`);
    s.addRecentSession('/s/5.jsonl');
    const again = new SettingsStore(file).settings.recentSessions;
    expect(again[0]).toBe('/s/5.jsonl');
    expect(again).toHaveLength(MAX_RECENT_SESSIONS);
    expect(new Set(again).size).toBe(again.length);
  });
});

describe('policy, dev server, window position', () => {
  it('the dev server gets its inline preamble and websocket; the packaged policy stays strict', async () => {
    const { contentSecurityPolicy, devServerUrl } = await import('../../electron/main/security');
    const strict = contentSecurityPolicy();
    expect(strict).toMatch(/script-src 'self';/);
    expect(strict).toMatch(/connect-src 'self';/);
    const dev = contentSecurityPolicy({ url: 'http://127.0.0.1:5173/' });
    expect(dev).toMatch(/script-src 'self' 'unsafe-inline';/);
    expect(dev).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:5173;/);
    expect(contentSecurityPolicy({ url: 'http://127.0.0.1:5173/', scriptHashes: ['sha256-' + 'A'.repeat(43) + '='] })).toMatch(/script-src 'self' 'sha256-A+=';/);
    expect(devServerUrl(false, 'http://127.0.0.1:5173/')).toEqual({ url: 'http://127.0.0.1:5173/', refused: null });
    expect(devServerUrl(false, undefined)).toEqual({ url: null, refused: null });
    expect(devServerUrl(true, 'http://127.0.0.1:5173/').refused).toMatch(/packaged/);
    expect(devServerUrl(false, 'https://example.com/').refused).toMatch(/on this machine/);
    expect(devServerUrl(false, 'not a url').refused).toMatch(/not a URL/);
  });

  it('a saved position no display shows any more is dropped (the size stays)', async () => {
    const { onScreenBounds } = await import('../../electron/main/security');
    const screen = [{ x: 0, y: 0, width: 1920, height: 1080 }];
    expect(onScreenBounds({ width: 1200, height: 800, x: 100, y: 50 }, screen)).toEqual({ width: 1200, height: 800, x: 100, y: 50 });
    expect(onScreenBounds({ width: 1200, height: 800, x: 2500, y: 50 }, screen)).toEqual({ width: 1200, height: 800 });
    expect(onScreenBounds({ width: 1200, height: 800, x: 100, y: -900 }, screen)).toEqual({ width: 1200, height: 800 });
    expect(onScreenBounds({ width: 1200, height: 800 }, screen)).toEqual({ width: 1200, height: 800 });
  });

  it('a second start focuses the first window', () => {
    const w = win as unknown as { restore: ReturnType<typeof vi.fn>; focus: ReturnType<typeof vi.fn> };
    (fake.app as EventEmitter).emit('second-instance');
    expect(w.restore).toHaveBeenCalled();
    expect(w.focus).toHaveBeenCalled();
  });
});

describe('a host that keeps dying', () => {
  it('is left down with one status saying so; a reconnect starts it afresh', async () => {
    const { ElectronHostSupervisor } = await import('../../electron/main/host-process');
    const children: Array<EventEmitter & { postMessage: ReturnType<typeof vi.fn>; kill: ReturnType<typeof vi.fn> }> = [];
    const sup = new ElectronHostSupervisor({
      fork: () => {
        const c = Object.assign(new EventEmitter(), { pid: 1, postMessage: vi.fn(), kill: vi.fn(() => true) });
        children.push(c);
        return c;
      },
      newChannel: () => ({ port1: {}, port2: {} }),
    } as never, '/host.js');
    const statuses: Array<{ state: string; reason?: string }> = [];
    const link = { sendPort: vi.fn(), sendStatus: (s: { state: string; reason?: string }) => { statuses.push(s); } };
    sup.start();
    sup.connect(link);
    vi.useFakeTimers();
    try {
      for (let i = 0; i < 6; i++) {
        children.at(-1)!.emit('exit', 1);
        await vi.advanceTimersByTimeAsync(2000);
      }
    } finally {
      vi.useRealTimers();
    }
    expect(children).toHaveLength(6); // the first and five restarts
    const down = statuses.filter((s) => s.state === 'disconnected');
    expect(down).toHaveLength(6);
    expect(down.at(-1)!.reason).toMatch(/failed 5 times within a minute and was not restarted/);
    // Reconnect (a reload) connects again: a new host, the reason and a port.
    sup.connect(link);
    expect(children).toHaveLength(7);
    expect(statuses.at(-1)).toMatchObject({ state: 'restarted' });
    expect(children[6]!.postMessage).toHaveBeenCalledWith({ connect: true }, [{}]);
  });
});

describe('quitting', () => {
  it('asks the host to close cleanly, waits for it, then quits; a host that hangs is killed', async () => {
    const app = fake.app as EventEmitter & { quit: ReturnType<typeof vi.fn> };
    const child = fake.forks.at(-1)!.child as EventEmitter & { postMessage: ReturnType<typeof vi.fn>; kill: ReturnType<typeof vi.fn> };
    const first = { preventDefault: vi.fn() };
    app.emit('before-quit', first);
    expect(first.preventDefault).toHaveBeenCalled();
    expect(child.postMessage).toHaveBeenCalledWith({ shutdown: true });
    expect(app.quit).not.toHaveBeenCalled();
    // Quit asked again while the host closes: still waiting for it, and asked only once.
    const again = { preventDefault: vi.fn() };
    app.emit('before-quit', again);
    expect(again.preventDefault).toHaveBeenCalled();
    expect(child.postMessage.mock.calls.filter(([m]) => (m as { shutdown?: boolean }).shutdown)).toHaveLength(1);
    child.emit('exit', 0);
    await vi.waitFor(() => expect(app.quit).toHaveBeenCalled());
    expect(child.kill).not.toHaveBeenCalled();
    // The quit that follows goes through.
    const second = { preventDefault: vi.fn() };
    app.emit('before-quit', second);
    expect(second.preventDefault).not.toHaveBeenCalled();
  });

  it('the supervisor kills a host that does not exit in time', async () => {
    const { ElectronHostSupervisor } = await import('../../electron/main/host-process');
    const c = Object.assign(new EventEmitter(), { pid: 1, postMessage: vi.fn(), kill: vi.fn(() => true) });
    const sup = new ElectronHostSupervisor({ fork: () => c, newChannel: () => ({ port1: {}, port2: {} }) } as never, '/host.js');
    sup.start();
    const started = Date.now();
    await sup.shutdown(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(c.postMessage).toHaveBeenCalledWith({ shutdown: true });
    expect(c.kill).toHaveBeenCalled();
  });
});
