// Entry point of the host process: one AcceptHost, many UI connections, in plain Node (no Electron
// import, so `serve` can run it with child_process.fork). Two ways in:
//  - a Node child with an IPC channel: UI connections are multiplexed over it (electron/host/ipc.ts);
//  - an Electron utilityProcess (`process.parentPort` exists): each message that carries a
//    MessagePortMain is one UI connection on that port.
// Either way it says {ready:true} once QuickJS is loaded and {lost} whenever what a crash would
// lose changes, and on SIGTERM / SIGINT (or when the parent goes away, or — utilityProcess — when
// the parent posts {shutdown:true}, as the desktop app does on quit) it closes the host — which
// stops the listeners and ends the recording with its `end` record — and exits 0.
import { AcceptHost } from './host';
import { attachConnection, type HostConnection } from './connection';
import { ParentToHostSchema, type HostToParent } from './ipc';
import { loadSandbox } from './script/sandbox';
import { APP_VERSION } from '../cli/version';
import { BaseTransport, type Transport } from '../protocol/transport';

// ---- Electron utilityProcess shapes (local and minimal: this file must not import electron) -----

interface PortMainLike {
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  start(): void;
  postMessage(message: unknown): void;
  close(): void;
}

interface ParentPortLike {
  on(event: 'message', listener: (e: { data: unknown; ports: PortMainLike[] }) => void): unknown;
  postMessage(message: unknown): void;
}

// ---- transports ---------------------------------------------------------------------------------

/** One UI connection multiplexed over the IPC channel. */
class ChannelTransport extends BaseTransport {
  constructor(private readonly conn: number, private readonly post: (m: HostToParent) => void) {
    super();
  }
  send(message: unknown): void {
    if (!this.closed) this.post({ conn: this.conn, msg: message });
  }
  receive(message: unknown): void { this.deliver(message); }
  /** The supervisor closed the connection. */
  remoteClose(): void { this.closedBy('ui closed'); }
  protected doClose(): void { this.post({ conn: this.conn, close: true }); }
}

/** A MessagePortMain as a Transport (Electron's port has `.on`, the DOM's `addEventListener`). */
class PortMainTransport extends BaseTransport {
  constructor(private readonly port: PortMainLike) {
    super();
    port.on('message', (e) => this.deliver(e.data));
    port.on('close', () => this.closedBy('port closed'));
    port.start();
  }
  send(message: unknown): void {
    if (!this.closed) this.port.postMessage(message);
  }
  protected doClose(): void { this.port.close(); }
}

// ---- the process ----------------------------------------------------------------------------------

/** Installs the clean shutdown on signals and a lost parent, and returns it for other callers. */
function onShutdown(host: () => AcceptHost | null): () => void {
  let done = false;
  const shutdown = (): void => {
    if (done) return;
    done = true;
    // close() is synchronous: listeners stopped, recording flushed and ended before we exit.
    host()?.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // An IPC parent that dies (even by SIGKILL) closes the channel: do not outlive it.
  process.on('disconnect', shutdown);
  return shutdown;
}

/** The utilityProcess parent's request to close cleanly (electron/main/host-process.ts). */
function isShutdownRequest(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { shutdown?: unknown }).shutdown === true;
}

async function runChild(): Promise<void> {
  let host: AcceptHost | null = null;
  const post = (m: HostToParent): void => {
    // send() on a closed channel emits 'error' on process, which would crash us while exiting.
    if (process.connected) process.send!(m);
  };
  onShutdown(() => host);
  const conns = new Map<number, { transport: ChannelTransport; connection: HostConnection }>();
  // Messages can arrive while QuickJS loads; they are handled in order once the host exists.
  const early: unknown[] = [];

  const handle = (raw: unknown): void => {
    const parsed = ParentToHostSchema.safeParse(raw);
    if (!parsed.success || !host) return; // only the supervisor writes here; ignore garbage
    const m = parsed.data;
    if ('open' in m) {
      if (conns.has(m.conn)) return;
      const transport = new ChannelTransport(m.conn, post);
      const connection = attachConnection(host, transport);
      conns.set(m.conn, { transport, connection });
      // A transport has one close handler: this replaces attachConnection's, so dispose here.
      transport.onClose(() => { conns.delete(m.conn); connection.dispose(); });
    } else if ('close' in m) {
      conns.get(m.conn)?.transport.remoteClose();
    } else {
      conns.get(m.conn)?.transport.receive(m.msg);
    }
  };
  process.on('message', (raw: unknown) => {
    if (host) handle(raw);
    else early.push(raw);
  });

  const sandbox = await loadSandbox();
  host = new AcceptHost({ sandbox, appVersion: APP_VERSION });
  host.onStateChange = (lost) => post({ lost });
  for (const m of early.splice(0)) handle(m);
  post({ ready: true });
}

async function runUtility(parentPort: ParentPortLike): Promise<void> {
  let host: AcceptHost | null = null;
  const shutdown = onShutdown(() => host);
  const early: PortMainLike[] = [];
  const open = (port: PortMainLike): void => {
    const transport: Transport = new PortMainTransport(port);
    attachConnection(host!, transport); // it disposes itself when the port closes
  };
  parentPort.on('message', (e) => {
    if (isShutdownRequest(e.data)) {
      shutdown();
      return;
    }
    const port = e.ports?.[0];
    if (!port) return;
    if (host) open(port);
    else early.push(port);
  });
  const sandbox = await loadSandbox();
  host = new AcceptHost({ sandbox, appVersion: APP_VERSION });
  host.onStateChange = (lost) => parentPort.postMessage({ lost });
  for (const port of early.splice(0)) open(port);
  parentPort.postMessage({ ready: true });
}

function start(): void {
  const parentPort = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
  let run: Promise<void>;
  if (parentPort) run = runUtility(parentPort);
  else if (process.send) run = runChild();
  else {
    process.stderr.write('accept-workbench host: start me with child_process.fork or as an Electron utilityProcess\n');
    process.exit(2);
  }
  run.catch((e: unknown) => {
    // Startup failed (QuickJS did not load): one line; the supervisor decides what to do.
    process.stderr.write(`accept-workbench host: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}

start();
