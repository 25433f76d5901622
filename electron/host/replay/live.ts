// Live replay: re-drives the callers of a recorded session against a live listener, with the same
// order, relative timing and caller data, and compares what each client observed then (derived
// from the recording) with what it observes now. The then/now mapping is in docs/simulate.md.
import { setMaxListeners } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { streamSession } from '../session/reader';
import type { SessionHeader } from '../session/events';
import type { CallerDataSource, Family, FinalVerdict, HandlerKind } from '../types';
import { MAX_COUNT, numberToIpv4, runClient, type ClientOutcome, type ClientResult } from '../simulator';

/** What the recorded caller observed; 'unknown' when the recording has no final state for it. */
export type ThenOutcome = 'served' | 'eof' | 'reset' | 'open' | 'aborted' | 'unknown';

export class LiveReplayError extends Error {}

export interface RecordedRequest {
  listener: number;
  id: number;
  caller: { family: Family; address: string; port: number };
  /** Arrival relative to the first request's arrival, ms (unscaled). */
  atMs: number;
  /** Caller data: the most the condition function saw. Empty: none. */
  data: Buffer;
  dataSource: CallerDataSource;
  /** Arrival → the first offer that carried data, ms (0 when the first offer had it). */
  dataAfterMs: number;
  verdict: FinalVerdict | null;
  /** Arrival → final state, ms; null without a decision. */
  decidedAfterMs: number | null;
  handler: HandlerKind;
  /** Bytes the accepted connection's handler received, when the recording says. */
  handlerBytesIn: number | null;
  then: ThenOutcome;
}

export interface LivePlan {
  header: SessionHeader;
  requests: RecordedRequest[];
  /** The session reader's warnings (e.g. a cut-short last line). */
  warnings: string[];
  /** Requests whose caller data arrived in a Fast Open SYN. */
  synData: number;
  /** Accepted requests whose caller sent more than the recording holds. */
  lateData: number;
}

/**
 * What the client saw then, from the final state and the listener's handler (what the emulation on
 * Linux gives a client; see the README's table).
 */
export function thenOutcome(verdict: FinalVerdict | null, handler: HandlerKind, hasData: boolean): ThenOutcome {
  switch (verdict) {
    case null: return 'unknown';
    case 'accept':
      // close(2) with unread caller data sends a reset, not an end of stream.
      if (handler === 'close') return hasData ? 'reset' : 'eof';
      return handler === 'echo' && hasData ? 'served' : 'open';
    case 'withdraw': return 'aborted';
    default: return 'reset'; // reject, expire, error: the workbench closes with SO_LINGER {1,0}
  }
}

interface Pending {
  listener: number;
  id: number;
  caller: { family: Family; address: string; port: number } | null;
  firstOfferT: number | null;
  firstDataT: number | null;
  firstDataAttempt: number;
  data: string;
  dataSource: CallerDataSource;
  verdict: FinalVerdict | null;
  decisionT: number | null;
  latencyMs: number;
  handlerBytesIn: number | null;
}

