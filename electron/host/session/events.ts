// Session file format v1: one JSON object per line. docs/session-format.md describes it for people,
// docs/session.schema.json for machines; keep the three in step.
import type {
  CallerDataSource, Decider, Discipline, Family, FinalVerdict, HandlerKind, Qos, Verdict,
} from '../types';

export const SESSION_FORMAT = 'accept-workbench/session';
export const SESSION_VERSION = 1;

/** An endpoint in a session file: raw sockaddr bytes as base64. */
export interface RecordedSockaddr {
  family: Family;
  address: string;
  port: number;
  raw: string;
}

export interface SessionHeader {
  type: 'session';
  format: typeof SESSION_FORMAT;
  version: typeof SESSION_VERSION;
  t: 0;
  /** ISO 8601 wall-clock time of t = 0. */
  startTime: string;
  platform: string;
  arch: string;
  /** 'posix' (WSAAccept emulated on BSD sockets) or 'winsock' (the real WSAAccept). */
  backend: 'posix' | 'winsock';
  appVersion: string;
  nodeVersion: string;
}

export interface RecordedListenerOptions {
  bind: string;
  port: number;
  backlog: number;
  discipline: Discipline;
  handler: HandlerKind;
  fallback: Verdict;
  budgetMs: number;
  deferTimeoutMs: number;
  reofferMs: number;
  deferAcceptS: number;
  fastOpen: boolean;
  /** SO_CONDITIONAL_ACCEPT on the listening socket (Winsock only). */
  conditionalAccept?: boolean;
}

export interface ListenerEvent {
  type: 'listener';
  t: number;
  listener: number;
  /** Bound address and port (the real port when 0 was asked for). */
  address: string;
  port: number;
  options: RecordedListenerOptions;
}

export interface ScriptEvent {
  type: 'script';
  t: number;
  listener: number;
  version: number;
  /** sha256 of the source, hex. */
  hash: string;
  filename: string;
  source: string;
}

export interface RecordedError {
  /** Short code: 'throw', 'timeout', 'memory', 'stack', 'invalid-verdict', 'budget', or a WSA name. */
  code: string;
  message: string;
  line?: number;
  column?: number;
}

/** One call of the condition function (one WSAAccept offer of a request). */
export interface OfferEvent {
  type: 'offer';
  t: number;
  listener: number;
  id: number;
  attempt: number;
  caller: RecordedSockaddr;
  callee: RecordedSockaddr;
  callerData: string;
  callerDataSource: CallerDataSource;
  sqos: Qos | null;
  gqos: null;
  /** What the condition function returned after normalisation; 'invalid' maps to WSAEINVAL. */
  verdict: Verdict | 'invalid';
  /** The script asked for a person's decision (verdict is 'defer' then). */
  ask?: boolean;
  by: Decider;
  /** Time inside the condition function, µs. */
  conditionUs: number;
  /** The WSAAccept result of this call: 'OK', 'WSAECONNREFUSED', 'WSATRY_AGAIN', 'WSAEINVAL'. */
  result: string;
  scriptVersion: number | null;
  calleeData?: string;
  group?: number;
  error?: RecordedError;
}

export interface DecisionEvent {
  type: 'decision';
  t: number;
  listener: number;
  id: number;
  caller: { address: string; port: number };
  verdict: FinalVerdict;
  attempts: number;
  /** Arrival (taken from the kernel) to final state, µs. */
  latencyUs: number;
  by: Decider | 'system';
  /** The WSA error code name for non-accept final states, e.g. 'WSAEACCES'. */
  result: string;
}

export interface HandlerEvent {
  type: 'handler';
  t: number;
  listener: number;
  id: number;
  handler: HandlerKind;
  /** 'close': peer closed (EOF); 'reset': peer reset; 'local-close': the workbench closed it. */
  event: 'close' | 'reset' | 'local-close';
  bytesIn: number;
  bytesOut: number;
}

export interface LogEvent {
  type: 'log';
  t: number;
  listener: number;
  id?: number;
  message: string;
}

export interface ErrorEvent {
  type: 'error';
  t: number;
  listener?: number;
  id?: number;
  code: string;
  message: string;
  line?: number;
  column?: number;
}

export interface VerdictCounts {
  accept: number;
  reject: number;
  expire: number;
  withdraw: number;
  error: number;
}

export interface EndEvent {
  type: 'end';
  t: number;
  reason: string;
  counts: VerdictCounts;
  offers: number;
}

export type SessionEvent =
  | ListenerEvent | ScriptEvent | OfferEvent | DecisionEvent | HandlerEvent | LogEvent | ErrorEvent | EndEvent;

export type SessionLine = SessionHeader | SessionEvent;
