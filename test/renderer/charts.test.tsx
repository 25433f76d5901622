// @vitest-environment jsdom
// The charts: the metrics feed (typed-array rings with caps, events and `metrics.get` seeds merged
// without double counting), the binning behind each chart, and the Charts view in jsdom with fixed
// sizes and no animation: it draws, follows events at a bounded rate, pauses while the feed keeps
// collecting, and switches windows. Last, a real host's decisions reaching the charts.
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useRef } from 'react';
import { describe, expect, it } from 'vitest';
import type { HostEvent } from '../../electron/protocol/schema';
import { MetricsFeed, TimeRing } from '../../renderer/src/store/metrics';
import {
  QuantileBinner, binWidthFor, computeChartData, histogram, newBinners, percentilesOf, queueBins, verdictBins, MAX_BINS,
} from '../../renderer/src/components/charts/series';
import { ChartsView, useChartFrames } from '../../renderer/src/components/charts/ChartsView';
import { App } from '../../renderer/src/components/App';
import { client as tcpClient } from '../helpers/net';
import { decisionEvent, fakeWorkbench, listenerState, offerEvent, renderWith, sleep, until } from './helpers';
import { componentSuite } from './real-host';

const suite = componentSuite();

const queueEvent = (listener: number, t: number, held: number, deferred = 0, kernel: number | null = null): HostEvent => ({ type: 'queue', t, listener, kernel, held, deferred });

describe('metrics feed', () => {
  it('a ring grows as needed, keeps the newest `capacity` rows in time order and finds times by binary search', () => {
    const ring = new TimeRing(1000, 2, 4);
    for (let i = 0; i < 2500; i++) ring.push(i * 10, [i, -i]);
    expect(ring.size).toBe(1000);
    expect(ring.time(0)).toBe(15_000);
    expect(ring.time(999)).toBe(24_990);
    expect(ring.value(0)).toBe(1500);
    expect(ring.value(0, 1)).toBe(-1500);
    expect(ring.lowerBound(20_001)).toBe(501);
    expect(ring.lowerBound(0)).toBe(0);
    expect(ring.lowerBound(99_999)).toBe(1000);
  });

  it('takes decisions, script offers and queue depths from event batches; one notification per batch', () => {
    const feed = new MetricsFeed();
    let notified = 0;
    feed.subscribe(() => { notified++; });
    feed.applyEvents([
      decisionEvent(1, 1, 100, { latencyUs: 40, verdict: 'accept' }),
      decisionEvent(1, 2, 200, { latencyUs: 60, verdict: 'reject' }),
      decisionEvent(1, 3, 1300, { latencyUs: 80, verdict: 'accept' }),
      offerEvent(1, 4, 1400, { by: 'script', conditionUs: 12 }),
      offerEvent(1, 5, 1500, { by: 'person', conditionUs: 0 }),
      queueEvent(1, 1600, 3, 1),
    ]);
    expect(notified).toBe(1);
    const s = feed.of(1)!;
    expect(s.latency.size).toBe(3);
    expect(s.condition.size).toBe(1); // the person's offer did not run the script
    expect(s.queue.size).toBe(1);
    expect([s.queue.value(0, 0), s.queue.value(0, 1), s.queue.value(0, 2)]).toEqual([-1, 3, 1]);
    // Per-second verdict buckets: [0 s: 1 accept, 1 reject], [1 s: 1 accept].
    expect(s.verdicts.size).toBe(2);
    expect([s.verdicts.time(0), s.verdicts.value(0, 0), s.verdicts.value(0, 1)]).toEqual([0, 1, 1]);
    expect([s.verdicts.time(1), s.verdicts.value(1, 0)]).toEqual([1000, 1]);
    feed.applyEvents([{ type: 'listener-removed', t: 2000, listener: 1 }]);
    expect(feed.of(1)).toBeUndefined();
  });

  it('stays within its caps however many points arrive', () => {
    const feed = new MetricsFeed({ latency: 500, condition: 100, queue: 50, verdicts: 10 });
    const events: HostEvent[] = [];
    for (let i = 0; i < 5000; i++) events.push(decisionEvent(1, i, i * 5), offerEvent(1, i, i * 5), queueEvent(1, i * 5, i));
    feed.applyEvents(events);
    const s = feed.of(1)!;
    expect([s.latency.size, s.condition.size, s.queue.size, s.verdicts.size]).toEqual([500, 100, 50, 10]);
    expect(s.latency.time(499)).toBe(4999 * 5);
  });

  it('merges a metrics.get seed with the events already there, and ignores events the seed already had', () => {
    const feed = new MetricsFeed();
    // Events from t=500 on arrived first; the seed covers 0..600 (it overlaps 500..600).
    feed.applyEvents([decisionEvent(1, 10, 500, { latencyUs: 5 }), decisionEvent(1, 11, 600, { latencyUs: 6 }), decisionEvent(1, 12, 700, { latencyUs: 7 })]);
    feed.seed({
      listener: 1,
      latency: [[0, 1], [100, 2], [500, 5], [600, 6]],
      conditionUs: [[50, 9]],
      queue: [[0, -1, 0, 0], [100, -1, 2, 0]],
      verdicts: [[0, 4, 0, 0, 0, 0]],
      counts: { accept: 4, reject: 0, expire: 0, withdraw: 0, error: 0 },
    });
    const s = feed.of(1)!;
    const times = Array.from({ length: s.latency.size }, (_, i) => s.latency.time(i));
    expect(times).toEqual([0, 100, 500, 600, 700]);
    // The seam bucket (second 0) is counted by both: the larger count stands, not the sum.
    expect(s.verdicts.size).toBe(1);
    expect(s.verdicts.value(0, 0)).toBe(4);
    // An event the host had batched before answering the seed arrives late: not counted twice.
    feed.applyEvents([decisionEvent(1, 11, 600, { latencyUs: 6 }), offerEvent(1, 3, 50, { conditionUs: 9 })]);
    expect(s.latency.size).toBe(5);
    expect(s.condition.size).toBe(1);
    expect(s.verdicts.value(0, 0)).toBe(4);
  });
});

