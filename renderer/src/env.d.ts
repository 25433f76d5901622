// Globals the renderer may find. In Electron the preload (electron/preload/) exposes
// `window.workbench` through contextBridge; in a browser (`accept-workbench serve`) it is absent
// and the renderer opens a WebSocket instead.
/// <reference types="vite/client" />

/** What the preload hands over: a transport to the host, already connected to its MessagePort. */
interface WorkbenchPreloadTransport {
  send(message: unknown): void;
  onMessage(handler: (message: unknown) => void): void;
  onClose(handler: (reason: string) => void): void;
  close(reason?: string): void;
}

/** electron/preload/preload.ts. Only `transport` is required; the rest are Electron-only extras. */
interface WorkbenchPreload {
  transport(): WorkbenchPreloadTransport;
  chooseSession?(): Promise<string | null>;
  chooseRecording?(): Promise<string | null>;
  saveCsv?(text: string): Promise<string | null>;
  recentSessions?(): Promise<string[]>;
  onMenu?(handler: (action: unknown) => void): void;
}

interface Window {
  workbench?: WorkbenchPreload;
}
