// Sessions slice: the recording in progress, a recorded session opened for the Sessions view (its
// timeline position and the state there, a page cache of its requests for the inspector and the
// CSV export), a what-if replay of it, and the condition script in the editor (what a what-if
// runs). Recording and job events reach this slice through its own subscription on the client,
// so events.ts, which applies the live view's events, needs to know nothing about them.
import { z } from 'zod';
import type { Result, RequestDetail } from '../../../electron/protocol/schema';
import { WorkbenchError } from '../../../electron/protocol/client';
import { requestKey, type RequestKey } from './types';
import { plainError, type Slice } from './deps';

export type RecordingState = NonNullable<Result<'recording.stop'>>;
export type SessionInfo = Result<'session.open'>;
export type TimelineState = Result<'session.stateAt'>;

// The what-if job's result travels as `unknown` in `job-done` (electron/host/replay/whatif.ts):
// checked here like every other message from the host.
const OutcomeSchema = z.object({
  verdict: z.enum(['accept', 'reject', 'expire', 'withdraw', 'error']),
  by: z.enum(['script', 'fallback', 'person', 'default', 'system']),
  attempts: z.number().int().min(0),
});
export const RequestResultSchema = z.object({
  listener: z.number().int(),
  id: z.number().int(),
  caller: z.object({ address: z.string(), port: z.number().int() }),
  recorded: OutcomeSchema.nullable(),
  now: OutcomeSchema,
  changed: z.boolean(),
});
export const WhatIfSummarySchema = z.object({
  requests: z.number().int().min(0),
  same: z.number().int().min(0),
  changed: z.number().int().min(0),
  unfinished: z.number().int().min(0),
  errors: z.number().int().min(0),
  offers: z.number().int().min(0),
  syntheticOffers: z.number().int().min(0),
  elapsedMs: z.number().min(0),
  requestsPerSecond: z.number().min(0),
  aborted: z.boolean(),
  warnings: z.array(z.string()),
});
const WhatIfResultSchema = z.object({ summary: WhatIfSummarySchema, changed: z.array(RequestResultSchema) });
export type RequestResult = z.infer<typeof RequestResultSchema>;
export type WhatIfSummary = z.infer<typeof WhatIfSummarySchema>;

export interface WhatIfRun {
  /** The session it runs on. */
  session: number;
  /** null until the host has answered `session.whatIf`. */
  job: number | null;
  state: 'starting' | 'running' | 'done' | 'cancelled' | 'failed';
  /** What ran, as the person chose it ("editor: ask.js", "listener #2 v3"). */
  label: string;
  /** Bytes (or lines) read of the session file, and the file's size when known. */
  progress: { done: number; total: number | null; requests: number } | null;
  summary: WhatIfSummary | null;
  /** Requests whose final verdict changed (the host sends up to 10,000). */
  changed: RequestResult[];
  error: string | null;
}

/** A request of the open session to show in the Sessions view's inspector. */
export interface SessionRequestRef {
  listener: number;
  id: number;
  /** Where to start looking: its first offer time when known (pending rows), else an estimate. */
  hintT?: number;
}

export interface CsvExport {
  state: 'running' | 'done' | 'cancelled' | 'failed';
  done: number;
  total: number | null;
  /** Where it was saved, or why it failed. */
  message: string | null;
}

/** Turns requests into CSV text: the header line, and one line per request. */
export interface CsvBuilder {
  header(): string;
  row(r: RequestDetail): string;
}

export interface EditorScript {
  listener: number | null;
  source: string;
  filename: string;
}

export interface SessionsSlice {
  /** The recording in progress (events written, a write error), or null. */
  recording: RecordingState | null;
  /** The last recording this UI saw end, so it can be opened at once. */
  lastRecording: RecordingState | null;
  recordingBusy: boolean;
  /** Why the last start or stop failed. */
  recordingError: string | null;
  /** `overwrite`: the file may exist (a save dialog that asked); otherwise the host refuses one that does. */
  startRecording(path: string, overwrite?: boolean): Promise<boolean>;
  stopRecording(): Promise<void>;
  /** Asks the host for the recording state (the event count moves without events). */
  refreshRecording(): Promise<void>;