describe('metrics slice', () => {
  it('a listener\'s history that arrives after the listener was removed is dropped, not kept for nobody', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const { host, wb } = await fakeWorkbench((h) => {
      h.listeners = [listenerState(1)];
      h.handlers['metrics.get'] = async (p) => {
        await held;
        return { listener: p.listener, latency: [[5, 250]], conditionUs: [[5, 10]], queue: [], verdicts: [[0, 1, 0, 0, 0, 0]], counts: { accept: 1, reject: 0, expire: 0, withdraw: 0, error: 0 } };
      };
    });
    await until(() => host.callsOf('metrics.get').length === 1, 2000, 'the history asked for');
    act(() => host.events([{ type: 'listener-removed', t: 10, listener: 1 }]));
    await until(() => !wb.store.getState().listeners[1], 2000, 'the listener gone');
    release();
    await sleep(50);
    expect(wb.store.getState().metrics.of(1)).toBeUndefined();
    expect(wb.latency.snapshot(1)).toEqual([]);
  });
});

describe('chart series', () => {
  it('percentiles by selection agree with a sort (nearest rank)', () => {
    const values = Array.from({ length: 10_001 }, (_, i) => (i * 7919) % 10_007);
    const sorted = [...values].sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.ceil((p / 100) * values.length) - 1];
    expect(percentilesOf(Float64Array.from(values), values.length, [50, 90, 99, 100])).toEqual([at(50), at(90), at(99), at(100)]);
    expect(percentilesOf(new Float64Array([3, 3, 3, 3]), 4, [50, 99])).toEqual([3, 3]);
    expect(percentilesOf(new Float64Array(0), 0, [50])).toEqual([null]);
  });

  it('never makes more than MAX_BINS bins, from 10 s to a day', () => {
    for (const span of [10_000, 60_000, 300_000, 3_600_000, 86_400_000]) expect(span / binWidthFor(span)).toBeLessThanOrEqual(MAX_BINS);
    expect(binWidthFor(10_000)).toBe(100);
    expect(binWidthFor(60_000)).toBe(500);
  });

  it('quantile bins: p50 / p99 per bin, reused when a bin did not change', () => {
    const ring = new TimeRing(10_000);
    for (let i = 0; i < 1000; i++) ring.push(i, [i % 100]);
    const binner = new QuantileBinner();
    const bins = binner.bins(ring, 0, 1000, 100);
    expect(bins).toHaveLength(10);
    expect(bins[0]).toEqual({ t: 0.05, p50: 49, p99: 98, n: 100 });
    // Same data: the same numbers come back (from the cache); a new point moves only its bin.
    ring.push(999.5, [1000]);
    const again = binner.bins(ring, 0, 1000, 100);
    expect(again.slice(0, 9)).toEqual(bins.slice(0, 9));
    expect(again[9]!.n).toBe(101);
    expect(again[9]!.p99).toBe(99);
  });

  it('histogram bins are logarithmic and count every point; verdicts are per second; queue depths carry over quiet bins', () => {
    const ring = new TimeRing(1000);
    [5, 50, 500, 5000, 50_000, 50_000].forEach((v, i) => ring.push(i, [v]));
    const h = histogram(ring, 0, 10, (us) => `${us}`);
    expect(h.reduce((n, b) => n + b.count, 0)).toBe(6);
    expect(h[0]!.lo).toBeLessThanOrEqual(5);
    expect(h.at(-1)!.hi).toBeGreaterThan(50_000);

    const verdicts = new TimeRing(100, 5);
    verdicts.push(0, [10, 2, 0, 0, 0]);
    verdicts.push(1000, [20, 0, 1, 0, 0]);
    expect(verdictBins(verdicts, 0, 2000, 1000)).toEqual([
      { t: 0.5, accept: 10, reject: 2, expire: 0, withdraw: 0, error: 0 },
      { t: 1.5, accept: 20, reject: 0, expire: 1, withdraw: 0, error: 0 },
    ]);
    // Two-second bins: the sums divided by two.
    expect(verdictBins(verdicts, 0, 2000, 2000)[0]).toMatchObject({ accept: 15, reject: 1, expire: 0.5 });

    const queue = new TimeRing(100, 3);
    queue.push(50, [-1, 5, 0]);
    queue.push(60, [-1, 9, 1]);
    queue.push(350, [4, 2, 0]);
    expect(queueBins(queue, 0, 400, 100)).toEqual([
      { t: 0, kernel: null, held: 9, deferred: 1 },
      { t: 0.1, kernel: null, held: 9, deferred: 1 }, // no sample: the depth last seen
      { t: 0.2, kernel: null, held: 9, deferred: 1 },
      { t: 0.3, kernel: 4, held: 2, deferred: 0 },
    ]);
  });
});

