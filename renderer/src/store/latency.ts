// Accept latency points, kept out of React state: a decision burst can bring thousands a second,
// and re-rendering on each would stall the UI. Charts subscribe, copy into a ref, and redraw on
// their own schedule.
import { Feed } from './feed';

export interface LatencyPoint {
  /** Host time of the final decision, ms. */
  t: number;
  latencyUs: number;
  listener: number;
}

export class LatencyFeed extends Feed {
  private ring: LatencyPoint[] = [];
  private start = 0;

  constructor(readonly capacity = 20_000) {
    super();
  }

  push(points: readonly LatencyPoint[]): void {
    if (points.length === 0) return;
    for (const p of points) {
      if (this.ring.length < this.capacity) this.ring.push(p);
      else {
        this.ring[this.start] = p;
        this.start = (this.start + 1) % this.capacity;
      }
    }
    this.changed();
  }

  /** Replaces a listener's points with `points` (from `metrics.get`), keeping the others. */
  seed(listener: number, points: readonly LatencyPoint[]): void {
    const others = this.snapshot().filter((p) => p.listener !== listener);
    const all = [...others, ...points].sort((a, b) => a.t - b.t).slice(-this.capacity);
    this.ring = all;
    this.start = 0;
    this.changed();
  }

  clear(): void {
    this.ring = [];
    this.start = 0;
    this.changed();
  }

  /** Oldest first. */
  snapshot(listener?: number): LatencyPoint[] {
    const ordered = this.start === 0 ? this.ring.slice() : [...this.ring.slice(this.start), ...this.ring.slice(0, this.start)];
    return listener === undefined ? ordered : ordered.filter((p) => p.listener === listener);
  }

  get size(): number { return this.ring.length; }

}