/** Reads a session file into the requests to replay. Throws SessionFormatError or LiveReplayError. */
export async function loadLivePlan(path: string, opts: { listener?: number } = {}): Promise<LivePlan> {
  const byKey = new Map<string, Pending>();
  const handlers = new Map<number, HandlerKind>();
  const get = (listener: number, id: number): Pending => {
    const key = `${listener}:${id}`;
    let p = byKey.get(key);
    if (!p) {
      if (byKey.size >= MAX_COUNT) throw new LiveReplayError(`the session has more than ${MAX_COUNT} requests; replay takes at most ${MAX_COUNT}`);
      p = {
        listener, id, caller: null, firstOfferT: null, firstDataT: null, firstDataAttempt: 0, data: '',
        dataSource: 'none', verdict: null, decisionT: null, latencyMs: 0, handlerBytesIn: null,
      };
      byKey.set(key, p);
    }
    return p;
  };
  const wanted = (listener: number): boolean => opts.listener === undefined || opts.listener === listener;
  const { header, warnings } = await streamSession(path, {
    onEvent: (e) => {
      switch (e.type) {
        case 'listener':
          handlers.set(e.listener, e.options.handler);
          break;
        case 'offer': {
          if (!wanted(e.listener)) break;
          const p = get(e.listener, e.id);
          if (p.firstOfferT === null) {
            p.firstOfferT = e.t;
            p.caller = { family: e.caller.family, address: e.caller.address, port: e.caller.port };
          }
          // Peeked data only grows; the longest is what the caller had sent by its last offer.
          if (e.callerData !== '') {
            if (p.firstDataT === null) { p.firstDataT = e.t; p.firstDataAttempt = e.attempt; }
            if (e.callerData.length >= p.data.length) { p.data = e.callerData; p.dataSource = e.callerDataSource; }
          }
          break;
        }
        case 'decision': {
          if (!wanted(e.listener)) break;
          const p = get(e.listener, e.id);
          p.verdict = e.verdict;
          p.decisionT = e.t;
          p.latencyMs = e.latencyUs / 1000;
          if (!p.caller) {
            p.caller = { family: net.isIPv6(e.caller.address) ? 'ipv6' : 'ipv4', address: e.caller.address, port: e.caller.port };
          }
          break;
        }
        case 'handler': {
          if (!wanted(e.listener)) break;
          const p = byKey.get(`${e.listener}:${e.id}`);
          if (p) p.handlerBytesIn = e.bytesIn;
          break;
        }
        default:
          break;
      }
    },
  });

  const listeners = [...new Set([...byKey.values()].map((p) => p.listener))].sort((a, b) => a - b);
  if (opts.listener === undefined && listeners.length > 1) {
    throw new LiveReplayError(`the session has requests of listeners ${listeners.join(', ')}; choose one with --listener ID`);
  }

  if (opts.listener !== undefined && listeners.length === 0) {
    throw new LiveReplayError(`the session has no requests of listener ${opts.listener}`);
  }

  const requests: RecordedRequest[] = [];
  let synData = 0;
  let lateData = 0;
  for (const p of byKey.values()) {
    if (!p.caller) continue; // a handler record without its request: nothing to replay
    // Arrival: the first offer; a request never offered (gone before its turn) arrived
    // latencyUs before its decision.
    const arrival = p.firstOfferT ?? Math.max(0, (p.decisionT ?? 0) - p.latencyMs);
    const data = Buffer.from(p.data, 'base64');
    const handler = handlers.get(p.listener) ?? 'echo';
    const then = thenOutcome(p.verdict, handler, data.length > 0);
    if (p.dataSource === 'syn') synData++;
    if (p.verdict === 'accept' && p.handlerBytesIn !== null && p.handlerBytesIn > data.length) lateData++;
    requests.push({
      listener: p.listener,
      id: p.id,
      caller: p.caller,
      atMs: arrival,
      data,
      dataSource: p.dataSource,
      dataAfterMs: p.firstDataT === null || p.firstDataAttempt <= 1 ? 0 : Math.max(0, p.firstDataT - arrival),
      verdict: p.verdict,
      decidedAfterMs: p.decisionT === null ? null : Math.max(0, p.decisionT - arrival),
      handler,
      handlerBytesIn: p.handlerBytesIn,
      then,
    });
  }
  requests.sort((a, b) => a.atMs - b.atMs || a.listener - b.listener || a.id - b.id);
  const t0 = requests.length ? requests[0].atMs : 0;
  for (const r of requests) r.atMs -= t0;
  return { header, requests, warnings, synData, lateData };
}

/**
 * Recorded caller addresses → loopback sources, one to one in order of first appearance:
 * 127.0.0.2, 127.0.0.3, ... (skipping .0 and .255) for an IPv4 target; ::1 for all with an IPv6
 * target (IPv6 has one loopback address).
 */
export function mapSources(requests: readonly RecordedRequest[], targetFamily: Family): Map<string, string> {
  const map = new Map<string, string>();
  let next = (127 << 24 >>> 0) + 2;
  for (const r of requests) {
    if (map.has(r.caller.address)) continue;
    if (targetFamily === 'ipv6') { map.set(r.caller.address, '::1'); continue; }
    while ((next & 255) === 0 || (next & 255) === 255) next++;
    if (next >>> 24 !== 127) throw new LiveReplayError('more distinct callers than addresses in 127.0.0.0/8');
    map.set(r.caller.address, numberToIpv4(next++));
  }
  return map;
}

export interface LiveReplayOptions {
  host: string;
  port: number;
  /** Timing scale: 10 replays ten times faster. */
  speed: number;
  /** Connect deadline; also how long a client waits for an answer after its last recorded step. */
  timeoutMs: number;
  /** Bind each client to the recorded caller's port (falls back to any port when it is taken). */
  keepPorts?: boolean;
  signal?: AbortSignal;
  onResult?: (r: LiveResult) => void;
}

export interface LiveResult {
  /** Position of the request in plan.requests. */
  index: number;
  request: RecordedRequest;
  /** Where the client connected from. */
  source: { address: string; port: number | null };
  /** The recorded port could not be had; the kernel picked one. */
  portChanged: boolean;
  /** When the replay started this client, ms after the replay started. */
  startedAtMs: number;
  now: ClientOutcome;
  client: ClientResult;
  differs: boolean;
}