/** The history `metrics.get` gives for listener 1 in these tests: 50 decisions in the last 5 s. */
function seeded(now: number) {
  const latency: Array<[number, number]> = Array.from({ length: 50 }, (_, i) => [now - 5000 + i * 100, 100 + i * 10]);
  return {
    latency,
    conditionUs: latency.map(([t]) => [t, 15] as [number, number]),
    queue: latency.map(([t], i) => [t, -1, i % 5, 0] as [number, number, number, number]),
    verdicts: [[Math.floor((now - 5000) / 1000) * 1000, 50, 0, 0, 0, 0] as [number, number, number, number, number, number]],
  };
}

describe('charts view', () => {
  it('draws the five charts of the selected listener from its history, then follows events', async () => {
    const now = 60_000;
    const { host, wb } = await fakeWorkbench((h) => {
      h.t = now;
      h.listeners = [listenerState(1)];
      h.handlers['metrics.get'] = (p) => ({ listener: p.listener, ...seeded(now), counts: { accept: 50, reject: 0, expire: 0, withdraw: 0, error: 0 } });
    });
    renderWith(wb, <ChartsView width={420} />);
    const group = await screen.findByTestId('charts-1', {}, { timeout: 8000 });
    await waitFor(() => expect(within(group).getByTestId('latency-points').textContent).toBe('50 latency points kept'), { timeout: 8000 });
    for (const id of ['chart-latency', 'chart-histogram', 'chart-verdicts', 'chart-queue', 'chart-condition']) expect(within(group).getByTestId(id)).toBeTruthy();
    // Lines with data: recharts draws a path per line (p50, p99).
    await waitFor(() => {
      const paths = within(group).getByTestId('chart-latency').querySelectorAll('path.recharts-line-curve');
      expect(paths.length).toBe(2);
      expect(paths[0]!.getAttribute('d')!.length).toBeGreaterThan(20);
    });
    expect(within(group).getByTestId('chart-latency').textContent).toContain('50 decisions, p50 340 µs, p99 590 µs');
    expect(group.querySelectorAll('[data-testid="chart-verdicts"] .recharts-bar-rectangle').length).toBeGreaterThan(0);
    expect(group.querySelectorAll('[data-testid="chart-histogram"] .recharts-bar-rectangle').length).toBeGreaterThan(0);

    // Live: a batch of decisions shows with the next redraw (250 ms, or four times as long as the
    // last redraw took: recharts in jsdom is slow).
    const t = wb.store.getState().hostNow();
    act(() => host.events(Array.from({ length: 30 }, (_, i) => decisionEvent(1, 100 + i, t + i, { latencyUs: 2000 }))));
    await waitFor(() => expect(within(group).getByTestId('latency-points').textContent).toBe('80 latency points kept'), { timeout: 8000 });
  });

  it('pause freezes the charts while the feed keeps collecting; resume catches up; the window can change', async () => {
    // Two minutes into the host's time: every window is whole (none reaches back past 0).
    const { host, wb } = await fakeWorkbench((h) => { h.t = 120_000; h.listeners = [listenerState(1)]; });
    renderWith(wb, <ChartsView width={420} />);
    const points = () => screen.getByTestId('latency-points').textContent;
    const t = () => wb.store.getState().hostNow();
    act(() => host.events([decisionEvent(1, 1, t(), { latencyUs: 100 })]));
    // Redraws come every 250 ms, or less often when drawing takes long (recharts in jsdom does).
    const redraw = { timeout: 8000 };
    await waitFor(() => expect(points()).toBe('1 latency points kept'), redraw);

    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    act(() => host.events([decisionEvent(1, 2, t(), { latencyUs: 100 }), decisionEvent(1, 3, t(), { latencyUs: 100 })]));
    await until(() => wb.store.getState().metrics.of(1)?.latency.size === 3, 2000, 'the feed to collect while paused');
    await sleep(600);
    expect(points()).toBe('1 latency points kept');
    await waitFor(() => expect(screen.getByTestId('charts-paused').textContent).toContain('2 more decisions'), { timeout: 2500 });

    fireEvent.click(screen.getByRole('button', { name: 'Resume' }));
    await waitFor(() => expect(points()).toBe('3 latency points kept'), redraw);
    expect(screen.queryByTestId('charts-paused')).toBeNull();

    // Windows: a radio group. The minute drawn so far: 120 bins of 500 ms; the 10 s window gives
    // 100 ms bins (100 of them).
    const latency = () => screen.getByTestId('chart-latency');
    expect([latency().getAttribute('data-bins'), latency().getAttribute('data-bin-ms')]).toEqual(['120', '500']);
    fireEvent.click(screen.getByRole('radio', { name: '10 s' }));
    expect(screen.getByRole('radio', { name: '10 s' }).getAttribute('aria-checked')).toBe('true');
    expect(screen.getByRole('radio', { name: '1 min' }).getAttribute('aria-checked')).toBe('false');
    await waitFor(() => expect([latency().getAttribute('data-bins'), latency().getAttribute('data-bin-ms')]).toEqual(['100', '100']), redraw);
    expect(screen.getByTestId('chart-condition').getAttribute('data-bins')).toBe('100');
  });

  it('another listener chosen while paused: the count of decisions since starts afresh, and the view says to resume to see it', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1), listenerState(2)]; });
    renderWith(wb, <ChartsView width={420} />);
    const t = () => wb.store.getState().hostNow();
    const redraw = { timeout: 8000 };
    act(() => host.events([decisionEvent(1, 1, t(), { latencyUs: 100 })]));
    await waitFor(() => expect(within(screen.getByTestId('charts-1')).getByTestId('latency-points').textContent).toBe('1 latency points kept'), redraw);

    fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
    act(() => host.events([decisionEvent(1, 2, t(), { latencyUs: 100 }), decisionEvent(1, 3, t(), { latencyUs: 100 })]));
    await waitFor(() => expect(screen.getByTestId('charts-paused').textContent).toContain('(2 more decisions so far)'), { timeout: 2500 });

    // Listener 2, still paused: not drawn, and said so; its own count starts from here.
    fireEvent.change(screen.getByLabelText('Listener to chart'), { target: { value: '2' } });
    expect(screen.queryByTestId('charts-1')).toBeNull();
    expect(screen.queryByTestId('charts-2')).toBeNull();
    expect(screen.getByTestId('charts-not-drawn').textContent).toBe('Paused: resume to see listener #2.');
    expect(screen.getByTestId('charts-paused').textContent).not.toContain('more');
    act(() => host.events([decisionEvent(2, 4, t(), { latencyUs: 100 }), decisionEvent(1, 5, t(), { latencyUs: 100 })]));
    await waitFor(() => expect(screen.getByTestId('charts-paused').textContent).toContain('(1 more decision so far)'), { timeout: 2500 });

    fireEvent.click(screen.getByRole('button', { name: 'Resume' }));
    await waitFor(() => expect(within(screen.getByTestId('charts-2')).getByTestId('latency-points').textContent).toBe('1 latency points kept'), redraw);
    expect(screen.queryByTestId('charts-not-drawn')).toBeNull();
  });

  it('shows each running listener when asked, and says when there is nothing to chart', async () => {
    const { wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1), listenerState(2), listenerState(3, { state: 'stopped', bound: null })]; });
    renderWith(wb, <ChartsView width={420} />);
    await screen.findByTestId('charts-1', {}, { timeout: 8000 });
    fireEvent.change(screen.getByLabelText('Listener to chart'), { target: { value: 'running' } });
    await screen.findByTestId('charts-2', {}, { timeout: 8000 });
    expect(screen.getByTestId('charts-1')).toBeTruthy();
    expect(screen.queryByTestId('charts-3')).toBeNull();
    fireEvent.change(screen.getByLabelText('Listener to chart'), { target: { value: '3' } });
    await screen.findByTestId('charts-3', {}, { timeout: 8000 });
    expect(wb.store.getState().activeListener).toBe(3);

    const empty = await fakeWorkbench();
    cleanup();
    renderWith(empty.wb, <ChartsView width={420} />);
    expect(screen.getByText(/No listeners yet/)).toBeTruthy();
  });

  it('redraws at most four times a second however fast batches come', async () => {
    const { host, wb } = await fakeWorkbench((h) => { h.listeners = [listenerState(1)]; });
    let renders = 0;
    function Probe() {
      const feed = wb.store.getState().metrics;
      const frames = useChartFrames(feed, [1], 60_000, false, wb.store.getState().hostNow);
      const count = useRef(0);
      count.current++;
      renders = count.current;
      return <span data-testid="probe">{frames[0]?.latencyKept ?? 0}</span>;
    }
    render(<Probe />);
    const start = Date.now();
    let id = 0;
    // A batch every ~10 ms for a second: ~100 batches.
    while (Date.now() - start < 1000) {
      host.events([decisionEvent(1, ++id, wb.store.getState().hostNow())]);
      await sleep(10);
    }
    await waitFor(() => expect(Number(screen.getByTestId('probe').textContent)).toBe(id));
    expect(id).toBeGreaterThan(30);
    // 1 s at ≤ 4 redraws a second, plus the first draw and the catch-up: far fewer than batches.
    expect(renders).toBeLessThanOrEqual(8);
  });
});

