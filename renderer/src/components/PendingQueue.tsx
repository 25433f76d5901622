// The pending queue: requests offered and not yet final. Virtualised (only the rows in view are in
// the DOM), so 10,000 waiting requests scroll as smoothly as ten. A person decides the selected
// rows — buttons, or A / R / D with the arrow keys to move — in one `decide` call. In the winsock
// discipline the head of the queue blocks everyone behind it; the view says so.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent } from 'react';
import { useVirtualRows } from './useVirtualRows';
import type { ListenerState, PendingRequest } from '../../../electron/protocol/schema';
import { useWorkbench } from '../context';
import { useThrottledWorkbench } from '../useThrottledWorkbench';
import { requestKey, type DecideFailure, type RequestKey, type Verdict, type WorkbenchState } from '../store';
import { byteCount, duration, endpoint, utf8ToBase64 } from '../format';

export const ROW_HEIGHT = 28;
const keyOfRow = (r: PendingRequest): string => requestKey(r.listener, r.id);

type SortColumn = 'arrival' | 'caller' | 'age' | 'attempts' | 'data' | 'state';
type StateFilter = 'all' | PendingRequest['state'];

const STATE_LABEL: Record<PendingRequest['state'], string> = {
  'awaiting-person': 'awaiting you',
  deferred: 'deferred by script',
  deciding: 'deciding',
};

const compareBy: Record<SortColumn, (a: PendingRequest, b: PendingRequest) => number> = {
  arrival: (a, b) => a.firstOfferT - b.firstOfferT || a.listener - b.listener || a.id - b.id,
  // Ascending age: the youngest request first.
  age: (a, b) => b.firstOfferT - a.firstOfferT || b.id - a.id,
  caller: (a, b) => a.caller.address.localeCompare(b.caller.address, undefined, { numeric: true }) || a.caller.port - b.caller.port,
  attempts: (a, b) => a.attempts - b.attempts,
  data: (a, b) => a.dataBytes - b.dataBytes,
  state: (a, b) => a.state.localeCompare(b.state),
};

/** The head of each running winsock-discipline listener's queue: the request everyone waits behind. */
function headsOfLine(pending: ReadonlyMap<RequestKey, PendingRequest>, listeners: Record<number, ListenerState>): Map<number, PendingRequest> {
  const heads = new Map<number, PendingRequest>();
  for (const r of pending.values()) {
    const l = listeners[r.listener];
    if (!l || l.options.discipline !== 'winsock') continue;
    const cur = heads.get(r.listener);
    if (!cur || compareBy.arrival(r, cur) < 0) heads.set(r.listener, r);
  }
  return heads;
}

function useSecondTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(timer);
  }, []);
  return tick;
}

const selectPending = (s: WorkbenchState): WorkbenchState['pending'] => s.pending;
const selectListeners = (s: WorkbenchState): WorkbenchState['listeners'] => s.listeners;
/** While events stream the rows change with each batch; redrawn at most this often, ms. */
export const QUEUE_REDRAW_MS = 200;

