// The decisions log: every final decision (the last 10,000), newest first, filtered by verdict and
// by who decided. Clicking one, or moving to it with the arrow keys, opens it in the inspector.
import { useMemo, useState, type KeyboardEvent } from 'react';
import { useVirtualRows } from './useVirtualRows';
import { useWorkbench } from '../context';
import { useThrottledWorkbench } from '../useThrottledWorkbench';
import { DECISIONS_KEPT, type DecisionEntry, type WorkbenchState } from '../store';
import { endpoint, hostTime, micros } from '../format';

const ROW = 26;
const keyOfDecision = (d: DecisionEntry): string => `${d.listener}:${d.id}:${d.t}`;
const VERDICTS = ['accept', 'reject', 'expire', 'withdraw', 'error'] as const;
const DECIDERS = ['script', 'person', 'fallback', 'default', 'system'] as const;

const selectDecisions = (s: WorkbenchState): WorkbenchState['decisions'] => s.decisions;
const selectTrimmed = (s: WorkbenchState): number => s.decisionsTrimmed;
/** Under a stream of decisions the log is redrawn at most this often, ms. */
const LOG_REDRAW_MS = 200;

export function DecisionsLog() {
  const decisions = useThrottledWorkbench(selectDecisions, LOG_REDRAW_MS);
  const trimmed = useThrottledWorkbench(selectTrimmed, LOG_REDRAW_MS);
  const inspected = useWorkbench((s) => s.inspected);
  const inspect = useWorkbench((s) => s.inspect);
  const [verdict, setVerdict] = useState<'all' | DecisionEntry['verdict']>('all');
  const [by, setBy] = useState<'all' | DecisionEntry['by']>('all');

  const rows = useMemo(() => {
    const out: DecisionEntry[] = [];
    for (let i = decisions.length - 1; i >= 0; i--) {
      const d = decisions[i]!;
      if ((verdict === 'all' || d.verdict === verdict) && (by === 'all' || d.by === by)) out.push(d);
    }
    return out;
  }, [decisions, verdict, by]);

  const { parentRef, virtualizer } = useVirtualRows(rows, keyOfDecision, ROW);

  // Keyboard: the log takes focus; arrows (Page, Home, End) move to another decision and open it.
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>): void => {
    if (rows.length === 0) return;
    const page = Math.max(1, Math.floor((parentRef.current?.clientHeight ?? ROW * 10) / ROW) - 1);
    const delta = ({ ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -rows.length, End: rows.length } as Record<string, number>)[e.key];
    if (delta === undefined) return;
    e.preventDefault();
    const at = inspected ? rows.findIndex((d) => d.listener === inspected.listener && d.id === inspected.id) : -1;
    const to = Math.min(rows.length - 1, Math.max(0, at < 0 ? (delta > 0 ? 0 : rows.length - 1) : at + delta));
    const d = rows[to]!;
    inspect({ listener: d.listener, id: d.id });
    virtualizer.scrollToIndex(to);
  };

  return (
    <section className="panel decisions" aria-label="Decisions log">
      <div className="panel-head">
        <h2>Decisions <span className="muted" data-testid="decision-count">{decisions.length}{rows.length !== decisions.length ? `, ${rows.length} shown` : ''}</span></h2>
        <div className="toolbar">
          <select aria-label="Filter decisions by verdict" value={verdict} onChange={(e) => setVerdict(e.target.value as typeof verdict)}>
            <option value="all">every verdict</option>
            {VERDICTS.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
          <select aria-label="Filter decisions by decider" value={by} onChange={(e) => setBy(e.target.value as typeof by)}>
            <option value="all">any decider</option>
            {DECIDERS.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </div>
      </div>
      {trimmed > 0 ? <div className="muted small">Only the last {DECISIONS_KEPT.toLocaleString('en')} are kept here; {trimmed.toLocaleString('en')} older ones are in the recording, if one runs.</div> : null}
      <div className="grid-head log" role="row">
        <div role="columnheader" className="cell c-time">Time</div>
        <div role="columnheader" className="cell c-id">Request</div>
        <div role="columnheader" className="cell c-caller">Caller</div>
        <div role="columnheader" className="cell c-verdict">Verdict</div>
        <div role="columnheader" className="cell c-by">By</div>
        <div role="columnheader" className="cell c-num">Offers</div>
        <div role="columnheader" className="cell c-num">Latency</div>
        <div role="columnheader" className="cell c-result">Result</div>
      </div>
      <div ref={parentRef} className="grid-body" role="grid" aria-label="Final decisions" aria-rowcount={rows.length} tabIndex={0} onKeyDown={onKeyDown}>
        {rows.length === 0 ? (
          <p className="empty">{decisions.length === 0 ? 'No decisions yet.' : 'No decision matches the filter.'}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const d = rows[v.index]!;
              const current = inspected?.listener === d.listener && inspected.id === d.id;
              return (
                <div
                  key={v.key}
                  role="row"
                  data-testid="decision-row"
                  className={`grid-row log${current ? ' cursor' : ''}`}
                  style={{ height: ROW, transform: `translateY(${v.start}px)` }}
                  onClick={() => inspect({ listener: d.listener, id: d.id })}
                >
                  <div role="gridcell" className="cell c-time mono">{hostTime(d.t)}</div>
                  <div role="gridcell" className="cell c-id">#{d.id} <span className="muted">L{d.listener}</span></div>
                  <div role="gridcell" className="cell c-caller">{endpoint(d.caller)}</div>
                  <div role="gridcell" className={`cell c-verdict v-${d.verdict}`}>{d.verdict}</div>
                  <div role="gridcell" className="cell c-by">{d.by}</div>
                  <div role="gridcell" className="cell c-num">{d.attempts}</div>
                  <div role="gridcell" className="cell c-num">{micros(d.latencyUs)}</div>
                  <div role="gridcell" className="cell c-result mono" title={d.result}>{d.result}</div>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </section>
  );
}