export interface LiveReplayReport {
  requests: number;
  replayed: number;
  /** Replayed with a known 'then'. */
  compared: number;
  same: number;
  differ: number;
  unknown: number;
  cancelled: number;
  portChanged: number;
  /** "then->now" → how many differed that way. */
  changes: Record<string, number>;
  elapsedMs: number;
  reason: string;
}

/** Ports the OS may refuse to a client: taken, or privileged. */
const PORT_ERRORS = new Set(['EADDRINUSE', 'EACCES']);

export function runLiveReplay(plan: LivePlan, opts: LiveReplayOptions): Promise<LiveReplayReport> {
  const family: Family = net.isIPv6(opts.host) ? 'ipv6' : 'ipv4';
  const sources = mapSources(plan.requests, family);
  const requests = plan.requests;
  const speed = opts.speed;
  const clientStop = new AbortController();
  setMaxListeners(0, clientStop.signal); // one listener per client in flight
  const report: LiveReplayReport = {
    requests: requests.length, replayed: 0, compared: 0, same: 0, differ: 0, unknown: 0, cancelled: 0,
    portChanged: 0, changes: {}, elapsedMs: 0, reason: 'done',
  };
  const t0 = performance.now();

  return new Promise((resolve) => {
    let next = 0;
    let inFlight = 0;
    let stopped = false;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;

    const finishIfIdle = (): void => {
      if (finished || inFlight > 0 || (!stopped && next < requests.length)) return;
      finished = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onSignal);
      report.elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
      resolve(report);
    };
    const onSignal = (): void => {
      if (stopped) return;
      stopped = true;
      const r: unknown = opts.signal?.reason;
      report.reason = typeof r === 'string' ? r : 'stopped';
      clearTimeout(timer);
      clientStop.abort();
      finishIfIdle();
    };

    const replayOne = async (index: number, req: RecordedRequest, startedAtMs: number): Promise<void> => {
      const sendAfterMs = req.dataAfterMs / speed;
      const abortAfterMs = req.then === 'aborted' ? (req.decidedAfterMs ?? 0) / speed : null;
      // Listener timers (defer timeout, re-offers) do not speed up: wait for an answer at least as
      // long as the recorded decision took, unscaled, then --timeout-ms more.
      const answerTimeoutMs = Math.max(sendAfterMs, abortAfterMs ?? 0, req.decidedAfterMs ?? 0) + opts.timeoutMs;
      const localAddress = sources.get(req.caller.address) as string;
      const attempt = (localPort: number): Promise<ClientResult | null> => runClient({
        host: opts.host, port: opts.port, localAddress, localPort,
        data: req.data, sendAfterMs, abortAfterMs, holdMs: null,
        // Data that rode in a Fast Open SYN goes the same way again where the system allows.
        fastOpen: req.dataSource === 'syn' && sendAfterMs === 0 && process.platform === 'linux',
        timeoutMs: opts.timeoutMs, answerTimeoutMs, idleOutcome: 'open', signal: clientStop.signal,
      });
      const wantPort = opts.keepPorts === false ? 0 : req.caller.port;
      let portChanged = false;
      let r = await attempt(wantPort);
      if (r && wantPort !== 0 && !r.connected && r.error !== undefined && PORT_ERRORS.has(r.error)) {
        portChanged = true;
        r = await attempt(0);
      }
      if (r === null) { report.cancelled++; return; }
      report.replayed++;
      if (portChanged) report.portChanged++;
      const differs = req.then !== 'unknown' && req.then !== r.outcome;
      if (req.then === 'unknown') report.unknown++;
      else {
        report.compared++;
        if (differs) {
          report.differ++;
          const k = `${req.then}->${r.outcome}`;
          report.changes[k] = (report.changes[k] ?? 0) + 1;
        } else report.same++;
      }
      opts.onResult?.({
        index,
        request: req,
        source: { address: localAddress, port: r.local?.port ?? (wantPort || null) },
        portChanged, startedAtMs, now: r.outcome, client: r, differs,
      });
    };

    const pump = (): void => {
      timer = undefined;
      const now = performance.now() - t0;
      while (!stopped && next < requests.length) {
        const req = requests[next];
        const due = req.atMs / speed;
        if (due > now + 0.5) { timer = setTimeout(pump, Math.ceil(due - now)); return; }
        inFlight++;
        replayOne(next++, req, now).catch(() => { report.cancelled++; }).finally(() => { inFlight--; finishIfIdle(); });
      }
      finishIfIdle();
    };

    if (opts.signal?.aborted) { onSignal(); return; }
    opts.signal?.addEventListener('abort', onSignal, { once: true });
    pump();
  });
}
