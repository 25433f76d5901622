// @vitest-environment jsdom
// Recording and the Sessions view: the sessions slice against a scripted host (recording state,
// timeline seeks that keep one stateAt in flight, the request page cache, what-if jobs and their
// events, the CSV export, a host restart), the views (record toggle, open / summary / timeline /
// pending / decisions / inspector, what-if, CSV download or save dialog, the File menu), and the
// whole path against a real host with real TCP callers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Profiler } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HostEvent, RequestDetail } from '../../electron/protocol/schema';
import type { SessionInfo, TimelineState } from '../../renderer/src/store/sessions';
import type { Workbench } from '../../renderer/src/store';
import { WorkbenchProvider } from '../../renderer/src/context';
import { SessionsView } from '../../renderer/src/components/sessions/SessionsView';
import { RecordControl } from '../../renderer/src/components/sessions/RecordControl';
import { WhatIfPanel } from '../../renderer/src/components/sessions/WhatIfPanel';
import { SessionPending } from '../../renderer/src/components/sessions/SessionPending';
import { requestAt } from '../../renderer/src/components/sessions/SessionInspector';
import { useSessionsView } from '../../renderer/src/components/sessions/MenuActions';
import { CSV_BUILDER } from '../../renderer/src/components/sessions/useCsvExport';
import { csvFileName, csvRow } from '../../renderer/src/components/sessions/csv';
import { client as tcpClient } from '../helpers/net';
import { scratchDir } from '../helpers/scratch';
import { FakeHost, fakeWorkbench, listenerState, renderWith, requestDetail, sleep, until } from './helpers';
import { componentSuite } from './real-host';

// The virtualiser as it is, noting the key function each render hands it: a new one every render
// makes it measure every row again.
const virtualKeys = vi.hoisted(() => [] as unknown[]);
vi.mock('@tanstack/react-virtual', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@tanstack/react-virtual')>();
  const useVirtualizer = (options: { getItemKey?: unknown }) => {
    virtualKeys.push(options.getItemKey);
    return (actual.useVirtualizer as (o: unknown) => unknown)(options);
  };
  return { ...actual, useVirtualizer };
});

const suite = componentSuite();
afterEach(() => {
  delete (window as { workbench?: unknown }).workbench;
  localStorage.clear();
});
const dir = scratchDir('aw-renderer-sessions-');

// ---- a recorded session, as a scripted host serves it ------------------------------------------

const COUNTS0 = { accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };

function info(over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    session: 1, path: '/data/session-1.jsonl', backend: 'posix', startTime: '2025-03-04T10:15:00.000Z', complete: false,
    warnings: ['line 9 is cut short (file truncated?); ignored'], durationMs: 5000,
    listeners: [{ id: 1, address: '127.0.0.1', port: 40001, discipline: 'held', handler: 'echo' }],
    requests: 3, offers: 6, verdicts: { accept: 2, reject: 1, expire: 0, withdraw: 0, error: 0 }, ...over,
  };
}

/** Three requests: #1 accepted at 100, #2 rejected at 400, #3 waits from 1000 and is accepted at 3000. */
function recorded(): RequestDetail[] {
  const final = (verdict: 'accept' | 'reject', t: number, latencyUs: number) => ({ verdict, by: 'script' as const, result: verdict === 'accept' ? 'OK' : 'WSAECONNREFUSED', latencyUs, t });
  return [
    requestDetail(1, 1, { firstOfferT: 50, state: 'final', final: final('accept', 100, 50_000), callerData: btoa('HELLO 1'), callerDataSource: 'peek' }),
    requestDetail(1, 2, { firstOfferT: 300, state: 'final', final: final('reject', 400, 100_000), callerData: btoa('NOPE'), callerDataSource: 'peek' }),
    requestDetail(1, 3, {
      firstOfferT: 1000, state: 'final', final: final('accept', 3000, 2_000_000), callerData: btoa('HELLO 3'), callerDataSource: 'peek',
      offers: [
        { t: 1000, attempt: 1, verdict: 'defer', by: 'script', ask: false, conditionUs: 12, scriptVersion: 1 },
        { t: 3000, attempt: 2, verdict: 'accept', by: 'script', ask: false, conditionUs: 14, scriptVersion: 1 },
      ],
    }),
  ];
}

function stateAt(t: number, requests = recorded()): TimelineState {
  const counts = { ...COUNTS0 };
  const finals = requests.filter((r) => r.final && r.final.t <= t);
  for (const r of finals) counts[r.final!.verdict]++;
  return {
    t,
    pending: requests.filter((r) => r.firstOfferT <= t && !(r.final && r.final.t <= t)).map((r) => ({
      listener: r.listener, id: r.id, caller: { family: 'ipv4' as const, address: r.caller.address, port: r.caller.port },
      firstOfferT: r.firstOfferT, attempts: r.offers.filter((o) => o.t <= t).length, dataBytes: atob(r.callerData).length, state: 'deferred' as const,
    })),
    counts,
    recent: finals.map((r) => ({ listener: r.listener, id: r.id, caller: { address: r.caller.address, port: r.caller.port }, verdict: r.final!.verdict, by: r.final!.by, latencyUs: r.final!.latencyUs, t: r.final!.t })),
    scripts: [{ listener: 1, version: 1 }],
  };
}

function serveSession(h: FakeHost, requests = recorded(), over: Partial<SessionInfo> = {}): void {
  h.handlers['session.open'] = (p) => info({ path: p.path as string, requests: requests.length, ...over });
  h.handlers['session.stateAt'] = (p) => stateAt(p.t as number, requests);
  h.handlers['session.requests'] = (p) => {
    const offset = (p.offset as number | undefined) ?? 0;
    return { total: requests.length, requests: requests.slice(offset, offset + ((p.limit as number | undefined) ?? 1000)) };
  };
  h.handlers['session.close'] = () => ({});
  h.handlers['job.cancel'] = () => ({ cancelled: true });
}

function whatIfResult(changed: Array<[number, string, string]>, over: Record<string, unknown> = {}) {
  return {
    summary: {
      requests: 3, same: 3 - changed.length, changed: changed.length, unfinished: 0, errors: 0, offers: 4, syntheticOffers: 1,
      elapsedMs: 3.2, requestsPerSecond: 900, aborted: false, warnings: [], ...over,
    },
    changed: changed.map(([id, was, now]) => ({
      listener: 1, id, caller: { address: '127.0.0.1', port: 51234 },
      recorded: { verdict: was, by: 'script', attempts: 1 }, now: { verdict: now, by: 'script', attempts: 1 }, changed: true,
    })),
  };
}

const jobDone = (job: number, result: unknown, outcome: 'done' | 'cancelled' | 'failed' = 'done', error?: string): HostEvent => ({
  type: 'job-done', t: 1, job, kind: 'what-if', outcome, ...(result !== undefined ? { result } : {}), ...(error ? { error } : {}),
});
const jobProgress = (job: number, done: number, total: number, requests: number): HostEvent => ({
  type: 'job-progress', t: 1, job, kind: 'what-if', done, total, detail: { requests },
});

