// The accept host in an Electron utilityProcess, and the MessagePort that connects it to the
// window. If the host dies the window is told (host-status: disconnected), a new host is started
// after a short pause, and the window gets a fresh port plus what the old host was running
// (host-status: restarted, lost) so the UI can offer to start it again. Listeners are not
// restarted behind the user's back.
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

export class ElectronHostSupervisor {
  private child: UtilityProcessLike | null = null;
  private lost: LostState = { listeners: [], recording: null };
  private restarts: number[] = [];
  private stopping = false;
  private link: WindowLink | null = null;

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
    if (!this.child) return;
    const { port1, port2 } = this.electron.newChannel();
    this.child.postMessage({ connect: true }, [port1]);
    link.sendPort(port2);
  }

  stop(): void {
    this.stopping = true;
    this.child?.kill();
    this.child = null;
  }

  private exited(child: UtilityProcessLike, code: number): void {
    if (child !== this.child || this.stopping) return;
    this.child = null;
    const reason = `the host process exited (code ${code})`;
    this.log(reason);
    this.link?.sendStatus({ state: 'disconnected', reason });
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.restarts.length >= MAX_RESTARTS) {
      this.link?.sendStatus({ state: 'disconnected', reason: `${reason}; it failed ${MAX_RESTARTS} times within a minute and was not restarted` });
      return;
    }
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
}
