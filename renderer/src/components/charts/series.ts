// What the charts draw, computed from the metrics feed's rings for one time window: a bounded
// number of bins whatever the number of points (150 at most per chart), so a redraw costs the same
// with 1,000 points or 200,000. Quantile bins that did not change since the last redraw are reused.
import { VERDICT_COLUMNS, type ListenerSeries, type TimeRing } from '../../store/metrics';

export const WINDOWS = [
  { id: '10s', label: '10 s', ms: 10_000 },
  { id: '1m', label: '1 min', ms: 60_000 },
  { id: '5m', label: '5 min', ms: 300_000 },
  { id: 'all', label: 'all', ms: null },
] as const;
export type WindowId = typeof WINDOWS[number]['id'];

export const MAX_BINS = 150;
const NICE_BIN_MS = [100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000];

/** The smallest round bin width that splits `spanMs` into at most MAX_BINS bins. */
export function binWidthFor(spanMs: number): number {
  for (const w of NICE_BIN_MS) if (spanMs / w <= MAX_BINS) return w;
  return Math.ceil(spanMs / MAX_BINS / 3_600_000) * 3_600_000;
}

// ---- quantiles --------------------------------------------------------------------------------------

/** Rearranges a[lo..hi] so that a[k] is the value a full sort would put there (Hoare's selection). */
function select(a: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    // Median of three as the pivot: sorted or constant runs (common in latency data) stay fast.
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** Nearest-rank index of percentile p among n values. */
export function rank(n: number, p: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
}

/**
 * Percentiles `ps` (ascending) of the first n values of `a`, which is reordered. Linear time: two
 * selections, not a sort of 100,000 values per redraw.
 */
export function percentilesOf(a: Float64Array, n: number, ps: readonly number[]): Array<number | null> {
  if (n === 0) return ps.map(() => null);
  let lo = 0;
  return ps.map((p) => {
    const k = rank(n, p);
    select(a, lo, n - 1, k);
    lo = k; // everything before k is ≤ a[k]: the next (higher) rank is searched from here
    return a[k]!;
  });
}

let scratch = new Float64Array(4096);
function scratchFor(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  return scratch;
}

// ---- binned series ----------------------------------------------------------------------------------

export interface QuantilePoint {
  /** The middle of the bin, host time in seconds. */
  t: number;
  p50: number | null;
  p99: number | null;
  n: number;
}

interface CachedBin { count: number; firstT: number; lastT: number; p50: number | null; p99: number | null }

/**
 * p50 / p99 per time bin of a one-column ring. Keeps the bins it computed: a bin with the same
 * rows as last time (same count, same first and last time) is not computed again, so a redraw
 * mostly costs the newest bin.
 */
export class QuantileBinner {
  private cache = new Map<number, CachedBin>();
  private key = '';

  bins(ring: TimeRing, start: number, end: number, width: number): QuantilePoint[] {
    const key = `${ring.generation}:${width}`;
    if (key !== this.key) {
      this.cache.clear();
      this.key = key;
    }
    const out: QuantilePoint[] = [];
    const first = Math.floor(start / width) * width;
    const keep = new Map<number, CachedBin>();
    for (let b = first; b < end; b += width) {
      const i = ring.lowerBound(b);
      const j = ring.lowerBound(b + width);
      const n = j - i;
      const mid = (b + width / 2) / 1000;
      if (n === 0) {
        out.push({ t: mid, p50: null, p99: null, n: 0 });
        continue;
      }
      const firstT = ring.time(i);
      const lastT = ring.time(j - 1);
      let c = this.cache.get(b);
      if (!c || c.count !== n || c.firstT !== firstT || c.lastT !== lastT) {
        const a = scratchFor(n);
        ring.copyValues(i, j, a);
        const [p50, p99] = percentilesOf(a, n, [50, 99]);
        c = { count: n, firstT, lastT, p50: p50!, p99: p99! };
      }
      keep.set(b, c);
      out.push({ t: mid, p50: c.p50, p99: c.p99, n });
    }
    this.cache = keep;
    return out;
  }
}

/** Summary of the rows of a one-column ring in [start, end): how many, p50, p99, max. */
export function windowSummary(ring: TimeRing, start: number, end: number): { n: number; p50: number | null; p99: number | null; max: number | null } {
  const i = ring.lowerBound(start);
  const j = ring.lowerBound(end);
  const n = j - i;
  if (n === 0) return { n: 0, p50: null, p99: null, max: null };
  const a = scratchFor(n);
  ring.copyValues(i, j, a);
  const [p50, p99, max] = percentilesOf(a, n, [50, 99, 100]);
  return { n, p50: p50!, p99: p99!, max: max! };
}

export interface HistogramBar {
  /** Lower edge, µs. */
  lo: number;
  hi: number;
  count: number;
  label: string;
}

/**
 * Counts of the values in [start, end) in logarithmic bins (four per decade), from the smallest
 * to the largest value present: latencies span µs to seconds.
 */
export function histogram(ring: TimeRing, start: number, end: number, label: (us: number) => string): HistogramBar[] {
  const i = ring.lowerBound(start);
  const j = ring.lowerBound(end);
  if (j <= i) return [];
  const PER_DECADE = 4;
  let min = Infinity;
  let max = -Infinity;
  for (let k = i; k < j; k++) {
    const v = Math.max(1, ring.value(k));
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const lo = Math.floor(Math.log10(min) * PER_DECADE);
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max) * PER_DECADE + 1e-9));
  const counts = new Array<number>(hi - lo).fill(0);
  for (let k = i; k < j; k++) {
    const v = Math.max(1, ring.value(k));
    const b = Math.min(counts.length - 1, Math.floor(Math.log10(v) * PER_DECADE) - lo);
    counts[b]!++;
  }
  return counts.map((count, b) => {
    const from = 10 ** ((lo + b) / PER_DECADE);
    return { lo: from, hi: 10 ** ((lo + b + 1) / PER_DECADE), count, label: label(from) };
  });
}

