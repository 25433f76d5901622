// The recorded pending queue at the timeline position: read-only (nothing can be decided in a
// recording), virtualised like the live queue, the same columns. A click shows the request in
// the Sessions view's inspector.
import { useMemo } from 'react';
import { useVirtualRows } from '../useVirtualRows';
import type { PendingRequest } from '../../../../electron/protocol/schema';
import { useWorkbench } from '../../context';
import { byteCount, duration, endpoint } from '../../format';

const ROW = 28;
const keyOfRequest = (r: PendingRequest): string => `${r.listener}:${r.id}`;
const STATE_LABEL: Record<PendingRequest['state'], string> = {
  'awaiting-person': 'awaiting a person',
  deferred: 'deferred by script',
  deciding: 'deciding',
};

export function SessionPending() {
  const state = useWorkbench((s) => s.sessionState);
  // The position matters here only until its state is in (not on every step of the slider).
  const t = useWorkbench((s) => (s.sessionState ? null : s.sessionT));
  const inspected = useWorkbench((s) => s.sessionInspected);
  const inspect = useWorkbench((s) => s.inspectSessionRequest);
  const multi = useWorkbench((s) => (s.session?.listeners.length ?? 0) > 1);
  const rows = useMemo(
    () => [...(state?.pending ?? [])].sort((a, b) => a.firstOfferT - b.firstOfferT || a.listener - b.listener || a.id - b.id),
    [state],
  );
  const { parentRef, virtualizer } = useVirtualRows(rows, keyOfRequest, ROW);
  // Ages are as of the state shown (which may trail the slider for a moment).
  const at = state?.t ?? t ?? 0;

  return (
    <section className="panel queue session-pending" aria-label="Pending at this point">
      <div className="panel-head">
        <h2>Pending <span className="muted" data-testid="session-pending-count">{rows.length} waiting</span></h2>
      </div>
      <div className="grid-head" role="row">
        <div role="columnheader" className="cell c-id">Request</div>
        <div role="columnheader" className="cell c-caller">Caller</div>
        <div role="columnheader" className="cell c-age">Waiting</div>
        <div role="columnheader" className="cell c-num">Offers</div>
        <div role="columnheader" className="cell c-num">Data</div>
        <div role="columnheader" className="cell c-state">State</div>
      </div>
      <div ref={parentRef} className="grid-body" role="grid" aria-label="Pending requests at this point" aria-rowcount={rows.length} aria-readonly="true">
        {rows.length === 0 ? (
          <p className="empty">{state ? 'No request was waiting at this point.' : 'Loading…'}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const r = rows[v.index]!;
              const current = inspected?.listener === r.listener && inspected.id === r.id;
              return (
                <div
                  key={v.key} role="row" data-testid="session-pending-row" data-key={`${r.listener}:${r.id}`}
                  className={`grid-row${current ? ' cursor' : ''}`}
                  style={{ height: ROW, transform: `translateY(${v.start}px)` }}
                  onClick={() => inspect({ listener: r.listener, id: r.id, hintT: r.firstOfferT })}
                >
                  <div role="gridcell" className="cell c-id">#{r.id}{multi ? <span className="muted"> · L{r.listener}</span> : null}</div>
                  <div role="gridcell" className="cell c-caller">{endpoint(r.caller)}</div>
                  <div role="gridcell" className="cell c-age">{duration(at - r.firstOfferT)}</div>
                  <div role="gridcell" className="cell c-num">{r.attempts}</div>
                  <div role="gridcell" className="cell c-num">{byteCount(r.dataBytes)}</div>
                  <div role="gridcell" className={`cell c-state st-${r.state}`}>{STATE_LABEL[r.state]}</div>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </section>
  );
}
