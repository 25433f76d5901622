// The Charts view: accept latency, its histogram, verdicts, queue depths and condition time for the
// selected listener (or each running one), over a chosen time window. The data arrives with every
// event batch into the metrics feed, outside React state; this view reads it at most four times a
// second, and only when it changed (or once a second, for the window to slide). Paused, the view
// holds still while the feed keeps collecting.
import { startTransition, useEffect, useRef, useState } from 'react';
import { useWorkbench } from '../../context';
import { micros, endpoint } from '../../format';
import { useListenerChoices } from '../useListenerChoices';
import { TimeRing, type ListenerSeries, type MetricsFeed } from '../../store/metrics';
import { ListenerCharts } from './MetricCharts';
import { WINDOWS, computeChartData, newBinners, shareUnchanged, type ListenerBinners, type ListenerChartData, type WindowId } from './series';

/** At most this often, ms: four redraws a second. */
export const REDRAW_MS = 250;
/** A quiet feed still redraws this often, so a time window keeps sliding. */
const SLIDE_MS = 1000;
/**
 * Redraws may take at most this share of the time: when drawing the charts takes longer (many
 * listeners, a slow machine), they are drawn less often rather than the page stuttering.
 */
const REDRAW_SHARE = 0.25;

function emptySeries(): ListenerSeries {
  return {
    latency: new TimeRing(1, 1, 1), condition: new TimeRing(1, 1, 1), queue: new TimeRing(1, 3, 1), verdicts: new TimeRing(1, 5, 1),
    seededUntil: { latency: -1, condition: -1, queue: -1 },
  };
}

/**
 * The chart data of `ids`, recomputed on a timer (≤ 4/s) from the feed. Frozen (paused, or the
 * view hidden), it keeps returning the last frame.
 */
export function useChartFrames(feed: MetricsFeed, ids: readonly number[], windowMs: number | null, frozen: boolean, hostNow: () => number): ListenerChartData[] {
  const [frames, setFrames] = useState<ListenerChartData[]>([]);
  const binners = useRef(new Map<number, ListenerBinners>());
  const last = useRef(new Map<number, ListenerChartData>());
  /** How long the last redraw kept the page busy, ms (measured after its commit). */
  const cost = useRef({ startedAt: 0, ms: 0 });
  const idsKey = ids.join(',');

  useEffect(() => {
    if (frozen) return undefined;
    const list = idsKey === '' ? [] : idsKey.split(',').map(Number);
    let dirty = true;
    let drawnAt = -Infinity;
    const off = feed.subscribe(() => { dirty = true; });
    const draw = (): void => {
      const now = performance.now();
      if (!dirty && now - drawnAt < SLIDE_MS) return;
      if (now - drawnAt < Math.max(REDRAW_MS, cost.current.ms / REDRAW_SHARE)) return;
      dirty = false;
      drawnAt = now;
      const end = hostNow();
      for (const id of [...binners.current.keys()]) if (!list.includes(id)) binners.current.delete(id);
      const next = list.map((id) => {
        let b = binners.current.get(id);
        if (!b) binners.current.set(id, (b = newBinners()));
        return shareUnchanged(last.current.get(id), computeChartData(id, feed.of(id) ?? emptySeries(), windowMs, end, b, micros));
      });
      last.current = new Map(next.map((d) => [d.listener, d]));
      cost.current.startedAt = performance.now();
      // A transition: React may render in slices between frames instead of one long task.
      startTransition(() => setFrames((prev) => (prev.length === next.length && prev.every((p, i) => p === next[i]) ? prev : next)));
    };
    draw();
    const timer = setInterval(draw, REDRAW_MS / 2);
    return () => { off(); clearInterval(timer); };
  }, [feed, idsKey, windowMs, frozen, hostNow]);

  // Once committed, the next task runs after recharts' own follow-up renders: the redraw's cost.
  useEffect(() => {
    const c = cost.current;
    if (c.startedAt === 0) return undefined;
    const timer = setTimeout(() => { c.ms = performance.now() - c.startedAt; c.startedAt = 0; }, 0);
    return () => clearTimeout(timer);
  }, [frames]);

  return frames;
}

/**
 * While paused: how many decisions arrived since, counted once a second (not per event). Mounted
 * afresh (a new baseline) whenever the listeners charted change.
 */
