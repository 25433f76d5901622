// The supervisor of the host process (`serve`; the Electron main process plays the same part with a
// utilityProcess). It forks dist/electron/host/main.js and gives each UI connection a virtual
// Transport multiplexed over the one IPC channel (shapes in electron/host/ipc.ts).
//
// Everything entering this process is validated: UI messages against ClientMessageSchema (an
// invalid one is answered here and never forwarded), host messages against ServerMessageSchema.
//
// When the host dies unexpectedly, every open connection is told `host-status: disconnected`; a new
// host is started after a short backoff, and once it is ready each connection gets
// `host-status: restarted` with what the dead host was running (its last LostState) and is opened
// on the new host, which says hello. Listeners are not started again here: the UI offers to. After
// `maxRestarts` restarts within `restartWindowMs` the next crash is final, and clients are told so.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClientMessageSchema, ServerMessageSchema, describeIssues, invalidMessageReply, salvageEventsMessage, type LostState } from '../protocol/schema';
import { BaseTransport, type Transport } from '../protocol/transport';
import { HostToParentSchema, type ParentToHost } from '../host/ipc';

export interface HostProcessOptions {
  /** The host entry script; default: electron/host/main.js next to this build. */
  entry?: string;
  /** Restarts allowed within `restartWindowMs` before giving up (default 5). */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** Delay before the first restart, ms; doubles per recent restart, capped at 2 s (default 100). */
  backoffMs?: number;
  /** A host that has not said ready within this long is killed and counts as a crash (default 30 s). */
  readyTimeoutMs?: number;
  /** stop(): time between SIGTERM and SIGKILL, ms (default 5 s). */
  stopTimeoutMs?: number;
  /** What happens to the host, for the command line to print. */
  onEvent?: (event: HostProcessEvent) => void;
}

export type HostProcessEvent =
  | { type: 'exited'; reason: string; restarting: boolean }
  | { type: 'restarted'; pid: number }
  | { type: 'gave-up'; reason: string }
  | { type: 'warning'; message: string };

const EMPTY_LOST: LostState = { listeners: [], recording: null };

/** One UI connection as the UI side sees it: send() goes to the host, onMessage() comes from it. */
class HostLink extends BaseTransport {
  /** Opened on the current host process (false while it is starting or after it died). */
  onHost = false;

  constructor(readonly conn: number, private readonly owner: HostProcess) {
    super();
  }

  send(message: unknown): void {
    if (!this.closed) this.owner.fromUi(this, message);
  }

  /** A message for the UI. */
  toUi(message: unknown): void { this.deliver(message); }

  /** Closed from this side (stop(), or the host closed the connection). */
  end(reason: string): void { this.closedBy(reason); }

  protected doClose(): void { this.owner.uiClosed(this); }
}

export class HostProcess {
  private readonly entry: string;
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly backoffMs: number;
  private readonly readyTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly onEvent: (event: HostProcessEvent) => void;

  private child: ChildProcess | null = null;
  private childReady = false;
  private readyTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly links = new Map<number, HostLink>();
  private nextConn = 1;
  /** The current host's last report of what a crash would lose. */
  private lost: LostState = EMPTY_LOST;
  /** What a dead host was running, until a new host is ready to be told about it. */
  private pendingLost: LostState | null = null;
  /** When recent restarts happened (ms), for the give-up rule. */
  private restarts: number[] = [];
  private gaveUp: string | null = null;
  private stopping: Promise<void> | null = null;
  private firstStart: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private warnedInvalid = false;

  constructor(opts: HostProcessOptions = {}) {
    this.entry = opts.entry ?? path.resolve(__dirname, '../host/main.js');
    this.maxRestarts = opts.maxRestarts ?? 5;
    this.restartWindowMs = opts.restartWindowMs ?? 60_000;
    this.backoffMs = opts.backoffMs ?? 100;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
    this.onEvent = opts.onEvent ?? (() => {});
  }

  /** The host process id while one runs. */
  get pid(): number | null { return this.child?.pid ?? null; }

  /** What the running host would lose if it died now. */
  get lostState(): LostState { return this.lost; }

