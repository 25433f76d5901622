// Shapes shared by the native face, the script sandbox, the engine and the recorder.

export type Family = 'ipv4' | 'ipv6';

export interface Endpoint {
  family: Family;
  address: string;
  port: number;
}

/** An endpoint as the condition function's WSABUF holds it: the sockaddr bytes too. */
export interface SockaddrInfo extends Endpoint {
  /** sockaddr_in / sockaddr_in6 bytes in Winsock layout (family as little-endian u16 AF_INET=2 / AF_INET6=23). */
  raw: Uint8Array;
}

/** QOS_NOT_SPECIFIED: a FLOWSPEC field that nothing measured. */
export const QOS_NOT_SPECIFIED = 0xffffffff;

export interface Flowspec {
  tokenRate: number;
  tokenBucketSize: number;
  peakBandwidth: number;
  latency: number;
  delayVariation: number;
  serviceType: number;
  maxSduSize: number;
  minimumPolicedSize: number;
  /** Field name → where its value came from (e.g. "tcpi_rtt"). Fields absent here are QOS_NOT_SPECIFIED. */
  derived: Record<string, string>;
}

export interface Qos {
  sending: Flowspec;
  receiving: Flowspec;
  /** Provider-specific buffer, base64; empty when there is none. */
  providerSpecific: string;
}

export type CallerDataSource = 'none' | 'syn' | 'peek';

export type Verdict = 'accept' | 'reject' | 'defer';

/** Final states; every request reaches exactly one. */
export type FinalVerdict = 'accept' | 'reject' | 'expire' | 'withdraw' | 'error';

/** Who produced a verdict. `default` = the native side's budget ran out before JS answered. */
export type Decider = 'script' | 'fallback' | 'person' | 'default';

export type Discipline = 'winsock' | 'held';

export type HandlerKind = 'echo' | 'hold' | 'close' | 'discard';

export interface QueueDepths {
  /** Connections completed in the kernel and not yet taken (null where the OS does not say). */
  kernel: number | null;
  /** Requests the workbench has taken from the kernel and not yet decided (including this one). */
  held: number;
  /** Of those, how many have been deferred at least once. */
  deferred: number;
}

export interface ListenerInfo {
  id: number;
  address: string;
  port: number;
  discipline: Discipline;
}

/** What the condition function sees (the `req` argument of a condition script). */
export interface ConditionRequest {
  id: number;
  caller: Endpoint;
  callee: Endpoint;
  callerData: Uint8Array;
  callerDataSource: CallerDataSource;
  sqos: Qos | null;
  gqos: null;
  attempt: number;
  queue: QueueDepths;
  listener: ListenerInfo;
  /** dwCallbackData: passed through untouched. */
  callbackData: number;
}
