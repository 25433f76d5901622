// The Electron main process: one window, the host in a utilityProcess, menus, dialogs and the
// few IPC calls the preload exposes. Thin by design: no socket or script logic lives here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BrowserWindow, Menu, MessageChannelMain, app, dialog, ipcMain, session, shell, utilityProcess,
  type IpcMainInvokeEvent, type WebContents,
} from 'electron';
import { z } from 'zod';
import { CONTENT_SECURITY_POLICY, hardenContents, isAppUrl, windowOptions } from './security';
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
  platformNotes: string;
}

export function appPaths(mainDir: string): AppPaths {
  const root = path.resolve(mainDir, '../../..');
  return {
    root,
    preload: path.join(mainDir, '../preload/preload.js'),
    hostMain: path.join(mainDir, '../host/main.js'),
    rendererIndex: path.join(root, 'dist/renderer/index.html'),
    platformNotes: path.join(root, 'docs/platforms.md'),
  };
}

/** Every IPC channel the preload may use, and what its arguments must look like. */
export const IPC_CHANNELS = {
  'workbench:choose-session': z.tuple([]),
  'workbench:choose-recording': z.tuple([]),
  'workbench:save-csv': z.tuple([z.string().max(512 * 1024 * 1024)]),
  'workbench:recent-sessions': z.tuple([]),
  'workbench:platform-notes': z.tuple([]),
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

export function startWorkbench(mainDir: string): void {
  const paths = appPaths(mainDir);
  const devUrl = process.env.AW_DEV_URL;
  const appUrl = devUrl ?? pathToFileURL(paths.rendererIndex).toString();
  let win: BrowserWindow | null = null;
  let settings: SettingsStore;
  const supervisor = new ElectronHostSupervisor(
    { fork: (m) => utilityProcess.fork(m, [], { serviceName: 'Accept Workbench host', stdio: 'inherit' }), newChannel: () => new MessageChannelMain() },
    paths.hostMain,
    (line) => process.stderr.write(`accept-workbench: ${line}\n`),
  );

  const trusted = (event: IpcMainInvokeEvent): boolean =>
    win !== null && event.sender === win.webContents && isAppUrl(event.senderFrame?.url ?? '', appUrl);

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
  const openPlatformNotes = (): void => { void shell.openPath(paths.platformNotes); };
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
      { send, chooseSession, chooseRecording, openPlatformNotes, showAbout, clearRecent: () => { settings.clearRecentSessions(); buildMenu(); } },
      { isMac: process.platform === 'darwin', dev: devUrl !== undefined, recent: settings.settings.recentSessions },
    )));
  };

  const createWindow = (): void => {
    const bounds = settings.settings.window;
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

  app.on('web-contents-created', (_e, contents) => hardenContents(contents, appUrl));
  void app.whenReady().then(() => {
    settings = new SettingsStore(path.join(app.getPath('userData'), 'settings.json'));
    // The packaged page carries the policy in a meta tag; headers cover the dev server too.
    session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
      cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
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
      'workbench:platform-notes': openPlatformNotes,
    });
    buildMenu();
    supervisor.start();
    createWindow();
  });
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', () => supervisor.stop());
}
