// Chart data per listener, kept outside React state: accept latency and condition time samples,
// queue depths and verdicts per second. Fed from event batches as they arrive and seeded from
// `metrics.get` when a listener is first seen. Each series is a ring of typed arrays with a cap,
// so 100,000 latency points cost ~1.2 MB and an event costs no allocation. Views subscribe, read
// on their own schedule and never re-render per event (DESIGN §5).
import { Feed } from './feed';
import type { HostEvent, Result } from '../../../electron/protocol/schema';
import type { Slice } from './deps';

/** Points kept per listener and series; the oldest go first. */
export const METRIC_CAPS = {
  latency: 200_000,
  condition: 200_000,
  /** Queue depths: ~1 h of the host's 100 ms samples, longer from events (on change, ≥ 1/s). */
  queue: 36_000,
  /** Per-second verdict buckets: 1 h. */
  verdicts: 3_600,
} as const;

export type MetricCaps = { [K in keyof typeof METRIC_CAPS]: number };

/** Column order of a verdict bucket (as in `metrics.get`'s verdicts, after the time). */
export const VERDICT_COLUMNS = ['accept', 'reject', 'expire', 'withdraw', 'error'] as const;
export type FinalVerdictName = typeof VERDICT_COLUMNS[number];

/**
 * [time, value...] rows in time order, at most `capacity`. Storage grows by doubling up to the cap
 * (a quiet listener costs little) and then wraps. Values are float32: exact for integers to 2^24,
 * which covers counts and depths; latencies above 16 s lose a few µs.
 */
export class TimeRing {
  private t: Float64Array;
  private v: Float32Array[];
  private head = 0;
  private n = 0;
  /** Bumped whenever rows are replaced or removed other than by wrapping: caches keyed on it. */
  generation = 0;
  /** Rows pushed so far, also those the cap has let go since. */
  pushed = 0;

  constructor(readonly capacity: number, readonly columns = 1, initial = 256) {
    const len = Math.max(1, Math.min(capacity, initial));
    this.t = new Float64Array(len);
    this.v = Array.from({ length: columns }, () => new Float32Array(len));
  }

  get size(): number { return this.n; }

  private at(i: number): number {
    const len = this.t.length;
    const p = this.head + i;
    return p >= len ? p - len : p;
  }

  private grow(): void {
    const len = Math.min(this.capacity, this.t.length * 2);
    const t = new Float64Array(len);
    const v = this.v.map(() => new Float32Array(len));
    for (let i = 0; i < this.n; i++) {
      const p = this.at(i);
      t[i] = this.t[p]!;
      for (let c = 0; c < this.columns; c++) v[c]![i] = this.v[c]![p]!;
    }
    this.t = t;
    this.v = v;
    this.head = 0;
  }

  /** Appends a row; `values` has one entry per column. */
  push(time: number, values: ArrayLike<number>): void {
    this.pushed++;
    if (this.n === this.t.length && this.n < this.capacity) this.grow();
    let p: number;
    if (this.n < this.t.length) {
      p = this.at(this.n);
      this.n++;
    } else {
      p = this.head;
      this.head = this.head + 1 === this.t.length ? 0 : this.head + 1;
    }
    this.t[p] = time;
    for (let c = 0; c < this.columns; c++) this.v[c]![p] = values[c] ?? 0;
  }

  /** Time of row i (0 = oldest). */
  time(i: number): number { return this.t[this.at(i)]!; }
  value(i: number, column = 0): number { return this.v[column]![this.at(i)]!; }
  addTo(i: number, column: number, delta: number): void { this.v[column]![this.at(i)]! += delta; }
  lastTime(): number | null { return this.n === 0 ? null : this.time(this.n - 1); }
  firstTime(): number | null { return this.n === 0 ? null : this.time(0); }