export type VerdictRates = { t: number } & Record<typeof VERDICT_COLUMNS[number], number>;

/** Final verdicts per second, summed into bins of `width` (at least 1 s) and divided by its seconds. */
export function verdictBins(ring: TimeRing, start: number, end: number, width: number): VerdictRates[] {
  const w = Math.max(1000, width);
  const out: VerdictRates[] = [];
  // Whole seconds inside the window (a bin starting before it would count what the window leaves out).
  const first = Math.ceil(start / w) * w;
  for (let b = first; b < end; b += w) {
    // At the middle of its bin: a bar is drawn centred on its x.
    const row = { t: (b + w / 2) / 1000, accept: 0, reject: 0, expire: 0, withdraw: 0, error: 0 };
    const j = ring.lowerBound(b + w);
    for (let k = ring.lowerBound(b); k < j; k++) {
      VERDICT_COLUMNS.forEach((v, c) => { row[v] += ring.value(k, c); });
    }
    const seconds = w / 1000;
    for (const v of VERDICT_COLUMNS) row[v] = Math.round((row[v] / seconds) * 100) / 100;
    out.push(row);
  }
  return out;
}

export interface QueuePoint { t: number; kernel: number | null; held: number; deferred: number }

/**
 * Queue depths per bin: the largest of the bin (a brief peak stays visible), or, in a bin without
 * samples, the depth last seen (the host reports depths when they change).
 */
export function queueBins(ring: TimeRing, start: number, end: number, width: number): QueuePoint[] {
  const out: QueuePoint[] = [];
  const first = Math.floor(start / width) * width;
  let at = ring.lowerBound(first);
  let last: QueuePoint | null = at > 0
    ? { t: 0, kernel: ring.value(at - 1, 0) < 0 ? null : ring.value(at - 1, 0), held: ring.value(at - 1, 1), deferred: ring.value(at - 1, 2) }
    : null;
  for (let b = first; b < end; b += width) {
    const j = ring.lowerBound(b + width);
    if (at === j) {
      out.push(last ? { ...last, t: b / 1000 } : { t: b / 1000, kernel: null, held: 0, deferred: 0 });
      continue;
    }
    let kernel = -1;
    let held = 0;
    let deferred = 0;
    for (let k = at; k < j; k++) {
      kernel = Math.max(kernel, ring.value(k, 0));
      held = Math.max(held, ring.value(k, 1));
      deferred = Math.max(deferred, ring.value(k, 2));
    }
    const lastK = ring.value(j - 1, 0);
    last = { t: 0, kernel: lastK < 0 ? null : lastK, held: ring.value(j - 1, 1), deferred: ring.value(j - 1, 2) };
    out.push({ t: b / 1000, kernel: kernel < 0 ? null : kernel, held, deferred });
    at = j;
  }
  return out;
}

// ---- one listener's charts ------------------------------------------------------------------------

const TICK_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 21_600, 43_200, 86_400];

