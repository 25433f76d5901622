// A session file opened for the replay view: every request with its offers and final state, and
// the state of the queue at any recorded moment (the timeline scrubber). Holds the requests in
// memory (about 1–1.5 KB each with SQOS); the what-if and live replays stream the file instead.
import type { FinalVerdict } from '../types';
import type { VerdictCounts } from '../session/events';
import { streamSession } from '../session/reader';
import { addOffer, finishRequest, newRequestDetail } from '../request-detail';
import { SessionSummariser, base64Bytes } from './summary';
import type { PendingRequest, RequestDetail, Result } from '../../protocol/schema';

type TimelineState = Result<'session.stateAt'>;
type SessionInfo = Omit<Result<'session.open'>, 'session'>;
type Recent = TimelineState['recent'][number];

const RECENT_LIMIT = 200;

function sockaddr(address: string, port: number): RequestDetail['caller'] {
  return { family: address.includes(':') ? 'ipv6' : 'ipv4', address, port, raw: '' };
}


export interface SessionTimeline {
  readonly path: string;
  readonly info: SessionInfo;
  stateAt(t: number): TimelineState;
  requests(offset: number, limit: number): Result<'session.requests'>;
}

export interface OpenTimelineOptions {
  /** After each chunk read: bytes so far, the file's size, requests seen so far. */
  onProgress?: (bytesRead: number, totalBytes: number, requests: number) => void;
  /** Stops the reading: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Reads a session file. Rejects with SessionFormatError on a malformed file. */
export async function openSessionTimeline(path: string, opts: OpenTimelineOptions = {}): Promise<SessionTimeline> {
  const summariser = new SessionSummariser();
  const byKey = new Map<string, RequestDetail>();
  const listeners = new Map<number, { address: string; port: number }>();
  const scripts: Array<{ listener: number; version: number; t: number }> = [];

  const result = await streamSession(path, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: (bytesRead: number, totalBytes: number) => opts.onProgress!(bytesRead, totalBytes, byKey.size) } : {}),
    onHeader: (h) => summariser.setHeader(h),
    onEvent: (e) => {
      summariser.push(e);
      switch (e.type) {
        case 'listener':
          listeners.set(e.listener, { address: e.address, port: e.port });
          break;
        case 'script':
          scripts.push({ listener: e.listener, version: e.version, t: e.t });
          break;
        case 'offer': {
          const key = `${e.listener}:${e.id}`;
          let r = byKey.get(key);
          if (!r) {
            r = newRequestDetail(e.listener, e, e.t);
            byKey.set(key, r);
          }
          addOffer(r, e, e.t);
          break;
        }
        case 'decision': {
          const key = `${e.listener}:${e.id}`;
          let r = byKey.get(key);
          if (!r) {
            // Decided without an offer on record (the recording started after its offers).
            const l = listeners.get(e.listener);
            r = {
              listener: e.listener, id: e.id, caller: sockaddr(e.caller.address, e.caller.port),
              callee: sockaddr(l?.address ?? '', l?.port ?? 0), callerData: '', callerDataSource: 'none', sqos: null, gqos: null,
              firstOfferT: Math.max(0, e.t - e.latencyUs / 1000), state: 'deciding', offers: [], final: null,
            };
            byKey.set(key, r);
          }
          finishRequest(r, e, e.t);
          break;
        }
        default:
          break;
      }
    },
  });
  const summary = summariser.finish(result.warnings);
  const all = [...byKey.values()].sort((a, b) => a.firstOfferT - b.firstOfferT);
  const finals = all.filter((r) => r.final !== null).sort((a, b) => a.final!.t - b.final!.t);

  const info: SessionInfo = {
    path,
    backend: result.header.backend,
    startTime: result.header.startTime,
    complete: summary.complete,
    warnings: result.warnings,
    durationMs: summary.durationMs,
    listeners: summary.listeners.map((l) => ({ id: l.id, address: l.address, port: l.port, discipline: l.discipline, handler: l.handler })),
    requests: all.length,
    offers: summary.offers,
    verdicts: summary.verdicts,
  };

  return {
    path,
    info,
    stateAt(t: number): TimelineState {
      const pending: PendingRequest[] = [];
      for (const r of all) {
        if (r.firstOfferT > t) break; // sorted by first offer
        if (r.final && r.final.t <= t) continue;
        let attempts = 0;
        let last: RequestDetail['offers'][number] | null = null;
        for (const o of r.offers) {
          if (o.t > t) break;
          attempts++;
          last = o;
        }
        pending.push({
          listener: r.listener, id: r.id, caller: { family: r.caller.family, address: r.caller.address, port: r.caller.port },
          firstOfferT: r.firstOfferT, attempts, dataBytes: base64Bytes(r.callerData),
          state: last?.verdict === 'defer' ? (last.ask ? 'awaiting-person' : 'deferred') : 'deciding',
        });
      }
      // Finals sorted by time: the ones at or before t are a prefix.
      let lo = 0;
      let hi = finals.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (finals[mid]!.final!.t <= t) lo = mid + 1; else hi = mid;
      }
      const counts: VerdictCounts = { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };
      for (let i = 0; i < lo; i++) counts[finals[i]!.final!.verdict as FinalVerdict]++;
      const recent: Recent[] = finals.slice(Math.max(0, lo - RECENT_LIMIT), lo).map((r) => ({
        listener: r.listener, id: r.id, caller: { address: r.caller.address, port: r.caller.port },
        verdict: r.final!.verdict, by: r.final!.by, latencyUs: r.final!.latencyUs, t: r.final!.t,
      }));
      const current = new Map<number, number>();
      for (const s of scripts) if (s.t <= t) current.set(s.listener, s.version);
      return { t, pending, counts, recent, scripts: [...current].map(([listener, version]) => ({ listener, version })) };
    },
    requests(offset: number, limit: number) {
      return { total: all.length, requests: all.slice(offset, offset + limit).map((r) => structuredClone(r)) };
    },
  };
}
