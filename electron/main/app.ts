// The Electron main process: one window, the host in a utilityProcess, menus, dialogs and the
// few IPC calls the preload exposes. Thin by design: no socket or script logic lives here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BrowserWindow, Menu, MessageChannelMain, app, dialog, ipcMain, screen, session, utilityProcess,
  type IpcMainInvokeEvent, type WebContents,
} from 'electron';
import { z } from 'zod';
import { contentSecurityPolicy, devServerUrl, hardenContents, isAppUrl, onScreenBounds, windowOptions } from './security';
import { SettingsStore } from './settings';
import { menuTemplate, type MenuAction } from './menu';
import { ElectronHostSupervisor } from './host-process';
import { APP_VERSION } from '../cli/version';

/** Where the compiled app lives: dist/electron/main → the package root is three levels up. */
export interface AppPaths {
  root: string;
  preload: string;
  hostMain: string;
  rendererIndex: string;
}

export function appPaths(mainDir: string): AppPaths {
  const root = path.resolve(mainDir, '../../..');
  return {
    root,
    preload: path.join(mainDir, '../preload/preload.js'),
    hostMain: path.join(mainDir, '../host/main.js'),
    rendererIndex: path.join(root, 'dist/renderer/index.html'),
  };
}

/** Every IPC channel the preload may use, and what its arguments must look like. */
export const IPC_CHANNELS = {
  'workbench:choose-session': z.tuple([]),
  'workbench:choose-recording': z.tuple([]),
  'workbench:save-csv': z.tuple([z.string().max(512 * 1024 * 1024)]),
  'workbench:recent-sessions': z.tuple([]),
} as const;
export type IpcChannel = keyof typeof IPC_CHANNELS;

export class IpcRefused extends Error {}

/**
 * Registers the IPC handlers. Each checks, before anything else, that the message comes from the
 * app's own window and page, and that its arguments have the expected shape.
 */
export function registerIpc(
  ipc: { handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void },
  trusted: (event: IpcMainInvokeEvent) => boolean,
  handlers: { [C in IpcChannel]: (...args: z.infer<(typeof IPC_CHANNELS)[C]>) => unknown },
): void {
  for (const channel of Object.keys(IPC_CHANNELS) as IpcChannel[]) {
    ipc.handle(channel, (event, ...args) => {
      if (!trusted(event)) throw new IpcRefused(`${channel}: refused a message from an untrusted sender`);
      const parsed = IPC_CHANNELS[channel].safeParse(args);
      if (!parsed.success) throw new IpcRefused(`${channel}: invalid arguments`);
      return (handlers[channel] as (...a: unknown[]) => unknown)(...parsed.data);
    });
  }
}

/** How long the host gets to close cleanly on quit (listeners stopped, recording ended). */
const HOST_SHUTDOWN_MS = 2000;