  session: SessionInfo | null;
  sessionOpening: boolean;
  /** While a session file is read: bytes so far of its size, requests seen, and the host's job. */
  sessionOpenProgress: { job: number; done: number; total: number | null; requests: number } | null;
  /** Stops the reading of the session being opened. */
  cancelOpenSession(): Promise<void>;
  sessionError: string | null;
  /** The timeline position, ms into the session. */
  sessionT: number;
  /** The state at (or shortly before) sessionT. */
  sessionState: TimelineState | null;
  sessionStateError: string | null;
  sessionInspected: SessionRequestRef | null;
  /** Session files opened before (newest first), for a browser without the desktop app's list. */
  recentSessions: string[];
  openSession(path: string): Promise<boolean>;
  closeSession(): Promise<void>;
  seekSession(t: number): void;
  inspectSessionRequest(ref: SessionRequestRef | null): void;
  /** One recorded request, from the page cache or the host; null when the session has no such request. */
  loadSessionRequest(ref: SessionRequestRef): Promise<RequestDetail | null>;
  /** Every recorded request, page by page, handed to `each` in arrival order. */
  forEachSessionRequest(each: (r: RequestDetail) => void, onProgress?: (done: number, total: number) => void): Promise<void>;
  /** The CSV export in progress or its outcome. */
  csvExport: CsvExport | null;
  /**
   * Builds the CSV of every request of the open session and hands it to `save` (a dialog or a
   * download; resolves with where it went, or null when the person cancelled).
   */
  exportSessionCsv(build: CsvBuilder, save: (text: string) => Promise<string | null>): Promise<void>;

  whatIf: WhatIfRun | null;
  startWhatIf(source: string, filename: string, label: string): Promise<void>;
  cancelWhatIf(): Promise<void>;

  /** Bumped when something (the File menu, "Open in Sessions") wants the Sessions view shown. */
  sessionsViewWanted: number;
  showSessionsView(): void;

  /** Unsaved editor text per listener; survives switching listeners and views. */
  scriptDrafts: Readonly<Record<number, { text: string; filename: string }>>;
  /** What the script editor holds now: the script a what-if or a test run uses. */
  editorScript: EditorScript | null;
  setScriptDraft(listener: number, draft: { text: string; filename: string } | null): void;
  setEditorScript(script: EditorScript | null): void;
}

const PAGE = 500;
const PAGES_KEPT = 40;
const EXPORT_PAGE = 2000;
const RECENT_KEY = 'accept-workbench.recent-sessions';
const RECENT_KEPT = 8;

