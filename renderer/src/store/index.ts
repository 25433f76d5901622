// The renderer's one store: the slices combined, wired to a WorkbenchClient. Event batches are
// applied in one update each; a batch that says events were dropped, a (re)connection and a new
// host all lead to a full resync (host.info + request.list).
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { WorkbenchClient } from '../../../electron/protocol/client';
import { createConnectionSlice } from './connection';
import { createDecisionsSlice } from './decisions';
import { applyBatch } from './events';
import { LatencyFeed } from './latency';
import { createListenersSlice } from './listeners';
import { createPendingSlice } from './pending';
import { createSelectionSlice } from './selection';
import { createSessionsSlice } from './sessions';
import { createMetricsSlice } from './metrics';
import { createJobsSlice } from './jobs';
import type { SliceDeps } from './deps';
import type { WorkbenchState } from './types';

export * from './types';
export { LatencyFeed, type LatencyPoint } from './latency';

export interface Workbench {
  store: StoreApi<WorkbenchState>;
  client: WorkbenchClient;
  /** Accept latency points, outside React state (subscribe and read into a ref). */
  latency: LatencyFeed;
  /** Detaches from the client (does not close it). */
  dispose(): void;
}

const PROTOCOL_ERRORS_KEPT = 20;

export function createWorkbench(client: WorkbenchClient): Workbench {
  const latency = new LatencyFeed();
  const offs: Array<() => void> = [];
  const deps: SliceDeps = { client, latency, track: (off) => { offs.push(off); } };
  const store = createStore<WorkbenchState>()((...a) => ({
    ...createConnectionSlice(deps)(...a),
    ...createListenersSlice(deps)(...a),
    ...createPendingSlice(deps)(...a),
    ...createDecisionsSlice(deps)(...a),
    ...createSelectionSlice(deps)(...a),
    ...createSessionsSlice(deps)(...a),
    ...createMetricsSlice(deps)(...a),
    ...createJobsSlice(deps)(...a),
  }));

  let hostId: string | null = null;
  const onConnected = (): void => {
    const hello = client.hello;
    if (hello && hostId !== null && hello.hostId !== hostId) {
      // A new host: nothing of the old one's requests or decisions applies to it (ids restart).
      latency.clear();
      store.setState({
        listeners: {}, pending: new Map(), deciding: {}, decisions: [], decisionsTrimmed: 0, hostErrors: [], scriptLogs: [],
        selected: new Set(), cursor: null, anchor: null, inspected: null, syncT: 0,
      });
    }
    hostId = hello?.hostId ?? hostId;
    store.setState({ connection: 'connected', hello, connectionReason: null });
    void store.getState().resync();
  };

  const offStatus = client.onStatus((change) => {
    if (change.state === 'connected') {
      onConnected();
      return;
    }
    store.setState({
      connection: change.state,
      ...(change.reason !== undefined ? { connectionReason: change.reason } : {}),
      ...(change.lost && (change.lost.listeners.length > 0 || change.lost.recording) ? { lost: change.lost, lostErrors: [] } : {}),
    });
  });

  const offEvents = client.onEvents((batch) => {
    const { patch, latency: points, needsResync } = applyBatch(store.getState(), batch);
    if (Object.keys(patch).length > 0) store.setState(patch);
    latency.push(points);
    if (needsResync) void store.getState().resync();
  });

  // The hello may have come before we subscribed.
  if (client.state === 'connected') onConnected();

  return {
    store,
    client,
    latency,
    dispose: () => {
      offStatus();
      offEvents();
      for (const off of offs.splice(0)) off();
    },
  };
}

/** For the client's onProtocolError: keeps the last few for the status bar. */
export function reportProtocolError(store: StoreApi<WorkbenchState>, message: string): void {
  store.setState((s) => ({ protocolErrors: s.protocolErrors.concat(message).slice(-PROTOCOL_ERRORS_KEPT) }));
}