/** Round times (s) for the time axis, at most about six: "0:10, 0:20, …" rather than recharts' fractions of a second. */
export function timeTicks(startMs: number, endMs: number): number[] {
  const span = (endMs - startMs) / 1000;
  const step = TICK_STEPS_S.find((s) => span / s <= 6) ?? Math.ceil(span / 6 / 86_400) * 86_400;
  const out: number[] = [];
  for (let t = Math.ceil(startMs / 1000 / step) * step; t <= endMs / 1000; t += step) out.push(t);
  return out;
}

export interface ListenerChartData {
  listener: number;
  /** Host time, ms. */
  start: number;
  end: number;
  binMs: number;
  /** Time axis ticks, s. */
  ticks: number[];
  latency: QuantilePoint[];
  latencySummary: { n: number; p50: number | null; p99: number | null; max: number | null };
  /** Latency points kept for this listener (all windows). */
  latencyKept: number;
  histogram: HistogramBar[];
  verdicts: VerdictRates[];
  queue: QueuePoint[];
  condition: QuantilePoint[];
  conditionSummary: { n: number; p50: number | null; p99: number | null; max: number | null };
}

export interface ListenerBinners { latency: QuantileBinner; condition: QuantileBinner }

export function newBinners(): ListenerBinners {
  return { latency: new QuantileBinner(), condition: new QuantileBinner() };
}

/** The start of the 'all' window: the oldest row of any series (or `end` minus 10 s). */
export function oldestTime(s: ListenerSeries, end: number): number {
  const firsts = [s.latency.firstTime(), s.condition.firstTime(), s.queue.firstTime(), s.verdicts.firstTime()].filter((t): t is number => t !== null);
  return firsts.length === 0 ? end - 10_000 : Math.min(end - 1000, ...firsts);
}

/**
 * The chart data of one listener for the window ending at `now` (host ms). The window moves in
 * whole bins (at least `minStepMs`): between two steps a redraw with no new data changes nothing,
 * and `shareUnchanged` lets such charts skip their redraw.
 */
export function computeChartData(
  listener: number, s: ListenerSeries, windowMs: number | null, now: number, binners: ListenerBinners, label: (us: number) => string,
  minStepMs = 250,
): ListenerChartData {
  const roughStart = windowMs === null ? oldestTime(s, now) : now - windowMs;
  const binMs = binWidthFor(windowMs ?? now - roughStart);
  // The window moves by a whole number of bins, so every bin starts and ends inside it; its end
  // lies past `now`, so the newest point is in it.
  const step = binMs * Math.max(1, Math.ceil(minStepMs / binMs));
  const end = (Math.floor(now / step) + 1) * step;
  // Host time starts at 0: a window reaching further back starts there.
  const start = Math.max(0, windowMs === null ? Math.floor(roughStart / binMs) * binMs : Math.ceil((end - windowMs) / binMs) * binMs);
  return {
    listener, start, end, binMs, ticks: timeTicks(start, end),
    latency: binners.latency.bins(s.latency, start, end, binMs),
    latencySummary: windowSummary(s.latency, start, end),
    latencyKept: s.latency.size,
    histogram: histogram(s.latency, start, end, label),
    verdicts: verdictBins(s.verdicts, start, end, binMs),
    queue: queueBins(s.queue, start, end, binMs),
    condition: binners.condition.bins(s.condition, start, end, binMs),
    conditionSummary: windowSummary(s.condition, start, end),
  };
}

function sameRows(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Record<string, unknown>;
    const y = b[i] as Record<string, unknown>;
    for (const k in x) if (x[k] !== y[k]) return false;
  }
  return true;
}

function sameFields(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (x[k] !== y[k]) return false;
  return true;
}

/**
 * `next` with every part equal to `prev`'s replaced by `prev`'s own object, and `prev` itself
 * when nothing changed: memoised charts then skip the redraw of what did not move.
 */
export function shareUnchanged(prev: ListenerChartData | undefined, next: ListenerChartData): ListenerChartData {
  if (!prev || prev.listener !== next.listener) return next;
  const out = { ...next };
  let same = prev.start === next.start && prev.end === next.end && prev.binMs === next.binMs && prev.latencyKept === next.latencyKept;
  for (const k of ['ticks', 'latency', 'histogram', 'verdicts', 'queue', 'condition'] as const) {
    const a = prev[k] as readonly unknown[];
    const b = next[k] as readonly unknown[];
    const equal = k === 'ticks' ? a.length === b.length && a.every((v, i) => v === b[i]) : sameRows(a as object[], b as object[]);
    if (equal) (out as Record<string, unknown>)[k] = a;
    else same = false;
  }
  for (const k of ['latencySummary', 'conditionSummary'] as const) {
    if (sameFields(prev[k], next[k])) out[k] = prev[k];
    else same = false;
  }
  return same ? prev : out;
}
