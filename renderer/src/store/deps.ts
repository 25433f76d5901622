// What the slices share besides the state: the client to the host, the latency feed, and where a
// slice hands the unsubscribe functions of its client subscriptions (called on dispose).
import type { StateCreator } from 'zustand/vanilla';
import type { WorkbenchClient } from '../../../electron/protocol/client';
import type { LatencyFeed } from './latency';
import type { WorkbenchState } from './types';

export interface SliceDeps {
  client: WorkbenchClient;
  latency: LatencyFeed;
  /** Keeps an unsubscribe function; Workbench.dispose() calls each. */
  track(off: () => void): void;
}

export type Slice<T> = (deps: SliceDeps) => StateCreator<WorkbenchState, [], [], T>;

/** An error as a person should read it: the host's message, without a stack or class name. */
export function plainError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