  /** The first row with time ≥ t (size when none). */
  lowerBound(t: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.time(mid) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Copies column `column` of rows [from, to) into `out` (from index 0); returns the count. */
  copyValues(from: number, to: number, out: Float64Array, column = 0): number {
    const col = this.v[column]!;
    let k = 0;
    for (let i = from; i < to; i++) out[k++] = col[this.at(i)]!;
    return k;
  }

  /** Replaces every row (sorted by time; the newest `capacity` are kept). */
  replace(times: ArrayLike<number>, columns: Array<ArrayLike<number>>): void {
    const total = times.length;
    const skip = Math.max(0, total - this.capacity);
    const n = total - skip;
    const len = Math.max(n, Math.min(this.capacity, 256), 1);
    this.t = new Float64Array(len);
    this.v = Array.from({ length: this.columns }, () => new Float32Array(len));
    for (let i = 0; i < n; i++) {
      this.t[i] = times[skip + i]!;
      for (let c = 0; c < this.columns; c++) this.v[c]![i] = columns[c]![skip + i]!;
    }
    this.head = 0;
    this.n = n;
    this.generation++;
  }

  clear(): void {
    this.replace([], Array.from({ length: this.columns }, () => []));
  }

  /**
   * Merges rows from the host (`metrics.get`, time order) with the ones we have: the host's rows
   * stand for their time span, ours are kept before and after it. An event that arrived while the
   * request was on its way is in both and is kept once.
   */
  mergeSeed(rows: ReadonlyArray<readonly number[]>): void {
    if (rows.length === 0) return;
    const first = rows[0]![0]!;
    const last = rows[rows.length - 1]![0]!;
    const times: number[] = [];
    const cols: number[][] = Array.from({ length: this.columns }, () => []);
    const own = (i: number): void => {
      times.push(this.time(i));
      for (let c = 0; c < this.columns; c++) cols[c]!.push(this.value(i, c));
    };
    const before = this.lowerBound(first);
    for (let i = 0; i < before; i++) own(i);
    for (const r of rows) {
      times.push(r[0]!);
      for (let c = 0; c < this.columns; c++) cols[c]!.push(r[c + 1]!);
    }
    for (let i = this.lowerBound(last); i < this.n; i++) if (this.time(i) > last) own(i);
    this.replace(times, cols);
  }
}

export interface ListenerSeries {
  /** [t, accept latency µs] of final decisions. */
  latency: TimeRing;
  /** [t, condition time µs] of offers a script decided. */
  condition: TimeRing;
  /** [t, kernel depth (-1: not reported), held, deferred]. */
  queue: TimeRing;
  /** [second start, accept, reject, expire, withdraw, error]. */
  verdicts: TimeRing;
  /**
   * Host time of the newest row each seed brought: an event at or before it is already counted.
   * (The host answers `metrics.get` at once, while events of the same moment may still wait in
   * its batch for the next flush.)
   */
  seededUntil: { latency: number; condition: number; queue: number };
}

const VERDICT_COLUMN: Record<FinalVerdictName, number> = { accept: 0, reject: 1, expire: 2, withdraw: 3, error: 4 };
const ZEROS5 = [0, 0, 0, 0, 0];

export class MetricsFeed extends Feed {
  private readonly byListener = new Map<number, ListenerSeries>();
  private readonly one = new Float64Array(1);
  private readonly three = new Float64Array(3);

  constructor(readonly caps: MetricCaps = METRIC_CAPS) {
    super();
  }

  of(listener: number): ListenerSeries | undefined { return this.byListener.get(listener); }

  listenerIds(): number[] { return [...this.byListener.keys()].sort((a, b) => a - b); }

  private series(listener: number): ListenerSeries {
    let s = this.byListener.get(listener);
    if (!s) {
      s = {
        latency: new TimeRing(this.caps.latency, 1),
        condition: new TimeRing(this.caps.condition, 1),
        queue: new TimeRing(this.caps.queue, 3),
        verdicts: new TimeRing(this.caps.verdicts, 5, 64),
        seededUntil: { latency: -1, condition: -1, queue: -1 },
      };
      this.byListener.set(listener, s);
    }
    return s;
  }

  /** Takes what the charts need from one batch of host events; one notification per batch. */
  applyEvents(events: readonly HostEvent[]): void {
    let touched = false;
    for (const e of events) {
      switch (e.type) {
        case 'decision': {
          const s = this.series(e.listener);
          if (e.t <= s.seededUntil.latency) break;
          this.one[0] = e.latencyUs;
          s.latency.push(e.t, this.one);
          countVerdict(s.verdicts, e.t, VERDICT_COLUMN[e.verdict]);
          touched = true;
          break;
        }
        case 'offer':
          // As the host's own condition-time ring: only offers the script decided.
          if (e.by === 'script') {
            const s = this.series(e.listener);
            if (e.t <= s.seededUntil.condition) break;
            this.one[0] = e.conditionUs;
            s.condition.push(e.t, this.one);
            touched = true;
          }
          break;
        case 'queue': {
          const s = this.series(e.listener);
          if (e.t <= s.seededUntil.queue) break;
          this.three[0] = e.kernel ?? -1;
          this.three[1] = e.held;
          this.three[2] = e.deferred;
          s.queue.push(e.t, this.three);
          touched = true;
          break;
        }
        case 'listener-removed':
          touched = this.byListener.delete(e.listener) || touched;
          break;
        default:
          break;
      }
    }
    if (touched) this.changed();
  }