  /** Starts the first host; resolves when it is ready, rejects if it dies first. */
  start(): Promise<void> {
    if (this.child || this.stopping) return Promise.reject(new Error('the host process is already started'));
    if (!fs.existsSync(this.entry)) return Promise.reject(new Error(`${this.entry} does not exist (run npm run build:ts)`));
    return new Promise<void>((resolve, reject) => {
      this.firstStart = { resolve, reject };
      this.spawn();
    });
  }

  /** A new UI connection. The host says hello on it once it is ready. */
  connect(): Transport {
    const link = new HostLink(this.nextConn++, this);
    if (this.stopping) {
      link.end('the server is stopping');
      return link;
    }
    this.links.set(link.conn, link);
    if (this.gaveUp !== null) link.toUi({ kind: 'host-status', state: 'disconnected', reason: this.gaveUp });
    else if (this.childReady) this.open(link);
    return link;
  }

  /** Ends the host (SIGTERM, then SIGKILL after the timeout) and closes every connection. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = new Promise<void>((resolve) => {
      if (this.restartTimer) clearTimeout(this.restartTimer);
      if (this.readyTimer) clearTimeout(this.readyTimer);
      this.restartTimer = this.readyTimer = null;
      this.firstStart?.reject(new Error('stopped before the host was ready'));
      this.firstStart = null;
      for (const link of this.links.values()) link.end('the server is stopping');
      this.links.clear();
      const child = this.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const kill = setTimeout(() => child.kill('SIGKILL'), this.stopTimeoutMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
    return this.stopping;
  }

  // ---- traffic ------------------------------------------------------------------------------------

  /** A message from a UI: checked here, so the host only ever sees well-formed ones. */
  fromUi(link: HostLink, raw: unknown): void {
    const parsed = ClientMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.replyLater(link, invalidMessageReply(raw, parsed.error));
      return;
    }
    const m = parsed.data;
    if (!link.onHost) {
      // Between a crash and the restart nobody can answer; acks belong to the dead host's batches.
      if (m.kind === 'request') {
        const why = this.gaveUp ?? (this.child ? 'the host is starting' : 'the host is restarting');
        this.replyLater(link, { kind: 'response', id: m.id, error: { code: 'disconnected', message: why } });
      }
      return;
    }
    this.post({ conn: link.conn, msg: m });
  }

  uiClosed(link: HostLink): void {
    this.links.delete(link.conn);
    if (link.onHost) this.post({ conn: link.conn, close: true });
  }

  // Never inside send(): the caller may not expect its own reply before send() returns.
  private replyLater(link: HostLink, message: unknown): void {
    queueMicrotask(() => link.toUi(message));
  }

  private open(link: HostLink): void {
    link.onHost = true;
    this.post({ conn: link.conn, open: true });
  }

  private post(m: ParentToHost): void {
    const child = this.child;
    // A send to a host that is going away fails with an 'error' event, handled in spawn().
    if (child && child.connected) child.send(m);
  }

  private warn(message: string): void {
    this.onEvent({ type: 'warning', message });
  }

  // ---- the host process ------------------------------------------------------------------------

  private spawn(): void {
    this.restartTimer = null;
    let child: ChildProcess;
    try {
      child = this.fork();
    } catch (e) {
      // fork() itself can fail (EMFILE, EAGAIN): a crash like any other, retried with the same rules.
      const placeholder = {} as ChildProcess;
      this.child = placeholder;
      this.exited(placeholder, `the host process could not be started: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.child = child;
    this.childReady = false;
    this.lost = EMPTY_LOST;
    this.readyTimer = setTimeout(() => {
      this.warn(`the host process did not start within ${this.readyTimeoutMs} ms; killing it`);
      child.kill('SIGKILL');
    }, this.readyTimeoutMs);
    child.on('message', (raw: unknown) => this.fromHost(child, raw));
    child.on('error', (e: Error) => {
      // Spawn failures come without an 'exit'; failed sends to a dying host are followed by one.
      if (child.pid === undefined) this.exited(child, `the host process could not be started: ${e.message}`);
    });
    child.on('exit', (code, signal) => {
      this.exited(child, signal ? `the host process was killed (${signal})` : `the host process exited with code ${code ?? '?'}`);
    });
  }

  private fork(): ChildProcess {
    return fork(this.entry, [], {
      serialization: 'json',
      // The host's own output goes to our stderr: stdout belongs to the command (--json lines).
      stdio: ['ignore', 2, 2, 'ipc'],
      // Its own process group: a Ctrl-C in the terminal reaches serve only, which stops the host
      // in order (and a host that loses its parent exits on the IPC disconnect).
      detached: true,
      execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
    });
  }

  private fromHost(child: ChildProcess, raw: unknown): void {
    if (child !== this.child) return;
    const envelope = HostToParentSchema.safeParse(raw);
    if (!envelope.success) {
      this.invalidFromHost(`invalid IPC message from the host: ${describeIssues(envelope.error)}`);
      return;
    }
    const m = envelope.data;
    if ('ready' in m) {
      this.ready();
    } else if ('lost' in m) {
      this.lost = m.lost;
    } else if ('close' in m) {
      const link = this.links.get(m.conn);
      if (link) {
        this.links.delete(m.conn);
        link.onHost = false;
        link.end('the host closed the connection');
      }
    } else {
      const link = this.links.get(m.conn);
      if (!link || !link.onHost) return;
      const parsed = ServerMessageSchema.safeParse(m.msg);
      if (!parsed.success) {
        const saved = salvageEventsMessage(m.msg);
        this.invalidFromHost(saved
          ? `invalid events from the host dropped: ${describeIssues(parsed.error)}`
          : `invalid message from the host dropped: ${describeIssues(parsed.error)}`);
        // The batch's valid events still go on, and its seq: the UI acknowledges it.
        if (saved) link.toUi(saved.message);
        return;
      }
      link.toUi(parsed.data);
    }
  }

  /** Reported once: a host that sends garbage tends to keep doing it. */
  private invalidFromHost(message: string): void {
    if (this.warnedInvalid) return;
    this.warnedInvalid = true;
    this.warn(`${message} (further invalid messages are dropped without notice)`);
  }

  private ready(): void {
    if (this.childReady) return;
    this.childReady = true;
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.readyTimer = null;
    const first = this.firstStart;
    this.firstStart = null;
    if (first) {
      first.resolve();
    } else {
      const lost = this.pendingLost ?? EMPTY_LOST;
      for (const link of this.links.values()) link.toUi({ kind: 'host-status', state: 'restarted', lost });
      this.onEvent({ type: 'restarted', pid: this.child!.pid! });
    }
    this.pendingLost = null;
    for (const link of this.links.values()) this.open(link);
  }

  private exited(child: ChildProcess, reason: string): void {
    if (child !== this.child) return;
    const wasReady = this.childReady;
    this.child = null;
    this.childReady = false;
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.readyTimer = null;
    // A host that dies while starting had nothing to lose: keep what the last real one had.
    if (wasReady) this.pendingLost = this.lost;
    this.lost = EMPTY_LOST;
    if (this.stopping) return;
    for (const link of this.links.values()) link.onHost = false;

    const first = this.firstStart;
    if (first) {
      // The very first host failed: most likely it always will (not built, QuickJS missing).
      this.firstStart = null;
      this.gaveUp = reason;
      this.tellAll(reason);
      first.reject(new Error(reason));
      return;
    }

    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < this.restartWindowMs);
    if (this.restarts.length >= this.maxRestarts) {
      this.gaveUp = `${reason}; it was restarted ${this.restarts.length} times within ${Math.round(this.restartWindowMs / 1000)} s, ` +
        'so it is not restarted again (restart the server)';
      this.tellAll(this.gaveUp);
      this.onEvent({ type: 'gave-up', reason: this.gaveUp });
      return;
    }
    const delay = Math.min(2000, this.backoffMs * 2 ** this.restarts.length);
    this.restarts.push(now);
    this.tellAll(`${reason}; restarting it`);
    this.onEvent({ type: 'exited', reason, restarting: true });
    this.restartTimer = setTimeout(() => this.spawn(), delay);
  }

  private tellAll(reason: string): void {
    for (const link of this.links.values()) link.toUi({ kind: 'host-status', state: 'disconnected', reason });
  }
}