function loadRecent(): string[] {
  try {
    const v: unknown = JSON.parse(globalThis.localStorage?.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string').slice(0, RECENT_KEPT) : [];
  } catch {
    return []; // storage disabled or garbage: start with none
  }
}

function saveRecent(list: string[]): void {
  try {
    globalThis.localStorage?.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // Not remembered across reloads; the list in memory still works.
  }
}

/** The host's reason, with its position for a script that does not compile. */
function callError(e: unknown): string {
  return e instanceof WorkbenchError && e.code === 'invalid-script' ? `The script does not compile: ${e.message}` : plainError(e);
}

export const createSessionsSlice: Slice<SessionsSlice> = ({ client, track }) => (set, get) => {
  // ---- the open session's request pages (an LRU of pages, and where each seen request is) ----
  let cache = { session: -1, total: null as number | null, pages: new Map<number, RequestDetail[]>(), where: new Map<RequestKey, number>() };
  const resetCache = (session: number): void => {
    cache = { session, total: null, pages: new Map(), where: new Map() };
  };
  const page = async (session: number, n: number): Promise<RequestDetail[] | null> => {
    const hit = cache.session === session ? cache.pages.get(n) : undefined;
    if (hit) {
      cache.pages.delete(n);
      cache.pages.set(n, hit);
      return hit;
    }
    const r = await client.call('session.requests', { session, offset: n * PAGE, limit: PAGE });
    if (cache.session !== session) return null;
    cache.total = r.total;
    cache.pages.set(n, r.requests);
    for (const q of r.requests) cache.where.set(requestKey(q.listener, q.id), n);
    while (cache.pages.size > PAGES_KEPT) cache.pages.delete(cache.pages.keys().next().value!);
    return r.requests;
  };

  // ---- timeline: one stateAt in flight; the newest position wins ----
  let seeking = false;
  let answered: { session: number; t: number } | null = null;
  const seekLoop = async (): Promise<void> => {
    seeking = true;
    let failed: { session: number; t: number } | null = null;
    try {
      for (;;) {
        const s = get().session;
        const t = get().sessionT;
        if (!s) break;
        if (answered && answered.session === s.session && answered.t === t) {
          // Back at a position already shown: an error from the one left behind no longer applies.
          if (get().sessionStateError !== null) set({ sessionStateError: null });
          break;
        }
        failed = { session: s.session, t };
        const state = await client.call('session.stateAt', { session: s.session, t });
        failed = null;
        answered = { session: s.session, t };
        if (get().session?.session === s.session) set({ sessionState: state, sessionStateError: null });
      }
    } catch (e) {
      // Said only of the position still shown (not of a session closed or replaced meanwhile, nor
      // of a position left while the call was out: that one is asked for below).
      if (failed && get().session?.session === failed.session && get().sessionT === failed.t) {
        set({ sessionStateError: `Could not load the state at this point: ${plainError(e)}` });
      }
    } finally {
      seeking = false;
    }
    // Moved again, or another session opened, while the failing call was out: try that (not the failed one again).
    const now = get().session;
    if (failed !== null && now && (now.session !== failed.session || get().sessionT !== failed.t)) void seekLoop();
  };

  // ---- what-if job events, also those that come before the job's id is known ----
  type JobEvent = { progress?: WhatIfRun['progress']; done?: { outcome: 'done' | 'cancelled' | 'failed'; error?: string; result?: unknown } };
  const early = new Map<number, JobEvent>();
  /** Bumped by each startWhatIf: an answer for an older run is not this one's. */
  let whatIfRuns = 0;
  const applyJob = (job: number, ev: JobEvent): void => {
    const w = get().whatIf;
    if (!w || w.job !== job) return;
    if (ev.done) {
      const { outcome, error, result } = ev.done;
      const parsed = result === undefined ? null : WhatIfResultSchema.safeParse(result);
      if (outcome === 'failed') set({ whatIf: { ...w, state: 'failed', error: error ?? 'the replay failed' } });
      else if (parsed && parsed.success) set({ whatIf: { ...w, state: outcome, summary: parsed.data.summary, changed: parsed.data.changed, error: null } });
      else if (outcome === 'cancelled') set({ whatIf: { ...w, state: 'cancelled' } });
      else set({ whatIf: { ...w, state: 'failed', error: 'the host sent a what-if result this version cannot read' } });
    } else if (ev.progress && (w.state === 'running' || w.state === 'starting')) {
      set({ whatIf: { ...w, progress: ev.progress } });
    }
  };

  const sawRecording = (r: RecordingState | null): void => {
    const prev = get().recording;
    if (r === null) {
      if (prev) set({ recording: null, lastRecording: prev });
    } else set({ recording: r });
  };

  track(client.onEvents((batch) => {
    for (const e of batch.events) {
      if (e.type === 'recording') sawRecording(e.recording);
      else if (e.type === 'job-progress' && e.kind === 'open-session') {
        // The host reads one file at a time for this UI; progress is shown while our call waits.
        if (get().sessionOpening) set({ sessionOpenProgress: { job: e.job, done: e.done, total: e.total, requests: e.detail?.requests ?? 0 } });
      } else if ((e.type === 'job-progress' || e.type === 'job-done') && e.kind === 'what-if') {
        const ev: JobEvent = e.type === 'job-done'
          ? { done: { outcome: e.outcome, ...(e.error !== undefined ? { error: e.error } : {}), result: e.result } }
          : { progress: { done: e.done, total: e.total, requests: e.detail?.requests ?? 0 } };
        const w = get().whatIf;
        if (w && w.job === e.job) applyJob(e.job, ev);
        else if (w && w.state === 'starting') {
          // Maybe ours, its `session.whatIf` answer still on the way: keep the latest of each kind.
          early.set(e.job, { ...early.get(e.job), ...ev });
          if (early.size > 16) early.delete(early.keys().next().value!);
        }
      }
    }
  }));

  // A new host knows nothing of the old one's sessions and jobs.
  let hostId: string | null = client.hello?.hostId ?? null;
  track(client.onStatus((change) => {
    if (change.state !== 'connected') {
      const w = get().whatIf;
      if (change.state === 'disconnected' && w && (w.state === 'running' || w.state === 'starting')) {
        set({ whatIf: { ...w, state: 'failed', error: 'the connection to the host was lost' } });
      }
      return;
    }
    const id = change.hello?.hostId ?? null;
    if (hostId !== null && id !== hostId && get().session) {
      resetCache(-1);
      answered = null;
      set({
        session: null, sessionState: null, sessionInspected: null, whatIf: null, csvExport: null,
        sessionError: 'The host restarted: open the session again.',
      });
    }
    hostId = id;
    void get().refreshRecording();
  }));
  // Connected before this slice subscribed: ask once the store exists.
  if (client.state === 'connected') queueMicrotask(() => void get().refreshRecording());

  return {
    recording: null,
    lastRecording: null,
    recordingBusy: false,
    recordingError: null,

    startRecording: async (path, overwrite = false) => {
      set({ recordingBusy: true, recordingError: null });
      try {
        set({ recording: await client.call('recording.start', { path, ...(overwrite ? { overwrite: true } : {}) }) });
        return true;
      } catch (e) {
        set({ recordingError: `Could not start recording: ${plainError(e)}` });
        return false;
      } finally {
        set({ recordingBusy: false });
      }
    },

    stopRecording: async () => {
      set({ recordingBusy: true, recordingError: null });
      try {
        const last = await client.call('recording.stop', {});
        set({ recording: null, lastRecording: last ?? get().recording ?? get().lastRecording });
      } catch (e) {
        set({ recordingError: `Could not stop recording: ${plainError(e)}` });
      } finally {
        set({ recordingBusy: false });
      }
    },

    refreshRecording: async () => {
      try {
        sawRecording((await client.call('host.info', {})).recording);
      } catch {
        // The connection slice reports a host that does not answer.
      }
    },

    session: null,
    sessionOpening: false,
    sessionOpenProgress: null,
    sessionError: null,
    sessionT: 0,
    sessionState: null,
    sessionStateError: null,
    sessionInspected: null,
    recentSessions: loadRecent(),

    openSession: async (path) => {
      const p = path.trim();
      if (p === '' || get().sessionOpening) return false;
      set({ sessionOpening: true, sessionOpenProgress: null, sessionError: null });
      try {
        const info = await client.call('session.open', { path: p }, { timeoutMs: 0 });
        const prev = get().session;
        if (get().whatIf?.state === 'running') await get().cancelWhatIf();
        if (prev) client.call('session.close', { session: prev.session }).catch(() => undefined);
        resetCache(info.session);
        answered = null;
        const recentSessions = [p, ...get().recentSessions.filter((x) => x !== p)].slice(0, RECENT_KEPT);
        saveRecent(recentSessions);
        set({
          session: info, sessionOpening: false, sessionOpenProgress: null, sessionT: 0, sessionState: null, sessionStateError: null,
          sessionInspected: null, whatIf: null, csvExport: null, recentSessions,
        });
        get().seekSession(0);
        return true;
      } catch (e) {
        const cancelled = (e as { code?: unknown }).code === 'cancelled';
        set({ sessionOpening: false, sessionOpenProgress: null, sessionError: cancelled ? `Opening ${p} was cancelled.` : `Could not open ${p}: ${plainError(e)}` });
        return false;
      }
    },

    cancelOpenSession: async () => {
      const job = get().sessionOpenProgress?.job;
      if (job === undefined || !get().sessionOpening) return;
      await client.call('job.cancel', { job }).catch(() => undefined);
    },

    closeSession: async () => {
      const s = get().session;
      if (!s) return;
      if (get().whatIf?.state === 'running') await get().cancelWhatIf();
      resetCache(-1);
      answered = null;
      set({ session: null, sessionState: null, sessionInspected: null, whatIf: null, csvExport: null, sessionError: null, sessionT: 0 });
      await client.call('session.close', { session: s.session }).catch(() => undefined);
    },

    seekSession: (t) => {
      const s = get().session;
      if (!s) return;
      const clamped = Math.min(Math.max(0, Number.isFinite(t) ? t : 0), s.durationMs);
      set({ sessionT: clamped });
      if (!seeking) void seekLoop();
    },

    inspectSessionRequest: (ref) => set({ sessionInspected: ref }),

    loadSessionRequest: async (ref) => {
      const s = get().session;
      if (!s) return null;
      const key = requestKey(ref.listener, ref.id);
      const match = (rs: RequestDetail[] | null): RequestDetail | null => rs?.find((r) => r.listener === ref.listener && r.id === ref.id) ?? null;
      const known = cache.session === s.session ? cache.where.get(key) : undefined;
      if (known !== undefined) {
        const found = match(await page(s.session, known));
        if (found) return found;
      }
      const first = await page(s.session, 0);
      if (!first) return null;
      const pages = Math.ceil((cache.total ?? 0) / PAGE);
      // Requests are in arrival order: a binary search by first offer time finds the likely page,
      // then the pages around it, nearest first.
      let start = 0;
      if (ref.hintT !== undefined && pages > 1) {
        let lo = 0;
        let hi = pages - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          const p = await page(s.session, mid);
          if (!p) return null;
          if (p.length > 0 && p[0]!.firstOfferT <= ref.hintT) lo = mid;
          else hi = mid - 1;
        }
        start = lo;
      }
      for (let d = 0; d < pages; d++) {
        for (const n of d === 0 ? [start] : [start - d, start + d]) {
          if (n < 0 || n >= pages) continue;
          const found = match(await page(s.session, n));
          if (found) return found;
          if (cache.session !== s.session) return null;
        }
      }
      return null;
    },

    forEachSessionRequest: async (each, onProgress) => {
      const s = get().session;
      if (!s) throw new Error('no session is open');
      let offset = 0;
      for (;;) {
        const r = await client.call('session.requests', { session: s.session, offset, limit: EXPORT_PAGE });
        // Closed or replaced meanwhile: the rest is not asked for, and what came is not handed on.
        if (get().session?.session !== s.session) throw new Error('the session was closed');
        for (const q of r.requests) each(q);
        offset += r.requests.length;
        onProgress?.(offset, r.total);
        if (r.requests.length === 0 || offset >= r.total) return;
      }
    },

    csvExport: null,

    exportSessionCsv: async (build, save) => {
      const s = get().session;
      if (!s) {
        set({ csvExport: { state: 'failed', done: 0, total: null, message: 'Open a session first: the export is of its requests.' } });
        return;
      }
      if (get().csvExport?.state === 'running') return;
      set({ csvExport: { state: 'running', done: 0, total: s.requests, message: null } });
      try {
        const lines = [build.header()];
        await get().forEachSessionRequest((r) => lines.push(build.row(r)), (done, total) => {
          set({ csvExport: { state: 'running', done, total, message: null } });
        });
        const rows = lines.length - 1;
        const where = await save(`${lines.join('\r\n')}\r\n`);
        if (get().session?.session !== s.session) return;
        set({
          csvExport: where === null
            ? { state: 'cancelled', done: rows, total: rows, message: null }
            : { state: 'done', done: rows, total: rows, message: where },
        });
      } catch (e) {
        // Not said of another session opened meanwhile.
        if (get().session?.session === s.session) set({ csvExport: { state: 'failed', done: 0, total: null, message: `Could not export: ${plainError(e)}` } });
      }
    },

    whatIf: null,

    startWhatIf: async (source, filename, label) => {
      const s = get().session;
      if (!s) return;
      if (get().whatIf?.state === 'running') await get().cancelWhatIf();
      early.clear();
      const mine = ++whatIfRuns;
      set({ whatIf: { session: s.session, job: null, state: 'starting', label, progress: null, summary: null, changed: [], error: null } });
      try {
        const { job } = await client.call('session.whatIf', { session: s.session, source, filename });
        const w = get().whatIf;
        if (mine !== whatIfRuns || !w || w.session !== s.session || w.state !== 'starting') {
          // Replaced by a newer run, cancelled while starting, or the session closed meanwhile:
          // this job is nobody's any more.
          client.call('job.cancel', { job }).catch(() => undefined);
          return;
        }
        set({ whatIf: { ...w, job, state: 'running' } });
        const ev = early.get(job);
        early.clear();
        if (ev?.progress) applyJob(job, { progress: ev.progress });
        if (ev?.done) applyJob(job, { done: ev.done });
      } catch (e) {
        const w = get().whatIf;
        if (mine === whatIfRuns && w && w.state === 'starting') set({ whatIf: { ...w, state: 'failed', error: callError(e) } });
      }
    },

    cancelWhatIf: async () => {
      const w = get().whatIf;
      if (w?.state === 'starting') {
        // No job id yet: the run is marked cancelled now, and its job is cancelled when the id comes.
        set({ whatIf: { ...w, state: 'cancelled' } });
        return;
      }
      if (!w || w.job === null || w.state !== 'running') return;
      try {
        await client.call('job.cancel', { job: w.job });
      } catch {
        // Already over: its job-done says how it ended.
      }
    },

    sessionsViewWanted: 0,
    showSessionsView: () => set({ sessionsViewWanted: get().sessionsViewWanted + 1 }),

    scriptDrafts: {},
    editorScript: null,
    setScriptDraft: (listener, draft) => {
      const scriptDrafts = { ...get().scriptDrafts };
      if (draft) scriptDrafts[listener] = draft;
      else delete scriptDrafts[listener];
      set({ scriptDrafts });
    },
    setEditorScript: (editorScript) => set({ editorScript }),
  };
};