  /** Merges a listener's history from `metrics.get`. */
  seed(m: Result<'metrics.get'>): void {
    const s = this.series(m.listener);
    s.latency.mergeSeed(m.latency);
    s.condition.mergeSeed(m.conditionUs);
    s.queue.mergeSeed(m.queue);
    mergeVerdictSeed(s.verdicts, m.verdicts);
    const lastT = (rows: ReadonlyArray<readonly number[]>, was: number): number => Math.max(was, rows.at(-1)?.[0] ?? -1);
    s.seededUntil = {
      latency: lastT(m.latency, s.seededUntil.latency),
      condition: lastT(m.conditionUs, s.seededUntil.condition),
      queue: lastT(m.queue, s.seededUntil.queue),
    };
    this.changed();
  }

  remove(listener: number): void {
    if (this.byListener.delete(listener)) this.changed();
  }

  clear(): void {
    this.byListener.clear();
    this.changed();
  }

}

function countVerdict(ring: TimeRing, t: number, column: number): void {
  const second = Math.floor(t / 1000) * 1000;
  const last = ring.lastTime();
  if (last === second) {
    ring.addTo(ring.size - 1, column, 1);
  } else if (last === null || second > last) {
    ring.push(second, ZEROS5);
    ring.addTo(ring.size - 1, column, 1);
  } else {
    // Older than the newest bucket (a seed came in between): count it where it belongs.
    const i = ring.lowerBound(second);
    if (i < ring.size && ring.time(i) === second) ring.addTo(i, column, 1);
  }
}

/**
 * The host's buckets stand for their span; ours before and after it are kept. The bucket at the
 * seam is counted by both sides, each possibly in part (the seed was taken mid-second, or our
 * events started mid-second): the larger count of each verdict is the closer one.
 */
function mergeVerdictSeed(ring: TimeRing, buckets: ReadonlyArray<readonly number[]>): void {
  if (buckets.length === 0) return;
  const last = buckets[buckets.length - 1]![0]!;
  const i = ring.lowerBound(last);
  const seam = i < ring.size && ring.time(i) === last ? Array.from({ length: 5 }, (_, c) => ring.value(i, c)) : null;
  const rows = seam
    ? [...buckets.slice(0, -1), [last, ...seam.map((v, c) => Math.max(v, buckets[buckets.length - 1]![c + 1]!))]]
    : buckets;
  ring.mergeSeed(rows);
}

// ---- the slice ------------------------------------------------------------------------------------

export interface MetricsSlice {
  /** Chart data, outside React state: a stable reference; subscribe and read into refs. */
  metrics: MetricsFeed;
}

export const createMetricsSlice: Slice<MetricsSlice> = ({ client, track, latency }) => (_set, _get, api) => {
  const feed = new MetricsFeed();
  let hostId: string | null = client.hello?.hostId ?? null;
  // Listeners whose history was asked for on this connection; `generation` drops late answers.
  const seeded = new Set<number>();
  let generation = 0;

  const seed = (listener: number): void => {
    seeded.add(listener);
    const gen = generation;
    client.call('metrics.get', { listener })
      .then((m) => {
        // Not for a listener removed (or a connection replaced) while the answer was on its way.
        if (gen !== generation || !seeded.has(listener)) return;
        feed.seed(m);
        // The live view's latency chart has the same history (one metrics.get for both).
        latency.seed(listener, m.latency.map(([t, latencyUs]) => ({ t, latencyUs, listener })));
      })
      // Without its history a chart starts from the live events; asked again on reconnection.
      .catch(() => { if (gen === generation) seeded.delete(listener); });
  };

  track(client.onStatus((change) => {
    if (change.state !== 'connected') return;
    const id = change.hello?.hostId ?? client.hello?.hostId ?? null;
    // A new host: nothing of the old one's metrics applies (listener ids restart).
    if (hostId !== null && id !== hostId) feed.clear();
    hostId = id;
    // Events may have been missed while away: every listener's history is merged again.
    seeded.clear();
    generation++;
  }));

  track(client.onEvents((batch) => {
    feed.applyEvents(batch.events);
    for (const e of batch.events) if (e.type === 'listener-removed') seeded.delete(e.listener);
  }));

  // Listeners appear through resyncs, events and the listener actions: seed each once.
  api.subscribe((s, prev) => {
    if (s.listeners === prev.listeners || s.connection !== 'connected') return;
    for (const key of Object.keys(s.listeners)) {
      const id = Number(key);
      if (!seeded.has(id)) seed(id);
    }
  });

  return { metrics: feed };
};
