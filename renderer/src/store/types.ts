// The renderer's state: zustand slices combined into one store (see index.ts). Each slice owns its
// part of the state and its actions; event batches from the host are applied by events.ts in one
// update per batch.
import type { ConnectionState, Hello } from '../../../electron/protocol/client';
import type { SessionsSlice } from './sessions';
import type { MetricsSlice } from './metrics';
import type { JobsSlice } from './jobs';
import type {
  HostEvent, ListenerOptionsPatch, ListenerState, LostState, PendingRequest, Result,
} from '../../../electron/protocol/schema';

/** A request is named by its listener and its id (ids are per listener). */
export type RequestKey = `${number}:${number}`;
export const requestKey = (listener: number, id: number): RequestKey => `${listener}:${id}`;
export function parseKey(key: RequestKey): { listener: number; id: number } {
  const [l, i] = key.split(':');
  return { listener: Number(l), id: Number(i) };
}

export type Verdict = 'accept' | 'reject' | 'defer';
export type DecisionEntry = Omit<Extract<HostEvent, { type: 'decision' }>, 'type'>;
export type HostErrorEntry = Omit<Extract<HostEvent, { type: 'error' }>, 'type'>;
export type LogEntry = Omit<Extract<HostEvent, { type: 'log' }>, 'type'>;

export interface ConnectionSlice {
  /** Bumped when something (the desktop app's Help menu) wants the platform notes shown. */
  platformNotesWanted: number;
  showPlatformNotes(): void;
  connection: ConnectionState;
  hello: Hello | null;
  /** Why the connection went down (or the host restarted), in the host's or transport's words. */
  connectionReason: string | null;
  /** What a host that died was running; the UI offers to start it again. */
  lost: LostState | null;
  restoringLost: boolean;
  /** One line per lost listener that could not be started again. */
  lostErrors: string[];
  /** The last full resync failed (host.info / request.list). */
  syncError: string | null;
  /** Messages from the host that failed validation (newest last, a few kept). */
  protocolErrors: string[];
  /** host time ≈ performance.now() + hostClockOffset. */
  hostClockOffset: number;
  /** Host time of the last full resync: events older than this are already in the state. */
  syncT: number;
  hostNow(): number;
  resync(): Promise<void>;
  restoreLost(): Promise<void>;
  dismissLost(): void;
}

export interface ListenersSlice {
  listeners: Record<number, ListenerState>;
  /** Script and listener errors the host reported (newest last, bounded). */
  hostErrors: HostErrorEntry[];
  /** Script log lines (ctx.log / console.*), newest last, bounded. */
  scriptLogs: LogEntry[];
  createListener(options: ListenerOptionsPatch, script?: { source: string; filename?: string }): Promise<ListenerState>;
  updateListener(id: number, options: ListenerOptionsPatch): Promise<ListenerState>;
  startListener(id: number): Promise<ListenerState>;
  stopListener(id: number): Promise<ListenerState>;
  removeListener(id: number): Promise<void>;
  applyScript(id: number, source: string, filename?: string): Promise<Result<'script.apply'>>;
  /** Bumped when something (the File menu's New listener) wants the new-listener form shown. */
  newListenerWanted: number;
  showNewListenerForm(): void;
}

export interface DecideFailure { key: RequestKey; error: string }

export interface PendingSlice {
  /** Requests offered and not yet final, by key. Replaced (not mutated) on every change. */
  pending: ReadonlyMap<RequestKey, PendingRequest>;
  /** Decisions sent and not yet answered. */
  deciding: Readonly<Record<RequestKey, Verdict>>;
  /** One `decide` call for all of `keys`. Resolves with the ones that failed and why. */
  decide(keys: RequestKey[], verdict: Verdict, extra?: { calleeData?: string; group?: number }): Promise<DecideFailure[]>;
}

export interface DecisionsSlice {
  /** Final decisions, oldest first, at most DECISIONS_KEPT. */
  decisions: readonly DecisionEntry[];
  /** How many older ones were let go to stay within the bound. */
  decisionsTrimmed: number;
}

export type SelectMode = 'only' | 'toggle' | 'range';

export interface SelectionSlice {
  selected: ReadonlySet<RequestKey>;
  /** The keyboard cursor in the pending queue. */
  cursor: RequestKey | null;
  /** Where a shift-range starts. */
  anchor: RequestKey | null;
  /** The request the inspector shows (pending or already decided). */
  inspected: { listener: number; id: number } | null;
  /** The listener the script panel and the edit form work on. */
  activeListener: number | null;
  /** `order`: the rows as displayed (filtered and sorted), for ranges. */
  selectRow(key: RequestKey, mode: SelectMode, order: readonly RequestKey[]): void;
  moveCursor(delta: number, extend: boolean, order: readonly RequestKey[]): void;
  setCursor(key: RequestKey | null): void;
  selectAll(order: readonly RequestKey[]): void;
  inspect(ref: { listener: number; id: number } | null): void;
  setActiveListener(id: number | null): void;
}

export type WorkbenchState = ConnectionSlice & ListenersSlice & PendingSlice & DecisionsSlice & SelectionSlice & SessionsSlice & MetricsSlice & JobsSlice;

export const DECISIONS_KEPT = 10_000;
export const HOST_ERRORS_KEPT = 200;
export const LOGS_KEPT = 500;
