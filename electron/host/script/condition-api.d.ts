// The API a condition script sees, for editors (Monaco `addExtraLib`, or a `/// <reference>` in a
// user's jsconfig). A condition script is an ES module whose default export decides each
// connection request:
//
//   /** @type {ConditionFunction} */
//   export default (req, ctx) => {
//     ctx.state.seen = (ctx.state.seen ?? 0) + 1;
//     if (req.caller.address.startsWith('10.')) return 'reject';
//     if (req.callerData.length > 0) return { verdict: 'accept', calleeData: 'welcome' };
//     return CF_ACCEPT;
//   };
//
// Scripts run in QuickJS: the ECMAScript built-ins, no Node, no file system, no network, no
// timers, no `import` of other modules, no eval / new Function. The call must return its verdict
// synchronously (promise callbacks still run after it, within the same time budget).
// Also available: `TextDecoder` / `TextEncoder` for UTF-8 (e.g. `new TextDecoder().decode(req.callerData)`).
// They are not declared here because their declaration would clash with Node's in the host's own
// type check; an editor gets them from lib.dom, or add a declaration next to this file.
//
// These declarations are global on purpose (scripts do not import anything). Everything lives in
// the `Condition` namespace plus the CF_* constants, `ConditionFunction` and `console`, whose
// declaration merges with Node's where both are present.

declare namespace Condition {
  type Family = 'ipv4' | 'ipv6';

  interface Endpoint {
    readonly family: Family;
    /** Numeric address, e.g. "192.0.2.7" or "2001:db8::7". */
    readonly address: string;
    readonly port: number;
  }

  /** A FLOWSPEC. Fields nobody measured are QOS_NOT_SPECIFIED (0xFFFFFFFF = 4294967295). */
  interface Flowspec {
    readonly tokenRate: number;
    readonly tokenBucketSize: number;
    readonly peakBandwidth: number;
    readonly latency: number;
    readonly delayVariation: number;
    readonly serviceType: number;
    readonly maxSduSize: number;
    readonly minimumPolicedSize: number;
    /** Field name → where its value came from (e.g. "tcpi_rtt"). */
    readonly derived: { readonly [field: string]: string };
  }

  interface Qos {
    readonly sending: Flowspec;
    readonly receiving: Flowspec;
    /** Provider-specific buffer, base64; empty when there is none. */
    readonly providerSpecific: string;
  }

  interface QueueDepths {
    /** Connections completed in the kernel and not yet taken (null where the OS does not say). */
    readonly kernel: number | null;
    /** Requests taken from the kernel and not yet decided, this one included. */
    readonly held: number;
    /** Of those, how many have been deferred at least once. */
    readonly deferred: number;
  }

  interface Listener {
    readonly id: number;
    readonly address: string;
    readonly port: number;
    /** 'winsock': a deferred request blocks the queue head; 'held': each request waits on its own. */
    readonly discipline: 'winsock' | 'held';
  }

  /** What WSAAccept hands the condition function. A fresh object per call (callee and listener are shared and frozen). */
  interface Request {
    /** Workbench id of this connection request (the same on every offer of it). */
    readonly id: number;
    /** lpCallerId */
    readonly caller: Endpoint;
    /** lpCalleeId */
    readonly callee: Endpoint;
    /** lpCallerData: bytes sent with the request; empty when there are none (TCP normally has none). */
    readonly callerData: Uint8Array;
    /** Where callerData came from: nowhere, the SYN (TCP Fast Open), or a peek at the first bytes. */
    readonly callerDataSource: 'none' | 'syn' | 'peek';
    /** lpSQOS: the caller's flow specs, or null (no QOS). */
    readonly sqos: Qos | null;
    /** lpGQOS: reserved, always null. */
    readonly gqos: null;
    /** 1 on the first offer, 2 after one defer, ... */
    readonly attempt: number;
    readonly queue: QueueDepths;
    readonly listener: Listener;
    /** dwCallbackData, passed through untouched. */
    readonly callbackData: number;
  }

  interface Context {
    /** Kept across calls until the script is replaced (or its instance is rebuilt after a fatal error). */
    state: { [key: string]: any };
    /** Adds a message to this call's log (arguments formatted and space-joined, like console.log). */
    log(...args: unknown[]): void;
  }

  /** 'ask' defers the request and waits for a person's decision. */
  type VerdictName = 'accept' | 'reject' | 'defer' | 'ask';
  /** CF_ACCEPT, CF_REJECT, CF_DEFER. */
  type VerdictCode = 0 | 1 | 2;

  interface VerdictObject {
    verdict: VerdictName | VerdictCode;
    /** lpCalleeData: bytes for the caller (a string is sent as UTF-8); at most 65536 bytes. */
    calleeData?: string | Uint8Array | ArrayBuffer | readonly number[] | null;
    /** g: 0 = no group operation, or a group id / SG_* value (an unsigned 32-bit integer). */
    group?: number | null;
  }

  /** Anything else (7, "maybe", undefined, a Promise, ...) gives the listener's fallback verdict. */
  type Verdict = VerdictName | VerdictCode | VerdictObject;

  type Function = (req: Request, ctx: Context) => Verdict;
}

/** The type of a condition script's default export. */
type ConditionFunction = Condition.Function;

/** CF_ACCEPT: accept the connection (WSAAccept returns the new socket). */
declare const CF_ACCEPT: 0;
/** CF_REJECT: refuse it (WSAAccept fails with WSAECONNREFUSED). */
declare const CF_REJECT: 1;
/** CF_DEFER: leave it queued; it is offered again later (WSAAccept fails with WSATRY_AGAIN). */
declare const CF_DEFER: 2;

/** console.log and friends all write to the call's log, like ctx.log. */
interface Console {
  log(...data: any[]): void;
  info(...data: any[]): void;
  warn(...data: any[]): void;
  error(...data: any[]): void;
  debug(...data: any[]): void;
  trace(...data: any[]): void;
}
declare var console: Console;
