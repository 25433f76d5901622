// The accept host in an Electron utilityProcess, and the MessagePort that connects it to the
// window. If the host dies the window is told (host-status: disconnected), a new host is started
// after a short pause, and the window gets a fresh port plus what the old host was running
// (host-status: restarted, lost) so the UI can offer to start it again. Listeners are not
// restarted behind the user's back. A host that keeps dying is left down after MAX_RESTARTS within a
// minute; the next page that connects (Reconnect reloads the page) starts it afresh. On quit the
// host is asked to shut down cleanly, so a recording in progress gets its `end` record.
import type { LostState } from '../protocol/schema';

/** The parts of Electron used here (injected, so this can be tested without an Electron binary). */
export interface UtilityProcessLike {
  pid?: number;
  postMessage(message: unknown, transfer?: unknown[]): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  kill(): boolean;
}
export interface HostElectron {
  fork(modulePath: string): UtilityProcessLike;
  newChannel(): { port1: unknown; port2: unknown };
}
export interface WindowLink {
  /** Hands the renderer its end of a new channel. */
  sendPort(port: unknown): void;
  /** host-status messages for the renderer's transport. */
  sendStatus(status: { state: 'disconnected' | 'restarted'; reason?: string; lost?: LostState }): void;
}

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** Understood by the host's utilityProcess entry (electron/host/main.ts): close cleanly and exit. */
export const HOST_SHUTDOWN_MESSAGE = { shutdown: true } as const;

export class ElectronHostSupervisor {
  private child: UtilityProcessLike | null = null;
  private lost: LostState = { listeners: [], recording: null };
  private restarts: number[] = [];
  private stopping = false;
  private link: WindowLink | null = null;
  /** Why the host was left down after too many crashes; null while it runs or restarts. */
  private gaveUp: string | null = null;

  constructor(private readonly electron: HostElectron, private readonly hostMain: string, private readonly log: (line: string) => void = () => {}) {}

  get pid(): number | undefined { return this.child?.pid; }

  start(): void {
    const child = this.electron.fork(this.hostMain);
    this.child = child;
    child.on('message', (m) => {
      if (typeof m === 'object' && m !== null && 'lost' in m) this.lost = (m as { lost: LostState }).lost;
    });
    child.on('exit', (code) => this.exited(child, code));
    if (this.link) this.connect(this.link);
  }

  /** Connects a window (again after a restart). */
  connect(link: WindowLink): void {
    this.link = link;
    if (!this.child) {
      // A restart already pending connects this link when it runs; after giving up, someone asked
      // to reconnect: start again with a clean slate.
      if (this.gaveUp !== null && !this.stopping) this.restartAfresh();
      return;
    }
    const { port1, port2 } = this.electron.newChannel();
    this.child.postMessage({ connect: true }, [port1]);
    link.sendPort(port2);
  }

  stop(): void {
    this.stopping = true;
    this.child?.kill();
    this.child = null;
  }

  /**
   * Asks the host to close (listeners stopped, recording ended with its `end` record) and exit;
   * kills it if it has not exited after `timeoutMs`. Resolves once it is gone (or killed).
   */
  shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const child = this.child;
    this.child = null;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log(`the host did not exit within ${timeoutMs} ms of the shutdown request; killing it`);
        child.kill();
        resolve();
      }, timeoutMs);
      child.on('exit', () => { clearTimeout(timer); resolve(); });
      try {
        child.postMessage(HOST_SHUTDOWN_MESSAGE);
      } catch {
        clearTimeout(timer);
        child.kill();
        resolve();
      }
    });
  }

  private exited(child: UtilityProcessLike, code: number): void {
    if (child !== this.child || this.stopping) return;
    this.child = null;
    const reason = `the host process exited (code ${code})`;
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.restarts.length >= MAX_RESTARTS) {
      // One status with the final reason: the client keeps the first `disconnected` it gets.
      this.gaveUp = `${reason}; it failed ${MAX_RESTARTS} times within a minute and was not restarted (Reconnect starts it again)`;
      this.log(this.gaveUp);
      this.link?.sendStatus({ state: 'disconnected', reason: this.gaveUp });
      return;
    }
    this.log(reason);
    this.link?.sendStatus({ state: 'disconnected', reason });
    this.restarts.push(now);
    const lost = this.lost;
    this.lost = { listeners: [], recording: null };
    setTimeout(() => {
      if (this.stopping) return;
      const link = this.link;
      this.link = null; // start() must not connect before the status goes out
      this.start();
      if (link) {
        link.sendStatus({ state: 'restarted', reason, lost });
        this.connect(link);
      }
    }, 250 * this.restarts.length);
  }

  /** After giving up: a new host, the restart count cleared, and what the last one lost offered back. */
  private restartAfresh(): void {
    const reason = this.gaveUp ?? undefined;
    this.gaveUp = null;
    this.restarts = [];
    const lost = this.lost;
    this.lost = { listeners: [], recording: null };
    const link = this.link;
    this.link = null; // as in a restart: the status goes out before the port
    this.start();
    if (link) {
      link.sendStatus({ state: 'restarted', ...(reason ? { reason } : {}), lost });
      this.connect(link);
    }
  }
}
