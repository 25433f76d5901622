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
  setWindowOpenHandler(h: (d: { url: string }) => { action: string }): void;
}

function fakeContents(): FakeContents {
  const c = new EventEmitter() as FakeContents;
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
    shell: { openPath: vi.fn(() => Promise.resolve('')) },
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
  const trustedEvent = () => ({ sender: win.webContents, senderFrame: { url: appUrl } });

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