export function startWorkbench(mainDir: string): void {
  // One app at a time: a second start focuses the first one's window (and shares its settings).
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  const paths = appPaths(mainDir);
  const dev = devServerUrl(app.isPackaged, process.env.AW_DEV_URL);
  if (dev.refused) process.stderr.write(`accept-workbench: ${dev.refused}\n`);
  const devUrl = dev.url ?? undefined;
  const appUrl = devUrl ?? pathToFileURL(paths.rendererIndex).toString();
  let win: BrowserWindow | null = null;
  let settings: SettingsStore;
  const supervisor = new ElectronHostSupervisor(
    { fork: (m) => utilityProcess.fork(m, [], { serviceName: 'Accept Workbench host', stdio: 'inherit' }), newChannel: () => new MessageChannelMain() },
    paths.hostMain,
    (line) => process.stderr.write(`accept-workbench: ${line}\n`),
  );

  // From the app's window, its top frame (not a frame inside it), on the app's own page.
  const trusted = (event: IpcMainInvokeEvent): boolean =>
    win !== null && event.sender === win.webContents && event.senderFrame === win.webContents.mainFrame &&
    isAppUrl(event.senderFrame?.url ?? '', appUrl);

  const send = (action: MenuAction): void => { win?.webContents.send('workbench:menu', action); };
  const chooseSession = async (): Promise<string | null> => {
    if (!win) return null;
    const r = await dialog.showOpenDialog(win, { title: 'Open session', properties: ['openFile'], filters: [{ name: 'Sessions', extensions: ['jsonl', 'json'] }, { name: 'All files', extensions: ['*'] }] });
    const p = r.canceled ? null : r.filePaths[0] ?? null;
    if (p) { settings.addRecentSession(p); buildMenu(); }
    return p;
  };
  const chooseSave = async (title: string, defaultName: string, ext: string): Promise<string | null> => {
    if (!win) return null;
    const r = await dialog.showSaveDialog(win, { title, defaultPath: defaultName, filters: [{ name: ext.toUpperCase(), extensions: [ext] }] });
    return r.canceled ? null : r.filePath ?? null;
  };
  const chooseRecording = (): Promise<string | null> => chooseSave('Save recording as', 'session.jsonl', 'jsonl');
  const showAbout = (): void => {
    if (!win) return;
    void dialog.showMessageBox(win, {
      type: 'info', title: 'About Accept Workbench', message: `Accept Workbench ${APP_VERSION}`,
      detail: `Electron ${process.versions.electron}, Node ${process.versions.node}, ${process.platform} ${process.arch}\n` +
        (process.platform === 'win32' ? 'Backend: Winsock (WSAAccept)' : 'Backend: POSIX emulation of WSAAccept'),
    });
  };
  const buildMenu = (): void => {
    Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate(
      { send, chooseSession, chooseRecording, showAbout, clearRecent: () => { settings.clearRecentSessions(); buildMenu(); } },
      { isMac: process.platform === 'darwin', dev: devUrl !== undefined, recent: settings.settings.recentSessions },
    )));
  };

  const createWindow = (): void => {
    const bounds = onScreenBounds(settings.settings.window, screen.getAllDisplays().map((d) => d.workArea));
    win = new BrowserWindow(windowOptions(paths.preload, bounds));
    const contents: WebContents = win.webContents;
    if (bounds.maximized) win.maximize();
    win.once('ready-to-show', () => win?.show());
    win.on('close', () => {
      if (!win) return;
      const b = win.getNormalBounds();
      settings.rememberWindow({ width: b.width, height: b.height, x: b.x, y: b.y, maximized: win.isMaximized() });
    });
    win.on('closed', () => { win = null; });
    // A new page (reload, first load) needs a new port to the host.
    contents.on('did-finish-load', () => supervisor.connect({
      sendPort: (port) => contents.postMessage('workbench:port', null, [port as Electron.MessagePortMain]),
      sendStatus: (status) => contents.send('workbench:host-status', status),
    }));
    void (devUrl ? win.loadURL(devUrl) : win.loadFile(paths.rendererIndex));
  };

  app.on('second-instance', () => {
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  app.on('web-contents-created', (_e, contents) => hardenContents(contents, appUrl));
  void app.whenReady().then(() => {
    settings = new SettingsStore(path.join(app.getPath('userData'), 'settings.json'));
    // The packaged page carries the policy in a meta tag; headers cover the dev server too, with
    // what its hot reload needs (its inline preamble script, its websocket) and only there.
    // start.mjs hashes the inline scripts of the page the dev server serves; without them (a dev
    // URL set by hand) inline scripts are allowed, still only against the dev server.
    const scriptHashes = (process.env.AW_DEV_SCRIPT_HASHES ?? '').split(/\s+/).filter(Boolean);
    const policy = contentSecurityPolicy(devUrl ? { url: devUrl, scriptHashes } : undefined);
    session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
      cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [policy] } });
    });
    session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
    registerIpc(ipcMain, trusted, {
      'workbench:choose-session': chooseSession,
      'workbench:choose-recording': chooseRecording,
      'workbench:save-csv': async (text: string) => {
        const p = await chooseSave('Export CSV', 'requests.csv', 'csv');
        if (p) await fs.promises.writeFile(p, text);
        return p;
      },
      'workbench:recent-sessions': () => settings.settings.recentSessions,
    });
    buildMenu();
    supervisor.start();
    createWindow();
  });
  app.on('window-all-closed', () => app.quit());
  // On quit the host closes cleanly first (a recording in progress gets its end record); it is
  // killed if it takes longer than HOST_SHUTDOWN_MS. A second quit while it closes (Cmd+Q again)
  // waits too: letting it through would take the host down with the app.
  let hostClosing: 'running' | 'closing' | 'closed' = 'running';
  app.on('before-quit', (e) => {
    if (hostClosing === 'closed') return;
    e.preventDefault();
    if (hostClosing === 'closing') return;
    hostClosing = 'closing';
    void supervisor.shutdown(HOST_SHUTDOWN_MS).then(() => {
      hostClosing = 'closed';
      app.quit();
    });
  });
}
