// TypeScript face of the native acceptor addon (native/src). One class per listening socket; the
// backend (POSIX emulation or Winsock) is chosen when the addon is built for the platform.
import * as path from 'node:path';
import type { CallerDataSource, Decider, Discipline, FinalVerdict, HandlerKind, Qos } from '../electron/host/types';

export const CF_ACCEPT = 0;
export const CF_REJECT = 1;
export const CF_DEFER = 2;

/** Decider codes the native side understands, in the order of its enum. */
export const DECIDER_CODES: Record<Decider | 'system', number> = {
  script: 0, fallback: 1, person: 2, default: 3, system: 4,
};

export interface NativeListenerOptions {
  address: string;
  port: number;
  backlog?: number;
  discipline?: Discipline;
  handler?: HandlerKind;
  deferAcceptS?: number;
  fastOpen?: boolean;
  /** Winsock SO_CONDITIONAL_ACCEPT (set before listen); refused where the stack has no such option. */
  conditionalAccept?: boolean;
  deferTimeoutMs?: number;
  reofferMs?: number;
  /** How long the accept thread waits for JS to answer an offer before applying defaultVerdict. */
  budgetMs?: number;
  defaultVerdict?: number;
  callbackData?: number;
  /** Size of the caller address buffer: smaller than the caller's sockaddr gives WSAEFAULT. */
  addrlen?: number;
  maxCallerData?: number;
  /** No accept thread: offers happen only through call(), on the JS thread. */
  manual?: boolean;
}

export interface NativeSockaddr {
  family: 'ipv4' | 'ipv6';
  address: string;
  port: number;
  raw: Buffer;
}

export interface NativeOffer {
  id: number;
  attempt: number;
  caller: NativeSockaddr;
  callee: NativeSockaddr;
  callerData: Buffer;
  callerDataSource: CallerDataSource;
  sqos: Qos | null;
  gqos: null;
  queue: { kernel: number | null; held: number; deferred: number };
  callbackData: number;
}

/** What an offer callback returns: a CF_* number, or an object with details. */
export type NativeDecision =
  | number
  | { verdict: number; by?: number; park?: boolean; calleeData?: Uint8Array; group?: number };

export type NativeEvent =
  | {
      type: 'decision'; id: number; verdict: FinalVerdict; attempts: number; by: Decider | 'system';
      result: string; code: number; latencyUs: number; callerAddress: string; callerPort: number; message?: string;
    }
  | { type: 'handler'; id: number; event: 'close' | 'reset' | 'local-close'; bytesIn: number; bytesOut: number }
  | { type: 'default-verdict'; id: number; attempt: number; verdict: number; offer: OfferJson; sqos: Qos | null }
  | { type: 'error'; id: number; result: string; code: number; message: string };

export interface CallResult {
  result: string;
  code: number;
  id: number;
  attempt: number;
}

/**
 * The offer as the addon sends it: JSON built on the accept thread, the SQOS apart (null when the
 * caller has no QOS) so that a script that never reads it does not pay for it.
 */
export type RawOfferCallback = (id: number, attempt: number, offerJson: string, sqosJson: string | null) => NativeDecision;

/** The offer as JSON (less sqos): sockaddr raw bytes and caller data in base64. */
export interface OfferJson {
  id: number;
  attempt: number;
  caller: { family: 'ipv4' | 'ipv6'; address: string; port: number; raw: string };
  callee: { family: 'ipv4' | 'ipv6'; address: string; port: number; raw: string };
  callerData: string;
  callerDataSource: CallerDataSource;
  gqos: null;
  queue: { kernel: number | null; held: number; deferred: number };
  callbackData: number;
}

export function decodeOffer(json: string, sqosJson: string | null): NativeOffer {
  const o = JSON.parse(json) as OfferJson;
  return {
    ...o,
    sqos: sqosJson === null ? null : JSON.parse(sqosJson) as Qos,
    caller: { ...o.caller, raw: Buffer.from(o.caller.raw, 'base64') },
    callee: { ...o.callee, raw: Buffer.from(o.callee.raw, 'base64') },
    callerData: Buffer.from(o.callerData, 'base64'),
  };
}