describe('charts against a real host', () => {
  it('decisions of real TCP clients reach the charts; the view switch shows them', async () => {
    const r = await suite.realHost();
    // A generous budget: the sandbox's first calls can be slow on a loaded machine, and a call
    // over budget would get the fallback verdict (reject) instead.
    const l = await r.wb.store.getState().createListener({ discipline: 'held', handler: 'echo', budgetMs: 2000 }, { source: 'export default () => "accept";', filename: 'accept.js' });
    const started = await r.wb.store.getState().startListener(l.id);
    renderWith(r.wb, <App />);
    fireEvent.click(screen.getByRole('tab', { name: 'Charts' }));
    expect(screen.getByRole('tab', { name: 'Charts' }).getAttribute('aria-selected')).toBe('true');
    const clients = Array.from({ length: 5 }, () => tcpClient(started.bound!.port, { send: 'x', expectBytes: 1, timeoutMs: 5000 }));
    for (const c of clients) expect((await c.outcome).received.toString()).toBe('x');
    await until(() => r.wb.store.getState().metrics.of(l.id)?.latency.size === 5, 5000, 'five latency points');
    const feed = r.wb.store.getState().metrics.of(l.id)!;
    expect(feed.condition.size).toBe(5);
    await waitFor(() => expect(screen.getByTestId('latency-points').textContent).toBe('5 latency points kept'), { timeout: 8000 });
    expect(screen.getByTestId('chart-latency').textContent).toMatch(/5 decisions, p50 \d/);
    // Back to Live: its panels are still there (kept mounted).
    fireEvent.click(screen.getByRole('tab', { name: 'Live' }));
    expect(screen.getByRole('region', { name: 'Pending queue' })).toBeTruthy();
  });
});