/** A promise and its resolve, to hold a host answer back. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => { open = r; });
  return { wait, open };
}

// ---- the slice ----------------------------------------------------------------------------------

describe('sessions slice', () => {
  it('follows the recording: start, events, the count asked for, stop; says why a start failed', async () => {
    const { host, wb } = await fakeWorkbench();
    let rec = { path: 'session-a.jsonl', startedT: 10, events: 0, error: null as string | null };
    host.handlers['recording.start'] = (p) => {
      if (p.path === '/nope/x.jsonl') throw Object.assign(new Error('cannot record to /nope/x.jsonl: ENOENT'), { code: 'failed' });
      rec = { ...rec, path: p.path as string };
      return rec;
    };
    host.handlers['recording.stop'] = () => ({ ...rec, events: 42 });
    const s = () => wb.store.getState();
    expect(await s().startRecording('/nope/x.jsonl')).toBe(false);
    expect(s().recordingError).toBe('Could not start recording: cannot record to /nope/x.jsonl: ENOENT');
    expect(await s().startRecording('session-a.jsonl')).toBe(true);
    expect(s().recording).toMatchObject({ path: 'session-a.jsonl', events: 0 });
    expect(s().recordingError).toBeNull();
    // The count moves without events: host.info has it.
    host.handlers['host.info'] = () => ({ protocol: 1, appVersion: 't', backend: 'posix', platform: 'linux', t: 1, listeners: [], recording: { ...rec, events: 17 } });
    await s().refreshRecording();
    expect(s().recording?.events).toBe(17);
    // A write error arrives as an event.
    act(() => host.events([{ type: 'recording', t: 5, recording: { ...rec, events: 20, error: 'ENOSPC: no space left on device' } }]));
    await until(() => s().recording?.error === 'ENOSPC: no space left on device');
    await s().stopRecording();
    expect(s().recording).toBeNull();
    expect(s().lastRecording).toMatchObject({ path: 'session-a.jsonl', events: 42 });
    // Stopped elsewhere (another window): the event says so, and the last state is kept.
    await s().startRecording('session-b.jsonl');
    act(() => host.events([{ type: 'recording', t: 9, recording: null }]));
    await until(() => s().recording === null);
    expect(s().lastRecording?.path).toBe('session-b.jsonl');
  });

  it('opens a session, keeps one stateAt in flight while the position moves, and lands on the newest position', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    let hold = gate();
    host.handlers['session.stateAt'] = async (p) => { await hold.wait; return stateAt(p.t as number); };
    expect(await s().openSession('  /data/session-1.jsonl ')).toBe(true);
    expect(host.callsOf('session.open')).toEqual([{ path: '/data/session-1.jsonl' }]);
    expect(s().session?.requests).toBe(3);
    expect(s().recentSessions).toEqual(['/data/session-1.jsonl']);
    s().seekSession(100);
    s().seekSession(2000);
    s().seekSession(99_999); // past the end: the end
    expect(s().sessionT).toBe(5000);
    expect(host.callsOf('session.stateAt')).toEqual([{ session: 1, t: 0 }]);
    const first = hold;
    hold = gate();
    first.open();
    await until(() => host.callsOf('session.stateAt').length === 2);
    expect(host.callsOf('session.stateAt')[1]).toEqual({ session: 1, t: 5000 });
    hold.open();
    await until(() => s().sessionState?.t === 5000);
    expect(s().sessionState?.counts).toEqual({ ...COUNTS0, accept: 2, reject: 1 });
    await sleep(20);
    expect(host.callsOf('session.stateAt')).toHaveLength(2);
    // A failed answer is shown; the next move asks again.
    host.handlers['session.stateAt'] = () => { throw Object.assign(new Error('no session 1'), { code: 'not-found' }); };
    s().seekSession(1500);
    await until(() => s().sessionStateError !== null);
    expect(s().sessionStateError).toBe('Could not load the state at this point: no session 1');
    host.handlers['session.stateAt'] = (p) => stateAt(p.t as number);
    s().seekSession(1600);
    await until(() => s().sessionState?.t === 1600);
    expect(s().sessionStateError).toBeNull();
    expect(s().sessionState?.pending.map((p) => p.id)).toEqual([3]);
  });

  it('finds a recorded request by paging with a binary search on arrival, and keeps the pages it read', async () => {
    const many = Array.from({ length: 1600 }, (_, i) => requestDetail(1, i + 1, { firstOfferT: i * 10, state: 'final' }));
    const { host, wb } = await fakeWorkbench((h) => serveSession(h, many));
    const s = () => wb.store.getState();
    await s().openSession('/data/big.jsonl');
    const found = await s().loadSessionRequest({ listener: 1, id: 1234, hintT: 1233 * 10 });
    expect(found?.id).toBe(1234);
    const pages = host.callsOf('session.requests');
    expect(pages.every((p) => p.limit === 500)).toBe(true);
    // The first page, then a binary search over 4 pages: 1000 (too early), 1500 (too late).
    expect(pages.map((p) => p.offset)).toEqual([0, 1000, 1500]);
    // Known now: no further call.
    expect((await s().loadSessionRequest({ listener: 1, id: 1100 }))?.id).toBe(1100);
    expect(host.callsOf('session.requests')).toHaveLength(pages.length);
    // A rough hint (a decision's time minus its latency) still finds it nearby.
    expect((await s().loadSessionRequest({ listener: 1, id: 10, hintT: 4000 }))?.id).toBe(10);
    // Not in the session: every page is looked at once, then null.
    expect(await s().loadSessionRequest({ listener: 2, id: 5, hintT: 0 })).toBeNull();
    expect(new Set(host.callsOf('session.requests').map((p) => p.offset))).toEqual(new Set([0, 500, 1000, 1500]));
  });

  it('runs a what-if: its job\'s progress and result, also when the events overtake the answer; a script that does not compile', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/session-1.jsonl');
    host.handlers['session.whatIf'] = () => ({ job: 7 });
    await s().startWhatIf('export default () => "reject";', 'r.js', 'the editor\'s r.js');
    expect(host.callsOf('session.whatIf')).toEqual([{ session: 1, source: 'export default () => "reject";', filename: 'r.js' }]);
    expect(s().whatIf).toMatchObject({ job: 7, state: 'running', label: 'the editor\'s r.js' });
    act(() => host.events([jobProgress(99, 1, 2, 1), jobProgress(7, 500, 1000, 2)])); // another job's events are not ours
    await until(() => s().whatIf?.progress !== null);
    expect(s().whatIf?.progress).toEqual({ done: 500, total: 1000, requests: 2 });
    act(() => host.events([jobDone(7, whatIfResult([[1, 'accept', 'reject'], [3, 'accept', 'reject']]))]));
    await until(() => s().whatIf?.state === 'done');
    expect(s().whatIf?.summary).toMatchObject({ requests: 3, same: 1, changed: 2 });
    expect(s().whatIf?.changed.map((c) => [c.id, c.recorded?.verdict, c.now.verdict])).toEqual([[1, 'accept', 'reject'], [3, 'accept', 'reject']]);

    // The host's events can come before its answer: they are kept until the job id is known.
    host.handlers['session.whatIf'] = () => {
      host.events([jobProgress(8, 10, 10, 3), jobDone(8, whatIfResult([]))]);
      return { job: 8 };
    };
    await s().startWhatIf('export default () => "accept";', 'a.js', 'a.js');
    await until(() => s().whatIf?.state === 'done');
    expect(s().whatIf).toMatchObject({ job: 8, changed: [], summary: { changed: 0, same: 3 } });

    // A result this version cannot read, a failed job, a script that does not compile.
    host.handlers['session.whatIf'] = () => ({ job: 9 });
    await s().startWhatIf('x', 'x.js', 'x');
    act(() => host.events([jobDone(9, { summary: { requests: 'many' } })]));
    await until(() => s().whatIf?.state === 'failed');
    expect(s().whatIf?.error).toBe('the host sent a what-if result this version cannot read');
    host.handlers['session.whatIf'] = () => ({ job: 10 });
    await s().startWhatIf('x', 'x.js', 'x');
    act(() => host.events([jobDone(10, undefined, 'failed', 'session.jsonl:12: field "verdict": must be one of accept, reject, defer, invalid')]));
    await until(() => s().whatIf?.state === 'failed');
    expect(s().whatIf?.error).toContain('session.jsonl:12: field "verdict"');
    host.handlers['session.whatIf'] = () => { throw Object.assign(new Error('x.js:1:9: SyntaxError: unexpected token'), { code: 'invalid-script' }); };
    await s().startWhatIf('export default (', 'x.js', 'x');
    expect(s().whatIf).toMatchObject({ state: 'failed', error: 'The script does not compile: x.js:1:9: SyntaxError: unexpected token' });
  });

  it('cancels a running what-if, and forgets the session and its job when a new host comes', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/session-1.jsonl');
    host.handlers['session.whatIf'] = () => ({ job: 3 });
    await s().startWhatIf('x', 'x.js', 'x');
    await s().cancelWhatIf();
    expect(host.callsOf('job.cancel')).toEqual([{ job: 3 }]);
    act(() => host.events([jobDone(3, whatIfResult([[2, 'reject', 'accept']], { aborted: true, requests: 2, same: 1 }), 'cancelled')]));
    await until(() => s().whatIf?.state === 'cancelled');
    expect(s().whatIf?.summary?.aborted).toBe(true);
    expect(s().whatIf?.changed).toHaveLength(1);

    act(() => host.status('restarted', 'host crashed'));
    act(() => host.hello('host-2'));
    await until(() => s().session === null);
    expect(s().sessionError).toBe('The host restarted: open the session again.');
    expect(s().whatIf).toBeNull();
  });

  it('exports every request as CSV, page by page (quoted where needed, formulas kept as text)', async () => {
    const many = Array.from({ length: 4500 }, (_, i) => requestDetail(1, i + 1, { firstOfferT: i }));
    many[0] = { ...many[0]!, state: 'final', final: { verdict: 'error', by: 'system', result: '=HYPERLINK("x"), "quoted"', latencyUs: 5, t: 9 } };
    const { host, wb } = await fakeWorkbench((h) => serveSession(h, many));
    const s = () => wb.store.getState();
    let saved = '';
    await s().exportSessionCsv(CSV_BUILDER, async () => '/tmp/x.csv');
    expect(s().csvExport).toMatchObject({ state: 'failed', message: 'Open a session first: the export is of its requests.' });
    await s().openSession('/data/big.jsonl');
    const progress: number[] = [];
    const off = wb.store.subscribe((st) => { if (st.csvExport?.state === 'running') progress.push(st.csvExport.done); });
    await s().exportSessionCsv(CSV_BUILDER, async (text) => { saved = text; return '/tmp/x.csv'; });
    off();
    expect(host.callsOf('session.requests').map((p) => [p.offset, p.limit])).toEqual([[0, 2000], [2000, 2000], [4000, 2000]]);
    expect(progress).toEqual(expect.arrayContaining([2000, 4000, 4500]));
    expect(s().csvExport).toEqual({ state: 'done', done: 4500, total: 4500, message: '/tmp/x.csv' });
    const lines = saved.split('\r\n');
    expect(lines).toHaveLength(4502); // header, 4500 rows, and the last line end
    expect(lines[0]).toBe('listener,id,caller_address,caller_port,first_offer_t_ms,final_t_ms,verdict,by,attempts,latency_us,caller_data_bytes,caller_data_source,result');
    expect(lines[1]).toBe('1,1,127.0.0.1,51234,0,9,error,system,1,5,0,none,"\'=HYPERLINK(""x""), ""quoted"""');
    expect(lines[2]).toBe('1,2,127.0.0.1,51234,1,,,,1,,0,none,');
    // Cancelled in the dialog: not an error.
    await s().exportSessionCsv(CSV_BUILDER, async () => null);
    expect(s().csvExport?.state).toBe('cancelled');
    expect(csvFileName('/data/run 1/session-2025.jsonl')).toBe('session-2025.csv');
    expect(csvFileName('C:\\rec\\a.JSONL')).toBe('a.csv');
  });
});

// ---- the views ----------------------------------------------------------------------------------

describe('sessions slice: runs that overlap', () => {
  it('a what-if started while another is starting: the older answer cancels its own job and takes nothing', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/a.jsonl');
    const first = gate();
    const second = gate();
    let job = 20;
    host.handlers['session.whatIf'] = async (p) => {
      const mine = ++job;
      await ((p.source as string).includes('A') ? first.wait : second.wait);
      return { job: mine };
    };
    const a = s().startWhatIf('export default () => "A";', 'a.js', 'script A');
    await until(() => host.callsOf('session.whatIf').length === 1, 2000, 'A asked');
    const b = s().startWhatIf('export default () => "B";', 'b.js', 'script B');
    await until(() => host.callsOf('session.whatIf').length === 2, 2000, 'B asked');
    // A's answer comes while B is still starting: A's job is not taken for B's.
    first.open();
    await a;
    expect(s().whatIf).toMatchObject({ label: 'script B', state: 'starting', job: null });
    expect(host.callsOf('job.cancel')).toEqual([{ job: 21 }]);
    second.open();
    await b;
    expect(s().whatIf).toMatchObject({ label: 'script B', state: 'running', job: 22 });
  });

  it('Cancel while a what-if is starting: it ends cancelled, and its job is cancelled once known', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/a.jsonl');
    const answer = gate();
    host.handlers['session.whatIf'] = async () => { await answer.wait; return { job: 31 }; };
    const started = s().startWhatIf('export default () => "A";', 'a.js', 'script A');
    await until(() => s().whatIf?.state === 'starting', 2000, 'starting');
    await s().cancelWhatIf();
    expect(s().whatIf?.state).toBe('cancelled');
    answer.open();
    await started;
    expect(host.callsOf('job.cancel')).toEqual([{ job: 31 }]);
    expect(s().whatIf?.state).toBe('cancelled');
  });

  it('a failed state from a session replaced meanwhile is not shown, and the new one is asked for', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    const hold = gate();
    let opened = 0;
    host.handlers['session.open'] = (p) => info({ path: p.path as string, session: ++opened } as Partial<SessionInfo>);
    host.handlers['session.stateAt'] = async (p) => {
      if (p.session === 1) { await hold.wait; throw Object.assign(new Error('no session 1'), { code: 'not-found' }); }
      return stateAt(p.t as number);
    };
    await s().openSession('/data/one.jsonl');
    await until(() => host.callsOf('session.stateAt').length === 1, 2000, 'first stateAt');
    await s().openSession('/data/two.jsonl');
    hold.open();
    await until(() => s().sessionState !== null, 2000, 'the second session\'s state');
    expect(s().session?.session).toBe(2);
    expect(s().sessionStateError).toBeNull();
    expect(host.callsOf('session.stateAt').at(-1)).toEqual({ session: 2, t: 0 });
  });

  it('back at a position already shown, an error from the position left behind is cleared', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/a.jsonl');
    await until(() => s().sessionState?.t === 0, 2000, 'state at 0');
    host.handlers['session.stateAt'] = (p) => {
      if (p.t === 2000) throw Object.assign(new Error('boom'), { code: 'failed' });
      return stateAt(p.t as number);
    };
    s().seekSession(2000);
    await until(() => s().sessionStateError !== null, 2000, 'the error');
    s().seekSession(0);
    await until(() => s().sessionStateError === null, 2000, 'the error cleared');
    expect(s().sessionState?.t).toBe(0);
  });
});

describe('sessions slice: what outlives its session or position', () => {
  it('a CSV export of a session replaced meanwhile: no progress, no save and no outcome shown for the next one, no more pages asked', async () => {
    const many = Array.from({ length: 4500 }, (_, i) => requestDetail(1, i + 1, { firstOfferT: i }));
    const { host, wb } = await fakeWorkbench((h) => serveSession(h, many));
    const s = () => wb.store.getState();
    let opened = 0;
    host.handlers['session.open'] = (p) => info({ path: p.path as string, session: ++opened, requests: many.length });
    await s().openSession('/data/one.jsonl');
    const hold = gate();
    const serve = host.handlers['session.requests']!;
    host.handlers['session.requests'] = async (p) => {
      if (p.session === 1 && p.offset === 2000) await hold.wait;
      return serve(p);
    };
    let saves = 0;
    const exporting = s().exportSessionCsv(CSV_BUILDER, async () => { saves++; return '/tmp/x.csv'; });
    await until(() => host.callsOf('session.requests').length === 2, 2000, 'the second page asked for');
    await s().openSession('/data/two.jsonl');
    expect(s().csvExport).toBeNull();
    const seen: unknown[] = [];
    const off = wb.store.subscribe((st, prev) => { if (st.csvExport !== prev.csvExport) seen.push(st.csvExport); });
    hold.open();
    await exporting;
    off();
    expect(seen).toEqual([]);
    expect(saves).toBe(0);
    expect(host.callsOf('session.requests').filter((p) => p.session === 1)).toHaveLength(2);
  });

  it('a failed state for a position left while it was asked for is not shown; the newer position is', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/a.jsonl');
    await until(() => s().sessionState?.t === 0, 2000, 'state at 0');
    const hold = gate();
    host.handlers['session.stateAt'] = async (p) => {
      if (p.t === 2000) {
        await hold.wait;
        throw Object.assign(new Error('boom'), { code: 'failed' });
      }
      return stateAt(p.t as number);
    };
    const errors: string[] = [];
    const off = wb.store.subscribe((st) => { if (st.sessionStateError !== null) errors.push(st.sessionStateError); });
    s().seekSession(2000);
    await until(() => host.callsOf('session.stateAt').some((p) => p.t === 2000), 2000, 'the state at 2 s asked for');
    s().seekSession(3000);
    hold.open();
    await until(() => s().sessionState?.t === 3000, 2000, 'the state at 3 s');
    off();
    expect(errors).toEqual([]);
    expect(s().sessionStateError).toBeNull();
  });
});

describe('the recorded request as at the timeline position', () => {
  const offer = (t: number, attempt: number, verdict: 'defer' | 'accept' = 'defer') => ({ t, attempt, verdict, by: 'script' as const, ask: false, conditionUs: 5, scriptVersion: 1 });

  it('shows the offers made by then and its final state once reached, and counts what came later', () => {
    const d = recorded()[2]!;
    expect(requestAt(d, 500)).toMatchObject({ notYet: true, laterOffers: 2, decidedLater: true, unplaced: 0, detail: { offers: [], final: null } });
    const waiting = requestAt(d, 2000);
    expect(waiting).toMatchObject({ notYet: false, laterOffers: 1, decidedLater: true, detail: { state: 'deferred', final: null } });
    expect(waiting.detail.offers.map((o) => o.attempt)).toEqual([1]);
    const done = requestAt(d, 3000);
    expect(done).toMatchObject({ laterOffers: 0, decidedLater: false, detail: { state: 'final', final: { verdict: 'accept' } } });
    expect(done.detail.offers).toHaveLength(2);
  });

  it('a long-deferred request whose middle offers were not kept: counted before or after the position where that is known', () => {
    // Offers 1-10 at 100..1000 ms, 300 not kept, then the latest three at 5000..5200 ms.
    const offers = [...Array.from({ length: 10 }, (_, i) => offer((i + 1) * 100, i + 1)), offer(5000, 311), offer(5100, 312), offer(5200, 313, 'accept')];
    const d = requestDetail(1, 9, { firstOfferT: 100, state: 'final', offers, offersOmitted: 300, final: { verdict: 'accept', by: 'script', result: 'OK', latencyUs: 1, t: 5200 } });
    // Early: none of the 300 had come.
    const early = requestAt(d, 450);
    expect(early).toMatchObject({ laterOffers: 9 + 300, unplaced: 0 });
    expect(early.detail.offers).toHaveLength(4);
    expect(early.detail.offersOmitted).toBeUndefined();
    // Between the first ten and the latest: where the 300 fall is not known.
    const between = requestAt(d, 3000);
    expect(between).toMatchObject({ laterOffers: 3, unplaced: 300 });
    expect(between.detail.offersOmitted).toBeUndefined();
    // Past one of the latest: all 300 came before.
    const late = requestAt(d, 5050);
    expect(late).toMatchObject({ laterOffers: 2, unplaced: 0 });
    expect(late.detail.offers).toHaveLength(11);
    expect(late.detail.offersOmitted).toBe(300);
  });
});

describe('the what-if panel while a run starts', () => {
  it('Re-evaluate waits for a listener\'s script; Cancel works before the host has answered', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      serveSession(h);
      h.listeners = [listenerState(2, { script: { version: 4, hash: 'c'.repeat(64), filename: 'live.js', t: 1 } })];
    });
    const history = gate();
    host.handlers['script.history'] = async () => {
      await history.wait;
      return [{ version: 4, hash: 'c'.repeat(64), filename: 'live.js', t: 1, source: 'export default () => "defer";' }];
    };
    const answer = gate();
    host.handlers['session.whatIf'] = async () => { await answer.wait; return { job: 41 }; };
    await wb.store.getState().openSession('/data/session-1.jsonl');
    renderWith(wb, <WhatIfPanel />);
    fireEvent.change(screen.getByLabelText('Script to re-evaluate with'), { target: { value: 'listener:2' } });
    const asked = host.callsOf('script.history').length;
    fireEvent.click(screen.getByRole('button', { name: 'Re-evaluate' }));
    await waitFor(() => expect(host.callsOf('script.history')).toHaveLength(asked + 1));
    // The script is on its way: no second start.
    const reEvaluate = screen.getByRole('button', { name: 'Re-evaluate' }) as HTMLButtonElement;
    expect(reEvaluate.disabled).toBe(true);
    fireEvent.click(reEvaluate);
    history.open();
    // Started, the host's answer not in yet: Cancel is there and works.
    const cancel = (await screen.findByRole('button', { name: 'Cancel' })) as HTMLButtonElement;
    expect(wb.store.getState().whatIf).toMatchObject({ state: 'starting', job: null });
    expect(cancel.disabled).toBe(false);
    fireEvent.click(cancel);
    await waitFor(() => expect(screen.getByTestId('whatif-state').textContent).toBe("Cancelled before it started (listener #2's v4 (live.js))."));
    expect((screen.getByRole('button', { name: 'Re-evaluate' }) as HTMLButtonElement).disabled).toBe(false);
    answer.open();
    await waitFor(() => expect(host.callsOf('job.cancel')).toEqual([{ job: 41 }]));
    expect(wb.store.getState().whatIf?.state).toBe('cancelled');
    expect(host.callsOf('script.history')).toHaveLength(asked + 1);
    expect(host.callsOf('session.whatIf')).toHaveLength(1);
  });
});

describe('virtualised lists of the Sessions view', () => {
  it('keep one key function while their rows stay; the pending list does not redraw as the slider moves', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const s = () => wb.store.getState();
    await s().openSession('/data/a.jsonl');
    s().seekSession(2000);
    await until(() => s().sessionState?.t === 2000, 2000, 'the state at 2 s');
    let renders = 0;
    render(
      <Profiler id="pending" onRender={() => { renders++; }}>
        <WorkbenchProvider workbench={wb}><SessionPending /></WorkbenchProvider>
      </Profiler>,
    );
    await waitFor(() => expect(screen.getAllByTestId('session-pending-row')).toHaveLength(1));
    await sleep(20);
    // The slider moves (its state not in yet): nothing to redraw.
    const before = renders;
    act(() => wb.store.setState({ sessionT: 2100 }));
    act(() => wb.store.setState({ sessionT: 2200 }));
    expect(renders).toBe(before);
    // Redrawn for another reason, the same rows: the same key function.
    const keys = virtualKeys.length;
    const key = virtualKeys.at(-1);
    act(() => s().inspectSessionRequest({ listener: 1, id: 3 }));
    expect(renders).toBeGreaterThan(before);
    expect(virtualKeys.length).toBeGreaterThan(keys);
    expect(virtualKeys.slice(keys).every((k) => k === key)).toBe(true);
    cleanup();

    host.handlers['session.whatIf'] = () => ({ job: 5 });
    renderWith(wb, <WhatIfPanel />);
    await s().startWhatIf('x', 'x.js', 'x');
    act(() => host.events([jobDone(5, whatIfResult([[1, 'accept', 'reject'], [3, 'accept', 'reject']]))]));
    await waitFor(() => expect(screen.getAllByTestId('whatif-changed-row')).toHaveLength(2));
    const shown = virtualKeys.length;
    const whatIfKey = virtualKeys.at(-1);
    fireEvent.click(screen.getAllByTestId('whatif-changed-row')[0]!);
    expect(virtualKeys.length).toBeGreaterThan(shown);
    expect(virtualKeys.slice(shown).every((k) => k === whatIfKey)).toBe(true);
  });
});

describe('Sessions view', () => {
  it('shows how far the reading of a large file is, and its Cancel stops it', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    const reading = gate();
    host.handlers['session.open'] = async () => {
      await reading.wait;
      throw Object.assign(new Error('opening /data/huge.jsonl was cancelled'), { code: 'cancelled' });
    };
    renderWith(wb, <SessionsView />);
    fireEvent.change(screen.getByLabelText('Session file'), { target: { value: '/data/huge.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    await screen.findByRole('button', { name: 'Opening…' });
    expect(screen.queryByTestId('session-open-progress')).toBeNull(); // nothing read yet
    const progress = (done: number): HostEvent => ({ type: 'job-progress', t: 1, job: 7, kind: 'open-session', done, total: 4 * 1048576, detail: { requests: done / 1024 } });
    act(() => host.events([progress(1048576)]));
    const bar = await screen.findByTestId('session-open-progress');
    expect(bar.textContent).toContain('1.0 MiB of 4.0 MiB read, 1,024 requests');
    expect((within(bar).getByLabelText('Reading the session file') as HTMLProgressElement).value).toBe(1048576);
    act(() => host.events([progress(2 * 1048576)]));
    await waitFor(() => expect(bar.textContent).toContain('2.0 MiB of 4.0 MiB read'));
    fireEvent.click(within(bar).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(host.callsOf('job.cancel')).toEqual([{ job: 7 }]));
    reading.open();
    expect((await screen.findByTestId('session-error')).textContent).toBe('Opening /data/huge.jsonl was cancelled.');
    expect(screen.queryByTestId('session-open-progress')).toBeNull();
    expect(screen.getByRole('button', { name: 'Open' })).toBeTruthy();
  });

  it('opens a typed path; summary, timeline, pending at t, counts, recent decisions and the read-only inspector follow the position', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    renderWith(wb, <SessionsView />);
    expect(screen.getByText(/Open a session file to go through it/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Session file'), { target: { value: '/data/session-1.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    const summary = await screen.findByTestId('session-summary');
    expect(summary.textContent).toContain('session-1.jsonl');
    expect(summary.textContent).toMatch(/5\.0 s\s*3 requests\s*6 offers\s*2 accepted\s*1 rejected/);
    expect(summary.textContent).toContain('listener #1 127.0.0.1:40001 (held, handler echo)');
    expect(summary.textContent).toContain('not closed');
    expect(screen.getByTestId('session-warnings').textContent).toBe('line 9 is cut short (file truncated?); ignored');
    await waitFor(() => expect(screen.getByText('No request was waiting at this point.')).toBeTruthy());

    // The slider: at 2 s request #3 waits; #1 and #2 are final.
    fireEvent.change(screen.getByLabelText('Timeline position'), { target: { value: '2000' } });
    await waitFor(() => expect(screen.getAllByTestId('session-pending-row')).toHaveLength(1));
    expect(screen.getByTestId('timeline-time').textContent).toBe('00:02.000 / 00:05.000');
    const row = screen.getByTestId('session-pending-row');
    expect(row.textContent).toMatch(/#3\s*127\.0\.0\.1:51234\s*1\.0 s\s*1\s*7 B\s*deferred by script/);
    expect(screen.getByTestId('session-counts').textContent).toBe('1 accepted1 rejected0 expired0 withdrawn0 errors');
    expect(screen.getAllByTestId('session-decision-row').map((r) => r.textContent!.match(/#(\d+)/)![1])).toEqual(['2', '1']);
    expect(screen.getByTestId('timeline-scripts').textContent).toBe('scripts: listener #1 v1');

    // A click on the pending row: what the condition function saw, from session.requests.
    fireEvent.click(row);
    const inspector = await screen.findByTestId('session-inspector');
    await waitFor(() => expect(within(inspector).getByTestId('caller-data-hex').textContent).toContain('HELLO 3'));
    // As at 2 s: deferred, its offer at 3 s and its decision not made yet.
    expect(within(inspector).queryByTestId('final')).toBeNull();
    expect(within(inspector).getAllByRole('row').some((r) => /2\s*00:03\.000\s*accept/.test(r.textContent!))).toBe(false);
    expect(within(inspector).getByTestId('session-inspector-later').textContent)
      .toBe('As at 00:02.000: 1 later offer not shown; decided later (accept at 00:03.000); the caller data is as at its latest offer.');
    expect(within(inspector).getByTestId('session-inspector-state').textContent).toBe('deferred at this point');
    // At 3 s it is decided: the final state and the second offer show.
    fireEvent.change(screen.getByLabelText('Timeline position'), { target: { value: '3000' } });
    await waitFor(() => expect(within(inspector).getByTestId('final').textContent).toContain('accept'));
    expect(within(inspector).getByTestId('session-inspector-state').textContent).toBe('accept');
    expect(within(inspector).queryByTestId('session-inspector-later')).toBeNull();
    expect(within(inspector).getAllByRole('row').some((r) => /2\s*00:03\.000\s*accept/.test(r.textContent!))).toBe(true);
    fireEvent.change(screen.getByLabelText('Timeline position'), { target: { value: '2000' } });
    await waitFor(() => expect(screen.getAllByTestId('session-decision-row')).toHaveLength(2));
    // A recent decision: the inspector follows.
    fireEvent.click(screen.getAllByTestId('session-decision-row')[0]!);
    await waitFor(() => expect(within(screen.getByTestId('session-inspector')).getByTestId('caller-data-hex').textContent).toContain('NOPE'));

    // Steps, the time field, and the ends.
    fireEvent.click(screen.getByRole('button', { name: '+1 s' }));
    expect(wb.store.getState().sessionT).toBe(3000);
    fireEvent.click(screen.getByRole('button', { name: '−100 ms' }));
    expect(wb.store.getState().sessionT).toBe(2900);
    fireEvent.change(screen.getByLabelText('Time in the session (ms)'), { target: { value: '450' } });
    fireEvent.submit(screen.getByLabelText('Time in the session (ms)'));
    expect(wb.store.getState().sessionT).toBe(450);
    await waitFor(() => expect(screen.getByTestId('session-counts').textContent).toContain('1 accepted1 rejected'));
    fireEvent.click(screen.getByRole('button', { name: 'End' }));
    await waitFor(() => expect(screen.getByTestId('session-counts').textContent).toContain('2 accepted'));
    expect(host.callsOf('session.stateAt').at(-1)).toEqual({ session: 1, t: 5000 });
  });

  it('plays at 10×, and stops at the end', async () => {
    const { wb } = await fakeWorkbench((h) => serveSession(h, recorded(), { durationMs: 1500 }));
    await wb.store.getState().openSession('/data/session-1.jsonl');
    renderWith(wb, <SessionsView />);
    fireEvent.change(screen.getByLabelText('Playback speed'), { target: { value: '10' } });
    fireEvent.click(screen.getByRole('button', { name: '▶ Play' }));
    expect(screen.getByRole('button', { name: 'Pause' })).toBeTruthy();
    // 1.5 s of session at 10×: about 150 ms.
    await waitFor(() => expect(wb.store.getState().sessionT).toBe(1500), { timeout: 3000 });
    await waitFor(() => expect(screen.getByRole('button', { name: '▶ Play' })).toBeTruthy());
  });

  it('re-evaluates with the script in the editor, a listener\'s running script or a template; shows the changed verdicts', async () => {
    const { host, wb } = await fakeWorkbench((h) => {
      serveSession(h);
      h.listeners = [listenerState(2, { script: { version: 4, hash: 'c'.repeat(64), filename: 'live.js', t: 1 } })];
    });
    host.handlers['script.history'] = () => [{ version: 4, hash: 'c'.repeat(64), filename: 'live.js', t: 1, source: 'export default () => "defer";' }];
    await wb.store.getState().openSession('/data/session-1.jsonl');
    act(() => wb.store.getState().setEditorScript({ listener: 2, source: 'export default () => "reject";', filename: 'draft.js' }));
    let job = 0;
    host.handlers['session.whatIf'] = () => ({ job: ++job });
    renderWith(wb, <WhatIfPanel />);
    const choice = screen.getByLabelText('Script to re-evaluate with') as HTMLSelectElement;
    expect(choice.value).toBe('editor');
    expect([...choice.options].map((o) => o.textContent)).toEqual([
      'Script in the editor (draft.js, listener #2)', "Listener #2's running script (v4, live.js)",
      'Template: Accept everything', 'Template: Allow-list by address', 'Template: Rate limit per caller',
      'Template: Wait for caller data', 'Template: Ask a person',
    ]);
    fireEvent.click(screen.getByRole('button', { name: 'Re-evaluate' }));
    await waitFor(() => expect(host.callsOf('session.whatIf')).toHaveLength(1));
    expect(host.callsOf('session.whatIf')[0]).toEqual({ session: 1, source: 'export default () => "reject";', filename: 'draft.js' });
    await screen.findByRole('button', { name: 'Cancel' });
    act(() => host.events([jobProgress(1, 250, 1000, 1)]));
    await waitFor(() => expect((screen.getByLabelText('What-if progress') as HTMLProgressElement).value).toBe(25));
    act(() => host.events([jobDone(1, whatIfResult([[1, 'accept', 'reject'], [3, 'accept', 'reject']]))]));
    await waitFor(() => expect(screen.getAllByTestId('whatif-changed-row')).toHaveLength(2));
    expect(screen.getByTestId('whatif-state').textContent).toBe("Re-evaluated with the editor's draft.js (listener #2).");
    expect(screen.getByTestId('whatif-summary').textContent).toMatch(/3 requests\s*1 same\s*2 changed\s*0 script errors/);
    expect(screen.getAllByTestId('whatif-changed-row')[0]!.textContent).toBe('#1 L1127.0.0.1:51234accept (script)→ reject (script)');
    fireEvent.click(screen.getAllByTestId('whatif-changed-row')[1]!);
    expect(wb.store.getState().sessionInspected).toEqual({ listener: 1, id: 3 });

    // A live listener's running script: its source comes from script.history.
    fireEvent.change(choice, { target: { value: 'listener:2' } });
    fireEvent.click(screen.getByRole('button', { name: 'Re-evaluate' }));
    await waitFor(() => expect(host.callsOf('session.whatIf')).toHaveLength(2));
    expect(host.callsOf('session.whatIf')[1]).toEqual({ session: 1, source: 'export default () => "defer";', filename: 'live.js' });
    act(() => host.events([jobDone(2, whatIfResult([]))]));
    await screen.findByText('No final verdict changed.');
    // A template.
    fireEvent.change(choice, { target: { value: 'template:allow-list' } });
    fireEvent.click(screen.getByRole('button', { name: 'Re-evaluate' }));
    await waitFor(() => expect(host.callsOf('session.whatIf')).toHaveLength(3));
    expect(host.callsOf('session.whatIf')[2]).toMatchObject({ filename: 'allow-list.js' });
    expect(host.callsOf('session.whatIf')[2]!.source).toContain("new Set(['127.0.0.1', '::1'])");
  });

  it('exports CSV as a browser download, or through the desktop app\'s save dialog', async () => {
    const { wb } = await fakeWorkbench((h) => serveSession(h));
    await wb.store.getState().openSession('/data/session-1.jsonl');
    const blobs: Blob[] = [];
    const names: string[] = [];
    const created = URL.createObjectURL;
    const revoked = URL.revokeObjectURL;
    const click = HTMLAnchorElement.prototype.click;
    URL.createObjectURL = (b: Blob) => { blobs.push(b); return 'blob:test'; };
    URL.revokeObjectURL = () => undefined;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) { names.push(this.download); };
    try {
      renderWith(wb, <SessionsView />);
      fireEvent.click(await screen.findByRole('button', { name: 'Export CSV…' }));
      await waitFor(() => expect(screen.getByTestId('csv-status').textContent).toBe('Exported 3 requests to session-1.csv.'));
      expect(names).toEqual(['session-1.csv']);
      const text = await blobs[0]!.text();
      expect(text.split('\r\n').slice(1, 4)).toEqual([
        '1,1,127.0.0.1,51234,50,100,accept,script,1,50000,7,peek,OK',
        '1,2,127.0.0.1,51234,300,400,reject,script,1,100000,4,peek,WSAECONNREFUSED',
        '1,3,127.0.0.1,51234,1000,3000,accept,script,2,2000000,7,peek,OK',
      ]);
      expect(blobs[0]!.type).toBe('text/csv;charset=utf-8');
    } finally {
      URL.createObjectURL = created;
      URL.revokeObjectURL = revoked;
      HTMLAnchorElement.prototype.click = click;
    }
    cleanup();
    const saved: string[] = [];
    (window as { workbench?: unknown }).workbench = { transport: () => { throw new Error('unused'); }, saveCsv: async (t: string) => { saved.push(t); return '/home/me/s.csv'; } };
    renderWith(wb, <SessionsView />);
    fireEvent.click(await screen.findByRole('button', { name: 'Export CSV…' }));
    await waitFor(() => expect(screen.getByTestId('csv-status').textContent).toBe('Exported 3 requests to /home/me/s.csv.'));
    expect(saved[0]!.split('\r\n')).toHaveLength(5);
  });

  it('says why a session did not open, and offers the sessions opened before', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    host.handlers['session.open'] = (p) => {
      if (p.path === 'bad.jsonl') throw Object.assign(new Error('bad.jsonl:3: field "t": must be a number'), { code: 'invalid-params' });
      return info({ path: p.path as string });
    };
    renderWith(wb, <SessionsView />);
    fireEvent.change(screen.getByLabelText('Session file'), { target: { value: 'bad.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    expect((await screen.findByTestId('session-error')).textContent).toBe('Could not open bad.jsonl: bad.jsonl:3: field "t": must be a number');
    fireEvent.change(screen.getByLabelText('Session file'), { target: { value: '/data/a.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    await screen.findByTestId('session-summary');
    fireEvent.change(screen.getByLabelText('Session file'), { target: { value: '/data/b.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Open' }));
    await waitFor(() => expect(wb.store.getState().session?.path).toBe('/data/b.jsonl'));
    expect(host.callsOf('session.close')).toEqual([{ session: 1 }]); // the one before is closed
    const recent = screen.getByLabelText('Recent sessions') as HTMLSelectElement;
    expect([...recent.options].map((o) => o.value)).toEqual(['', '/data/a.jsonl']);
    expect(JSON.parse(localStorage.getItem('accept-workbench.recent-sessions')!)).toEqual(['/data/b.jsonl', '/data/a.jsonl']);
    fireEvent.change(recent, { target: { value: '/data/a.jsonl' } });
    await waitFor(() => expect(wb.store.getState().session?.path).toBe('/data/a.jsonl'));
    fireEvent.click(screen.getByRole('button', { name: 'Close session' }));
    await waitFor(() => expect(wb.store.getState().session).toBeNull());
  });
});

describe('record toggle and the File menu', () => {
  it('in a browser: a path field with a default name; live state while recording; stop; open what was recorded', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    host.handlers['recording.start'] = (p) => ({ path: p.path, startedT: 1, events: 0, error: null });
    host.handlers['recording.stop'] = () => ({ path: 'mine.jsonl', startedT: 1, events: 1234, error: null });
    renderWith(wb, <RecordControl />);
    fireEvent.click(screen.getByRole('button', { name: /Record/ }));
    const field = screen.getByLabelText('Recording file') as HTMLInputElement;
    expect(field.value).toMatch(/^session-\d{4}-\d{2}-\d{2}-\d{6}\.jsonl$/);
    fireEvent.change(field, { target: { value: 'mine.jsonl' } });
    fireEvent.click(screen.getByRole('button', { name: 'Start recording' }));
    await screen.findByText('mine.jsonl');
    expect(host.callsOf('recording.start')).toEqual([{ path: 'mine.jsonl' }]);
    act(() => host.events([{ type: 'recording', t: 2, recording: { path: 'mine.jsonl', startedT: 1, events: 1200, error: 'EIO: i/o error' } }]));
    await waitFor(() => expect(screen.getByTestId('recording-events').textContent).toBe('1,200'));
    expect(screen.getByTestId('recording').textContent).toContain('write error: EIO: i/o error');
    fireEvent.click(screen.getByRole('button', { name: 'Stop recording' }));
    await waitFor(() => expect(screen.getByTestId('recording').textContent).toContain('last: mine.jsonl (1,234 events)'));
    const wanted = wb.store.getState().sessionsViewWanted;
    fireEvent.click(screen.getByRole('button', { name: 'Open in Sessions' }));
    await waitFor(() => expect(wb.store.getState().session?.path).toBe('mine.jsonl'));
    expect(wb.store.getState().sessionsViewWanted).toBe(wanted + 1);
  });

  it('in the desktop app: the save dialog picks the file; cancelling it records nothing', async () => {
    const { host, wb } = await fakeWorkbench();
    host.handlers['recording.start'] = (p) => ({ path: p.path, startedT: 1, events: 0, error: null });
    const answers: Array<string | null> = [null, '/home/me/rec.jsonl'];
    (window as { workbench?: unknown }).workbench = { transport: () => { throw new Error('unused'); }, chooseRecording: async () => answers.shift() ?? null };
    renderWith(wb, <RecordControl />);
    fireEvent.click(screen.getByRole('button', { name: /Record/ }));
    await sleep(20);
    expect(host.callsOf('recording.start')).toEqual([]);
    expect(screen.queryByLabelText('Recording file')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: /Record/ }));
    await screen.findByText('rec.jsonl');
    expect(host.callsOf('recording.start')).toEqual([{ path: '/home/me/rec.jsonl', overwrite: true }]);
  });

  it('the File menu opens a session, records to a file and exports CSV; malformed actions are ignored', async () => {
    const { host, wb } = await fakeWorkbench((h) => serveSession(h));
    host.handlers['recording.start'] = (p) => ({ path: p.path, startedT: 1, events: 0, error: null });
    let menu: ((a: unknown) => void) | null = null;
    const saved: string[] = [];
    (window as { workbench?: unknown }).workbench = {
      transport: () => { throw new Error('unused'); },
      onMenu: (h: (a: unknown) => void) => { menu = h; },
      saveCsv: async (t: string) => { saved.push(t); return '/x.csv'; },
    };
    let shown = 0;
    function Harness() {
      useSessionsView(() => { shown++; });
      return null;
    }
    render(<WorkbenchProvider workbench={wb as Workbench}><Harness /></WorkbenchProvider>);
    await waitFor(() => expect(menu).not.toBeNull());
    act(() => menu!({ action: 'open-session' })); // no path
    act(() => menu!({ action: 'open-session', path: 42 }));
    act(() => menu!('export-csv'));
    await sleep(20);
    expect(host.callsOf('session.open')).toEqual([]);
    expect(shown).toBe(0);
    act(() => menu!({ action: 'open-session', path: '/data/m.jsonl' }));
    await waitFor(() => expect(wb.store.getState().session?.path).toBe('/data/m.jsonl'));
    expect(shown).toBe(1);
    act(() => menu!({ action: 'export-csv' }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(shown).toBe(2);
    act(() => menu!({ action: 'record-to', path: '/data/r.jsonl' }));
    await waitFor(() => expect(host.callsOf('recording.start')).toEqual([{ path: '/data/r.jsonl', overwrite: true }]));
  });
});

// ---- against a real host ------------------------------------------------------------------------

describe('against a real host', () => {
  it('records TCP callers decided by a script, opens the recording, scrubs it, re-evaluates it, exports it', async () => {
    const r = await suite.realHost();
    const s = () => r.wb.store.getState();
    // Decided on the offer count, not on caller data: under jsdom the in-process sandbox sees
    // Node's Buffers as another realm's Uint8Array, so caller data does not reach it here (the
    // Chromium end-to-end test covers a data-driven script). Each request waits ~10 offers.
    const wait = 'export default (req) => req.attempt < 10 ? CF_DEFER : (req.id === 2 ? CF_REJECT : CF_ACCEPT);';
    const l = await s().createListener({ discipline: 'held', reofferMs: 20 }, { source: wait, filename: 'wait.js' });
    const bound = await s().startListener(l.id);
    const file = path.join(dir, 'real.jsonl');
    expect(await s().startRecording(file)).toBe(true);
    const port = bound.bound!.port;
    const one = await tcpClient(port, { send: 'HELLO 1', expectBytes: 7 }).outcome;
    expect(one.received.toString()).toBe('HELLO 1');
    const two = await tcpClient(port, { send: 'NOPE' }).outcome;
    expect(two.end).toBe('reset');
    const three = await tcpClient(port, { send: 'HELLO 3', expectBytes: 7 }).outcome;
    expect(three.received.toString()).toBe('HELLO 3');
    await until(() => s().listeners[l.id]!.counts.accept === 2, 5000, 'both accepts counted');
    await s().stopRecording();
    expect(s().lastRecording?.path).toBe(file);
    expect(fs.existsSync(file)).toBe(true);

    expect(await s().openSession(file)).toBe(true);
    const session = s().session!;
    expect(session).toMatchObject({ requests: 3, complete: true, verdicts: { accept: 2, reject: 1 } });
    const all: RequestDetail[] = [];
    await s().forEachSessionRequest((q) => all.push(q));
    const late = all.find((q) => q.caller.port === three.localPort)!;
    s().seekSession(late.firstOfferT + 100);
    await until(() => s().sessionState?.t === late.firstOfferT + 100, 5000, 'the state there');
    expect(s().sessionState!.pending.map((p) => p.id)).toEqual([late.id]);
    expect(s().sessionState!.counts).toMatchObject({ accept: 1, reject: 1 });
    expect((await s().loadSessionRequest({ listener: late.listener, id: late.id, hintT: late.firstOfferT }))?.final?.verdict).toBe('accept');

    await s().startWhatIf('export default () => CF_REJECT;', 'reject.js', 'reject.js');
    await until(() => s().whatIf?.state === 'done' || s().whatIf?.state === 'failed', 15_000, 'the what-if');
    expect(s().whatIf?.error).toBeNull();
    expect(s().whatIf?.summary).toMatchObject({ requests: 3, same: 1, changed: 2, errors: 0 });
    expect(s().whatIf?.changed.map((c) => c.now.verdict)).toEqual(['reject', 'reject']);

    let text = '';
    await s().exportSessionCsv(CSV_BUILDER, async (t) => { text = t; return 'x.csv'; });
    const rows = text.trimEnd().split('\r\n').slice(1).map((line) => line.split(','));
    expect(rows.map((f) => f[6]).sort()).toEqual(['accept', 'accept', 'reject']);
    const row3 = rows.find((f) => Number(f[3]) === three.localPort)!;
    expect(row3[6]).toBe('accept');
    expect(Number(row3[8])).toBe(10);
    expect(csvRow(late).split(',')[1]).toBe(String(late.id));
  }, 30_000);
});
