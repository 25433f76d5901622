// Accept latency of recent final decisions. Points come from the latency feed, outside React
// state: the chart copies them into a ref as they arrive and redraws at most once a second.
import { useEffect, useRef, useState } from 'react';
import { CartesianGrid, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from 'recharts';
import { useWorkbench, useWorkbenchContext } from '../context';
import type { LatencyPoint } from '../store';
import { micros } from '../format';

const MAX_DRAWN = 600;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function LatencyChart({ width }: { width?: number }) {
  const { latency } = useWorkbenchContext();
  const listener = useWorkbench((s) => s.activeListener);
  const points = useRef<LatencyPoint[]>([]);
  const dirty = useRef(true);
  const [drawn, setDrawn] = useState<{ data: Array<{ x: number; y: number }>; p50: number; p99: number; n: number }>({ data: [], p50: 0, p99: 0, n: 0 });

  useEffect(() => {
    dirty.current = true;
    const off = latency.subscribe(() => { dirty.current = true; });
    const draw = (): void => {
      if (!dirty.current) return;
      dirty.current = false;
      points.current = latency.snapshot(listener ?? undefined);
      const all = points.current;
      const step = Math.max(1, Math.ceil(all.length / MAX_DRAWN));
      const data: Array<{ x: number; y: number }> = [];
      for (let i = Math.max(0, all.length - step * MAX_DRAWN); i < all.length; i += step) data.push({ x: all[i]!.t / 1000, y: all[i]!.latencyUs / 1000 });
      const sorted = all.map((p) => p.latencyUs).sort((a, b) => a - b);
      setDrawn({ data, p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: all.length });
    };
    draw();
    const timer = setInterval(draw, 1000);
    return () => { off(); clearInterval(timer); };
  }, [latency, listener]);

  const chart = (
    <ScatterChart margin={{ top: 4, right: 8, bottom: 0, left: -12 }} width={width} height={width ? 150 : undefined}>
      <CartesianGrid strokeDasharray="3 3" className="chart-grid" />
      <XAxis type="number" dataKey="x" name="host time" unit=" s" domain={['auto', 'auto']} tick={{ fontSize: 10 }} />
      <YAxis type="number" dataKey="y" name="latency" unit=" ms" tick={{ fontSize: 10 }} />
      <Tooltip cursor={false} formatter={(v: unknown) => (typeof v === 'number' ? v.toFixed(3) : String(v))} />
      <Scatter data={drawn.data} isAnimationActive={false} className="latency-dots" fill="currentColor" />
    </ScatterChart>
  );
  return (
    <section className="panel latency" aria-label="Accept latency">
      <div className="panel-head">
        <h2>Accept latency <span className="muted">{listener !== null ? `listener #${listener}` : 'all listeners'}</span></h2>
      </div>
      <div className="muted small" data-testid="latency-summary">
        {drawn.n === 0 ? 'No final decisions yet.' : `${drawn.n} decisions: p50 ${micros(drawn.p50)}, p99 ${micros(drawn.p99)}`}
      </div>
      <div className="chart">
        {width ? chart : <ResponsiveContainer width="100%" height={150}>{chart}</ResponsiveContainer>}
      </div>
    </section>
  );
}