export function PendingQueue() {
  const pending = useThrottledWorkbench(selectPending, QUEUE_REDRAW_MS);
  const listeners = useThrottledWorkbench(selectListeners, QUEUE_REDRAW_MS);
  const deciding = useWorkbench((s) => s.deciding);
  const selected = useWorkbench((s) => s.selected);
  const cursor = useWorkbench((s) => s.cursor);
  const hostNow = useWorkbench((s) => s.hostNow);
  const selectRow = useWorkbench((s) => s.selectRow);
  const moveCursor = useWorkbench((s) => s.moveCursor);
  const setCursor = useWorkbench((s) => s.setCursor);
  const selectAll = useWorkbench((s) => s.selectAll);
  const decide = useWorkbench((s) => s.decide);
  useSecondTick(); // ages move on

  const [text, setText] = useState('');
  const [stateFilter, setStateFilter] = useState<StateFilter>('all');
  const [listenerFilter, setListenerFilter] = useState<number | 'all'>('all');
  const [sort, setSort] = useState<{ column: SortColumn; asc: boolean }>({ column: 'arrival', asc: true });
  const [calleeData, setCalleeData] = useState('');
  const [group, setGroup] = useState('');
  const [failures, setFailures] = useState<DecideFailure[]>([]);
  const [inputError, setInputError] = useState<string | null>(null);
  const lastCursorIndex = useRef(0);

  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const out: PendingRequest[] = [];
    for (const r of pending.values()) {
      if (stateFilter !== 'all' && r.state !== stateFilter) continue;
      if (listenerFilter !== 'all' && r.listener !== listenerFilter) continue;
      if (needle && !endpoint(r.caller).toLowerCase().includes(needle) && !`#${r.id}`.includes(needle)) continue;
      out.push(r);
    }
    const cmp = compareBy[sort.column];
    out.sort((a, b) => (sort.asc ? cmp(a, b) : -cmp(a, b)) || compareBy.arrival(a, b));
    return out;
  }, [pending, text, stateFilter, listenerFilter, sort]);
  const order = useMemo(() => rows.map((r) => requestKey(r.listener, r.id)), [rows]);
  const heads = useMemo(() => headsOfLine(pending, listeners), [pending, listeners]);
  const headKeys = useMemo(() => new Set([...heads.values()].map((r) => requestKey(r.listener, r.id))), [heads]);

  const { parentRef, virtualizer } = useVirtualRows(rows, keyOfRow, ROW_HEIGHT, 12);

  // The cursor's request was decided: move to the row that took its place, so A, A, A works
  // through the queue. (A row only filtered out keeps the cursor and the selection.)
  const cursorIndex = cursor === null ? -1 : order.indexOf(cursor);
  if (cursorIndex >= 0) lastCursorIndex.current = cursorIndex;
  useEffect(() => {
    if (cursor === null || cursorIndex >= 0 || pending.has(cursor)) return;
    if (order.length === 0) setCursor(null);
    else setCursor(order[Math.min(lastCursorIndex.current, order.length - 1)]!);
  }, [cursor, cursorIndex, order, pending, setCursor]);

  // The shown selection, or the cursor's row; never a request whose decision is on its way.
  const targets = useCallback((): RequestKey[] => {
    const chosen = order.filter((k) => selected.has(k) && !deciding[k]);
    if (chosen.length > 0) return chosen;
    return cursor !== null && pending.has(cursor) && !deciding[cursor] && order.includes(cursor) ? [cursor] : [];
  }, [order, selected, cursor, pending, deciding]);

  const act = useCallback(async (verdict: Verdict): Promise<void> => {
    const keys = targets();
    if (keys.length === 0) return;
    let extra: { calleeData?: string; group?: number } = {};
    if (verdict === 'accept') {
      const g = group.trim();
      if (g !== '' && !/^\d+$/.test(g)) {
        setInputError('The group (g) must be a whole number: 0, a group id, or an SG_* value.');
        return;
      }
      extra = { ...(calleeData !== '' ? { calleeData: utf8ToBase64(calleeData) } : {}), ...(g !== '' ? { group: Number(g) } : {}) };
    }
    setInputError(null);
    setFailures(await decide(keys, verdict, extra));
  }, [targets, decide, calleeData, group]);

  const scrollTo = (delta: number): void => {
    const at = cursorIndex === -1 ? (delta > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, cursorIndex + delta));
    if (order.length > 0) virtualizer.scrollToIndex(at, { align: 'auto' });
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>): void => {
    const page = Math.max(1, Math.floor((parentRef.current?.clientHeight ?? ROW_HEIGHT * 10) / ROW_HEIGHT) - 1);
    const move = (delta: number): void => {
      e.preventDefault();
      moveCursor(delta, e.shiftKey, order);
      scrollTo(delta);
    };
    switch (e.key) {
      case 'ArrowDown': move(1); return;
      case 'ArrowUp': move(-1); return;
      case 'PageDown': move(page); return;
      case 'PageUp': move(-page); return;
      case 'Home': move(-order.length); return;
      case 'End': move(order.length); return;
      default: break;
    }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'a') {
      e.preventDefault();
      selectAll(order);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return; // leave the browser's shortcuts alone (Ctrl+R)
    const verdict = ({ a: 'accept', r: 'reject', d: 'defer' } as const)[e.key.toLowerCase() as 'a' | 'r' | 'd'];
    if (verdict) {
      e.preventDefault();
      if (e.repeat) return; // a held key decides once
      void act(verdict);
    }
  };

  const onRowClick = (e: MouseEvent, key: RequestKey): void => {
    selectRow(key, e.shiftKey ? 'range' : e.ctrlKey || e.metaKey ? 'toggle' : 'only', order);
    parentRef.current?.focus();
  };

  const header = (column: SortColumn, label: string, className: string) => (
    <div role="columnheader" className={`cell ${className}`} aria-sort={sort.column === column ? (sort.asc ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" onClick={() => setSort((s) => ({ column, asc: s.column === column ? !s.asc : true }))}>
        {label}{sort.column === column ? (sort.asc ? ' ▲' : ' ▼') : ''}
      </button>
    </div>
  );

  const now = hostNow();
  const chosen = targets().length;
  const listenerIds = Object.keys(listeners).map(Number).sort((a, b) => a - b);
  const failedText = (f: DecideFailure): string => {
    const [l, id] = f.key.split(':');
    return `Request #${id} (listener ${l}): ${f.error}`;
  };

  return (
    <section className="panel queue" aria-label="Pending queue">
      <div className="panel-head">
        <h2>Pending queue <span className="muted" data-testid="pending-count">{pending.size} waiting{rows.length !== pending.size ? `, ${rows.length} shown` : ''}</span></h2>
      </div>
      {[...heads.values()].map((h) => {
        const l = listeners[h.listener]!;
        const k = l.queue.kernel;
        return (
          <div key={h.listener} className="banner info" data-testid={`head-of-line-${h.listener}`}>
            Listener #{h.listener} uses the <strong>winsock</strong> discipline: request #{h.id} from {endpoint(h.caller)} is at the head of
            the queue. Until it is decided, later callers wait in the kernel backlog
            {k === null ? ' (the OS does not report how many).' : ` (${k} waiting there now).`}
          </div>
        );
      })}
      <div className="toolbar">
        <input type="search" placeholder="Filter by caller or #id" aria-label="Filter by caller or request id" value={text} onChange={(e) => setText(e.target.value)} />
        <select aria-label="Filter by state" value={stateFilter} onChange={(e) => setStateFilter(e.target.value as StateFilter)}>
          <option value="all">every state</option>
          <option value="awaiting-person">awaiting you</option>
          <option value="deferred">deferred by script</option>
          <option value="deciding">deciding</option>
        </select>
        <select aria-label="Filter by listener" value={String(listenerFilter)} onChange={(e) => setListenerFilter(e.target.value === 'all' ? 'all' : Number(e.target.value))}>
          <option value="all">every listener</option>
          {listenerIds.map((id) => <option key={id} value={id}>listener #{id}</option>)}
        </select>
        <button type="button" onClick={() => selectAll(order)} disabled={rows.length === 0}>Select all shown</button>
      </div>
      <div className="toolbar decide-bar">
        <button type="button" className="v-accept-bg" disabled={chosen === 0} onClick={() => void act('accept')} title="Accept (A)">Accept</button>
        <button type="button" className="v-reject-bg" disabled={chosen === 0} onClick={() => void act('reject')} title="Reject (R)">Reject</button>
        <button type="button" disabled={chosen === 0} onClick={() => void act('defer')} title="Defer (D)">Defer</button>
        <span className="muted">{chosen === 0 ? 'Select requests to decide' : `${chosen} selected`}</span>
        <input className="callee" placeholder="Callee data (with Accept)" aria-label="Callee data sent with Accept" value={calleeData} onChange={(e) => setCalleeData(e.target.value)} />
        <input className="group" placeholder="g" aria-label="Group (g) with Accept" value={group} onChange={(e) => setGroup(e.target.value)} />
      </div>
      {inputError ? <div className="error-text" role="alert">{inputError}</div> : null}
      {failures.length > 0 ? (
        <div className="error-text" role="alert" data-testid="decide-errors">
          {failures.length === 1 ? failedText(failures[0]!) : `${failures.length} decisions were not applied: ${failures.slice(0, 3).map(failedText).join('; ')}${failures.length > 3 ? '; …' : ''}`}
          <button type="button" className="small" onClick={() => setFailures([])}>OK</button>
        </div>
      ) : null}
      <div className="grid-head" role="row">
        {header('arrival', 'Request', 'c-id')}
        {header('caller', 'Caller', 'c-caller')}
        {header('age', 'Age', 'c-age')}
        {header('attempts', 'Attempts', 'c-num')}
        {header('data', 'Data', 'c-num')}
        {header('state', 'State', 'c-state')}
      </div>
      <div
        ref={parentRef}
        className="grid-body"
        role="grid"
        aria-label="Pending requests"
        aria-multiselectable="true"
        aria-rowcount={rows.length}
        aria-activedescendant={cursor !== null && cursorIndex >= 0 ? `req-${cursor.replace(':', '-')}` : undefined}
        tabIndex={0}
        onKeyDown={onKeyDown}
      >
        {rows.length === 0 ? (
          <p className="empty">{pending.size === 0 ? 'No requests waiting. Requests a script asks about, or defers, show up here.' : 'No request matches the filter.'}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const r = rows[v.index]!;
              const key = order[v.index]!;
              const sending = deciding[key];
              const isHead = headKeys.has(key);
              return (
                <div
                  key={key}
                  id={`req-${r.listener}-${r.id}`}
                  role="row"
                  aria-rowindex={v.index + 1}
                  aria-selected={selected.has(key)}
                  data-testid="pending-row"
                  data-key={key}
                  className={`grid-row${selected.has(key) ? ' selected' : ''}${cursor === key ? ' cursor' : ''}${isHead ? ' head-of-line' : ''}`}
                  style={{ height: ROW_HEIGHT, transform: `translateY(${v.start}px)` }}
                  onClick={(e) => onRowClick(e, key)}
                >
                  <div role="gridcell" className="cell c-id">
                    #{r.id}{listenerIds.length > 1 ? <span className="muted"> · L{r.listener}</span> : null}
                    {isHead ? <span className="badge head" title="Head of the queue: later callers wait behind it">HEAD</span> : null}
                  </div>
                  <div role="gridcell" className="cell c-caller">{endpoint(r.caller)}</div>
                  <div role="gridcell" className="cell c-age">{duration(now - r.firstOfferT)}</div>
                  <div role="gridcell" className="cell c-num">{r.attempts}</div>
                  <div role="gridcell" className="cell c-num">{byteCount(r.dataBytes)}</div>
                  <div role="gridcell" className={`cell c-state st-${r.state}`}>{sending ? `sending ${sending}…` : STATE_LABEL[r.state]}</div>
                </div>
              );
            })}
          </div>
        )}
      </div>
      <div className="hint">Keys: ↑/↓ move, Shift extends, A accept, R reject, D defer, Ctrl+A select all. Click with Shift or Ctrl to select several.</div>
    </section>
  );
}