interface RawListener {
  readonly address: string;
  readonly port: number;
  readonly backend: 'posix' | 'winsock';
  /** Events arrive as one JSON array per batch. */
  start(onOffer: RawOfferCallback, onEvents: (eventsJson: string) => void): void;
  call(options: { addrlen?: number }, condition?: RawOfferCallback): CallResult;
  wake(id?: number): void;
  queueDepths(): { kernel: number | null; held: number; deferred: number };
  roundTrip(): { samples: number; p50Us: number | null; p99Us: number | null; maxUs: number | null };
  stop(): void;
}

/** One listening socket of the native acceptor. */
export class NativeListener {
  private readonly raw: RawListener;

  constructor(options: NativeListenerOptions) {
    this.raw = new (loadAddon().Listener)(options);
  }

  get address(): string { return this.raw.address; }
  get port(): number { return this.raw.port; }
  get backend(): 'posix' | 'winsock' { return this.raw.backend; }

  /** Starts the accept thread; the fast path: offers arrive as JSON strings. */
  startRaw(onOffer: RawOfferCallback, onEvents: (events: NativeEvent[]) => void): void {
    this.raw.start(onOffer, (json) => onEvents(JSON.parse(json) as NativeEvent[]));
  }

  /** Starts the accept thread with decoded offers (convenient, a little slower). */
  start(onOffer: (offer: NativeOffer) => NativeDecision, onEvents: (events: NativeEvent[]) => void): void {
    this.startRaw((_id, _attempt, json, sqos) => onOffer(decodeOffer(json, sqos)), onEvents);
  }

  /** One non-blocking WSAAccept call on this thread (listeners created with manual: true). */
  call(options: { addrlen?: number }, condition?: (offer: NativeOffer) => NativeDecision): CallResult {
    return this.raw.call(options, condition ? (_id, _attempt, json, sqos) => condition(decodeOffer(json, sqos)) : undefined);
  }

  wake(id?: number): void { this.raw.wake(id); }
  queueDepths(): { kernel: number | null; held: number; deferred: number } { return this.raw.queueDepths(); }
  roundTrip(): { samples: number; p50Us: number | null; p99Us: number | null; maxUs: number | null } { return this.raw.roundTrip(); }
  stop(): void { this.raw.stop(); }
}

interface Addon {
  Listener: new (options: NativeListenerOptions) => RawListener;
  fastOpenConnect(options: FastOpenOptions): { fd: number; sent: number };
  wsaCodes: Record<string, number>;
}

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (!addon) {
    // Source (ts via vitest) lives in native/, compiled output in dist/native/: find the package root.
    const here = __dirname;
    const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => Addon;
    // AW_ADDON_DIR: a package directory holding another build of the addon (the sanitizer run).
    addon = load(process.env.AW_ADDON_DIR ?? root);
  }
  return addon;
}

export function createNativeListener(options: NativeListenerOptions): NativeListener {
  return new NativeListener(options);
}

export interface FastOpenOptions {
  host: string;
  port: number;
  /** Sent with the SYN where the kernel holds a Fast Open cookie for the server, else right after the handshake. */
  data: Uint8Array;
  localAddress?: string;
  localPort?: number;
}

/**
 * Caller-side TCP Fast Open (Linux): a connecting, non-blocking socket (wrap `fd` with
 * `new net.Socket({ fd })`) and how many bytes of `data` went out with the SYN — 0 while the
 * kernel has no cookie for the server: the rest must be written once connected.
 * Throws with `code` (e.g. EOPNOTSUPP elsewhere, EADDRINUSE for a taken local port).
 */
export function fastOpenConnect(options: FastOpenOptions): { fd: number; sent: number } {
  return loadAddon().fastOpenConnect(options);
}

export function wsaCodes(): Record<string, number> {
  return loadAddon().wsaCodes;
}
