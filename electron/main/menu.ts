// The application menu. Actions that belong to the UI (new listener, open a session, ...) are
// sent to the renderer, which owns the state; the menu only asks.
import type { MenuItemConstructorOptions } from 'electron';

export type MenuAction =
  | { action: 'new-listener' }
  | { action: 'open-session'; path: string }
  | { action: 'record-to'; path: string }
  | { action: 'export-csv' }
  | { action: 'platform-notes' };

export interface MenuHandlers {
  /** Sends an action to the renderer. */
  send(action: MenuAction): void;
  chooseSession(): Promise<string | null>;
  chooseRecording(): Promise<string | null>;
  showAbout(): void;
  clearRecent(): void;
}

export function menuTemplate(h: MenuHandlers, opts: { isMac: boolean; dev: boolean; recent: string[] }): MenuItemConstructorOptions[] {
  const openSession = async (): Promise<void> => {
    const p = await h.chooseSession();
    if (p) h.send({ action: 'open-session', path: p });
  };
  const recent: MenuItemConstructorOptions[] = opts.recent.length === 0
    ? [{ label: 'No recent sessions', enabled: false }]
    : [
      ...opts.recent.map((p): MenuItemConstructorOptions => ({ label: p, click: () => h.send({ action: 'open-session', path: p }) })),
      { type: 'separator' },
      { label: 'Clear recent', click: () => h.clearRecent() },
    ];
  const file: MenuItemConstructorOptions = {
    label: 'File',
    submenu: [
      { label: 'New listener…', accelerator: 'CmdOrCtrl+N', click: () => h.send({ action: 'new-listener' }) },
      { label: 'Open session…', accelerator: 'CmdOrCtrl+O', click: () => { void openSession(); } },
      { label: 'Open recent', submenu: recent },
      { type: 'separator' },
      {
        label: 'Save recording as…', accelerator: 'CmdOrCtrl+Shift+S',
        click: () => { void h.chooseRecording().then((p) => { if (p) h.send({ action: 'record-to', path: p }); }); },
      },
      { label: 'Export CSV…', accelerator: 'CmdOrCtrl+E', click: () => h.send({ action: 'export-csv' }) },
      { type: 'separator' },
      opts.isMac ? { role: 'close' } : { role: 'quit' },
    ],
  };
  const view: MenuItemConstructorOptions = {
    label: 'View',
    submenu: [
      ...(opts.dev ? [{ role: 'reload' } as const, { role: 'toggleDevTools' } as const, { type: 'separator' } as const] : []),
      { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  };
  const help: MenuItemConstructorOptions = {
    role: 'help',
    submenu: [
      // The renderer shows its bundled copy: docs/ sits inside app.asar, where no other program can open it.
      { label: 'Platform notes', click: () => h.send({ action: 'platform-notes' }) },
      { label: 'About Accept Workbench', click: () => h.showAbout() },
    ],
  };
  return [...(opts.isMac ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []), file, { role: 'editMenu' }, view, help];
}