function PausedNote({ feed, idsKey }: { feed: MetricsFeed; idsKey: string }) {
  const total = (): number => (idsKey === '' ? [] : idsKey.split(',')).reduce((n, id) => n + (feed.of(Number(id))?.latency.pushed ?? 0), 0);
  const [at] = useState(total);
  const [now, setNow] = useState(at);
  useEffect(() => {
    const timer = setInterval(() => setNow(total()), 1000);
    return () => clearInterval(timer);
  }, [feed, idsKey]);
  const more = Math.max(0, now - at);
  return (
    <span className="badge paused" role="status" data-testid="charts-paused">
      Paused: the charts hold still; data keeps being collected{more > 0 ? ` (${more.toLocaleString('en')} more decision${more === 1 ? '' : 's'} so far)` : ''}
    </span>
  );
}

/** "#2", "#2 and #3", "#2, #3 and #4". */
function listenerList(ids: readonly number[]): string {
  const names = ids.map((id) => `#${id}`);
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

export function ChartsView({ active = true, width }: { active?: boolean; width?: number }) {
  const feed = useWorkbench((s) => s.metrics);
  const listeners = useListenerChoices();
  const activeListener = useWorkbench((s) => s.activeListener);
  const setActiveListener = useWorkbench((s) => s.setActiveListener);
  const hostNow = useWorkbench((s) => s.hostNow);
  const [scope, setScope] = useState<'selected' | 'running'>('selected');
  const [windowId, setWindowId] = useState<WindowId>('1m');
  const [paused, setPaused] = useState(false);

  const list = Object.values(listeners).sort((a, b) => a.id - b.id);
  const ids = scope === 'running'
    ? list.filter((l) => l.state === 'running').map((l) => l.id)
    : activeListener !== null && listeners[activeListener] ? [activeListener] : [];
  const windowMs = WINDOWS.find((w) => w.id === windowId)!.ms;
  const frames = useChartFrames(feed, ids, windowMs, paused || !active, hostNow);
  const idsKey = ids.join(',');
  // Chosen while paused: not drawn yet (the view holds still), which is said rather than left blank.
  const notDrawn = paused ? ids.filter((id) => !frames.some((f) => f.listener === id)) : [];

  const name = (id: number): string => {
    const l = listeners[id];
    if (!l) return `Listener #${id}`;
    return `Listener #${id} ${l.bound ? endpoint(l.bound) : endpoint({ address: l.options.address, port: l.options.port })}${l.state === 'running' ? '' : ` (${l.state})`}`;
  };

  return (
    <div className="charts-view" data-testid="charts-view">
      <div className="panel charts-toolbar">
        <div className="toolbar">
          <label className="inline-field">
            Listener{' '}
            <select
              aria-label="Listener to chart"
              value={scope === 'running' ? 'running' : String(activeListener ?? '')}
              onChange={(e) => {
                if (e.target.value === 'running') setScope('running');
                else {
                  setScope('selected');
                  setActiveListener(Number(e.target.value));
                }
              }}
            >
              {activeListener === null || !listeners[activeListener] ? <option value="">none selected</option> : null}
              {list.map((l) => <option key={l.id} value={l.id}>{name(l.id)}</option>)}
              <option value="running">each running listener</option>
            </select>
          </label>
          <span role="radiogroup" aria-label="Time window" className="segmented">
            {WINDOWS.map((w) => (
              <button
                key={w.id} type="button" role="radio" aria-checked={windowId === w.id}
                className={windowId === w.id ? 'seg active' : 'seg'} onClick={() => setWindowId(w.id)}
              >
                {w.label}
              </button>
            ))}
          </span>
          <button type="button" aria-pressed={paused} onClick={() => setPaused((p) => !p)} className={paused ? 'primary' : ''}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          {paused ? <PausedNote key={idsKey} feed={feed} idsKey={idsKey} /> : null}
        </div>
      </div>
      {ids.length === 0 ? (
        <p className="empty panel">
          {list.length === 0 ? 'No listeners yet: create one on the Live view, and its charts show here.'
            : scope === 'running' ? 'No listener is running.' : 'Pick a listener to chart.'}
        </p>
      ) : null}
      {notDrawn.length > 0 ? (
        <p className="empty panel" data-testid="charts-not-drawn">
          Paused: resume to see listener{notDrawn.length === 1 ? '' : 's'} {listenerList(notDrawn)}.
        </p>
      ) : null}
      {frames.filter((f) => ids.includes(f.listener)).map((f) => (
        <ListenerCharts key={f.listener} data={f} title={name(f.listener)} width={width} />
      ))}
    </div>
  );
}
