// Preload (sandboxed): the renderer's only way out. Exposes `window.workbench` with a transport to
// the host over the MessagePort the main process hands over, and the few dialogs the main process
// offers. Nothing else: no Node, no ipcRenderer. A sandboxed preload can require only 'electron',
// so this file imports nothing else at run time.
import { contextBridge, ipcRenderer } from 'electron';

type Handler = (message: unknown) => void;
/** The DOM MessagePort, as much of it as is used (the main tsconfig has no DOM types). */
interface Port {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: unknown): void;
  start(): void;
  close(): void;
}

let port: Port | null = null;
let onMessage: Handler | null = null;
let onClose: ((reason: string) => void) | null = null;
let early: unknown[] = [];
let queued: unknown[] = [];
let closed = false;

function deliver(message: unknown): void {
  if (onMessage) onMessage(message);
  else early.push(message);
}

ipcRenderer.on('workbench:port', (event) => {
  const next = (event.ports as unknown as Port[])[0];
  if (!next) return;
  port?.close();
  port = next;
  port.onmessage = (e) => deliver(e.data);
  port.start();
  const q = queued;
  queued = [];
  for (const m of q) port.postMessage(m);
});

ipcRenderer.on('workbench:host-status', (_event, status: { state: string; reason?: string; lost?: unknown }) => {
  if (status.state === 'disconnected') { port?.close(); port = null; }
  deliver({ kind: 'host-status', ...status });
});

contextBridge.exposeInMainWorld('workbench', {
  transport: () => ({
    send: (message: unknown) => {
      if (closed) return;
      if (port) port.postMessage(message);
      else queued.push(message);
    },
    onMessage: (handler: Handler) => {
      onMessage = handler;
      const e = early;
      early = [];
      for (const m of e) handler(m);
    },
    onClose: (handler: (reason: string) => void) => { onClose = handler; },
    // The renderer's reason (renderer/src/env.d.ts) reaches its own onClose handler.
    close: (reason?: unknown) => {
      if (closed) return;
      closed = true;
      port?.close();
      port = null;
      onClose?.(typeof reason === 'string' && reason !== '' ? reason.slice(0, 1000) : 'closed');
    },
  }),
  chooseSession: (): Promise<string | null> => ipcRenderer.invoke('workbench:choose-session'),
  chooseRecording: (): Promise<string | null> => ipcRenderer.invoke('workbench:choose-recording'),
  saveCsv: (text: string): Promise<string | null> => ipcRenderer.invoke('workbench:save-csv', text),
  recentSessions: (): Promise<string[]> => ipcRenderer.invoke('workbench:recent-sessions'),
  onMenu: (handler: (action: unknown) => void) => { ipcRenderer.on('workbench:menu', (_e, action: unknown) => handler(action)); },
});
