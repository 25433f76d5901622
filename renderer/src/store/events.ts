// Applies one batch of host events to the state: a pure function returning the changed parts, so
// the store makes one update (and React one render) per batch however many events it holds.
import type { EventBatch } from '../../../electron/protocol/client';
import type { ListenerState, PendingRequest } from '../../../electron/protocol/schema';
import type { LatencyPoint } from './latency';
import {
  DECISIONS_KEPT, HOST_ERRORS_KEPT, LOGS_KEPT, parseKey, requestKey,
  type DecisionEntry, type HostErrorEntry, type LogEntry, type RequestKey, type Verdict, type WorkbenchState,
} from './types';

export interface BatchOutcome {
  patch: Partial<WorkbenchState>;
  latency: LatencyPoint[];
  /** The host left events out of this batch: the pending queue needs a resync. */
  needsResync: boolean;
}

/** The queue state a request is in after an offer with this verdict (as the host computes it). */
export function stateAfterOffer(verdict: string, ask: boolean): PendingRequest['state'] {
  if (verdict === 'defer') return ask ? 'awaiting-person' : 'deferred';
  return 'deciding';
}

export function applyBatch(s: WorkbenchState, batch: EventBatch): BatchOutcome {
  const patch: Partial<WorkbenchState> = {};
  const latency: LatencyPoint[] = [];
  // Copied on first write only: most batches touch one or two of these.
  let listeners: Record<number, ListenerState> | null = null;
  let pending: Map<RequestKey, PendingRequest> | null = null;
  const decided: DecisionEntry[] = [];
  const errors: HostErrorEntry[] = [];
  const logs: LogEntry[] = [];
  const removed: number[] = [];
  const L = (): Record<number, ListenerState> => (listeners ??= { ...s.listeners });
  const P = (): Map<RequestKey, PendingRequest> => (pending ??= new Map(s.pending));
  // Events older than the last resync are already in what it returned.
  const fresh = (t: number): boolean => t >= s.syncT;
  let loggedKeys: Set<RequestKey> | null = null;
  const logged = (): Set<RequestKey> => (loggedKeys ??= new Set(s.decisions.map((d) => requestKey(d.listener, d.id))));

  for (const e of batch.events) {
    switch (e.type) {
      case 'listener':
        if (fresh(e.t)) L()[e.listener.id] = e.listener;
        break;
      case 'listener-removed': {
        const ls = L();
        delete ls[e.listener];
        const p = P();
        for (const [k, r] of p) if (r.listener === e.listener) p.delete(k);
        removed.push(e.listener);
        break;
      }
      case 'script': {
        const cur = (listeners ?? s.listeners)[e.listener];
        if (cur && fresh(e.t)) L()[e.listener] = { ...cur, script: e.script };
        break;
      }
      case 'queue': {
        const cur = (listeners ?? s.listeners)[e.listener];
        if (cur && fresh(e.t)) L()[e.listener] = { ...cur, queue: { kernel: e.kernel, held: e.held, deferred: e.deferred } };
        break;
      }
      case 'offer': {
        if (!fresh(e.t)) break;
        const key = requestKey(e.listener, e.id);
        const p = P();
        const prev = p.get(key);
        const state = stateAfterOffer(e.verdict, e.ask);
        p.set(key, prev
          ? { ...prev, attempts: e.attempt, dataBytes: e.dataBytes, state }
          : { listener: e.listener, id: e.id, caller: e.caller, firstOfferT: e.t, attempts: e.attempt, dataBytes: e.dataBytes, state });
        // The host sends a listener's state only when it changes state; its tallies move here.
        const cur = (listeners ?? s.listeners)[e.listener];
        if (cur) L()[e.listener] = { ...cur, offers: cur.offers + 1, pending: cur.pending + (prev ? 0 : 1) };
        break;
      }
      case 'decision': {
        const key = requestKey(e.listener, e.id);
        const had = (pending ?? s.pending).has(key);
        if (had) P().delete(key);
        // Older than the last resync and already in the log it filled: shown (and charted) once.
        if (!fresh(e.t) && logged().has(key)) break;
        const { type: _type, ...entry } = e;
        decided.push(entry);
        latency.push({ t: e.t, latencyUs: e.latencyUs, listener: e.listener });
        const cur = (listeners ?? s.listeners)[e.listener];
        if (cur && fresh(e.t)) {
          L()[e.listener] = { ...cur, counts: { ...cur.counts, [e.verdict]: cur.counts[e.verdict] + 1 }, pending: Math.max(0, cur.pending - (had ? 1 : 0)) };
        }
        break;
      }
      case 'error': {
        const { type: _type, ...entry } = e;
        errors.push(entry);
        break;
      }
      case 'log': {
        const { type: _type, ...entry } = e;
        logs.push(entry);
        break;
      }
      default:
        break; // handler, recording and job events: no view shows them yet
    }
  }

  if (listeners) patch.listeners = listeners;
  if (pending) patch.pending = pending;
  if (decided.length > 0) {
    const all = s.decisions.concat(decided);
    const over = all.length - DECISIONS_KEPT;
    patch.decisions = over > 0 ? all.slice(over) : all;
    if (over > 0) patch.decisionsTrimmed = s.decisionsTrimmed + over;
    // Decided requests leave the selection and the in-flight set.
    const gone = new Set(decided.map((d) => requestKey(d.listener, d.id)));
    if ([...s.selected].some((k) => gone.has(k))) patch.selected = new Set([...s.selected].filter((k) => !gone.has(k)));
    if (Object.keys(s.deciding).some((k) => gone.has(k as RequestKey))) {
      const deciding: Record<RequestKey, Verdict> = {};
      for (const [k, v] of Object.entries(s.deciding) as Array<[RequestKey, Verdict]>) if (!gone.has(k)) deciding[k] = v;
      patch.deciding = deciding;
    }
  }
  if (removed.length > 0) {
    // Removed by another window or a script: nothing may stay pointed at it.
    const left = listeners ?? s.listeners;
    if (s.activeListener !== null && !left[s.activeListener]) {
      patch.activeListener = Object.values(left).sort((a, b) => a.id - b.id)[0]?.id ?? null;
    }
    const gone = (k: RequestKey): boolean => removed.includes(parseKey(k).listener);
    const sel = patch.selected ?? s.selected;
    if ([...sel].some(gone)) patch.selected = new Set([...sel].filter((k) => !gone(k)));
    const dec = patch.deciding ?? s.deciding;
    if (Object.keys(dec).some((k) => gone(k as RequestKey))) {
      patch.deciding = Object.fromEntries(Object.entries(dec).filter(([k]) => !gone(k as RequestKey))) as Record<RequestKey, Verdict>;
    }
    if (s.cursor !== null && gone(s.cursor)) patch.cursor = null;
    if (s.inspected && removed.includes(s.inspected.listener)) patch.inspected = null;
  }
  if (errors.length > 0) patch.hostErrors = s.hostErrors.concat(errors).slice(-HOST_ERRORS_KEPT);
  if (logs.length > 0) patch.scriptLogs = s.scriptLogs.concat(logs).slice(-LOGS_KEPT);

  // A host clock ahead of our estimate: move the estimate (ages would otherwise go negative).
  const lastT = batch.events.length > 0 ? batch.events[batch.events.length - 1]!.t : 0;
  const estimate = performance.now() + s.hostClockOffset;
  if (lastT > estimate) patch.hostClockOffset = lastT - performance.now();

  const needsResync = batch.dropped !== undefined && Object.values(batch.dropped).some((n) => n > 0);
  return { patch, latency, needsResync };
}
