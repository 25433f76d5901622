// What the data kept outside React state (latency points, chart series) shares: subscribers told
// of each change, and a revision a reader compares to know whether it has seen the latest.
export class Feed {
  private readonly subscribers = new Set<() => void>();
  /** Bumped on every change. */
  revision = 0;

  subscribe(fn: () => void): () => void {
    this.subscribers.add(fn);
    return () => { this.subscribers.delete(fn); };
  }

  protected changed(): void {
    this.revision++;
    for (const fn of this.subscribers) fn();
  }
}