describe('the chart window', () => {
  // A decision every 10 ms from 0 to 20 s, each with latency = its time (µs), and a verdict count a second.
  const feed = new MetricsFeed();
  feed.seed({
    listener: 1,
    latency: Array.from({ length: 2000 }, (_, i): [number, number] => [i * 10, i * 10]),
    conditionUs: [], queue: [],
    verdicts: Array.from({ length: 20 }, (_, i): [number, number, number, number, number, number] => [i * 1000, 100, 0, 0, 0, 0]),
    counts: { accept: 2000, reject: 0, expire: 0, withdraw: 0, error: 0 },
  });
  const series = feed.of(1)!;

  for (const now of [12_100, 12_000, 12_250, 19_990]) {
    it(`10 s window at ${now} ms: whole bins inside the window, the newest point in it, counts that agree`, () => {
      const d = computeChartData(1, series, 10_000, now, newBinners(), String);
      expect(d.end).toBeGreaterThan(now);
      expect(d.end - d.start).toBe(10_000);
      expect(d.start % d.binMs).toBe(0);
      expect(d.latency).toHaveLength(10_000 / d.binMs);
      expect(d.latency[0]!.t * 1000 - d.binMs / 2).toBeGreaterThanOrEqual(d.start);
      expect(d.latency.reduce((n, b) => n + b.n, 0)).toBe(d.latencySummary.n);
      // Every point in [start, end) is counted (one each 10 ms, the last at 19,990).
      const last = Math.min(d.end - 10, 19_990);
      expect(d.latencySummary.n).toBe(last / 10 - Math.ceil(d.start / 10) + 1);
      for (const v of d.verdicts) expect(v.t * 1000 - 500).toBeGreaterThanOrEqual(d.start);
    });
  }

  it('moves in whole steps: a redraw a moment later in the same step has the same window', () => {
    const a = computeChartData(1, series, 10_000, 12_010, newBinners(), String);
    const b = computeChartData(1, series, 10_000, 12_090, newBinners(), String);
    expect([a.start, a.end]).toEqual([b.start, b.end]);
  });

  it('the "all" window starts at a bin boundary at or before the oldest point', () => {
    const d = computeChartData(1, series, null, 19_995, newBinners(), String);
    expect(d.start).toBe(0);
    expect(d.latencySummary.n).toBe(2000);
    expect(d.latency.reduce((n, b) => n + b.n, 0)).toBe(2000);
  });
});

