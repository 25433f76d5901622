// The five charts of one listener, drawn from already-binned data (series.ts): nothing here loops
// over raw points. Animation is off: the data moves on its own, and an animated redraw four times
// a second would never settle. With `width` the charts have a fixed size (tests, jsdom has no
// layout); without, they fill their card.
import { memo, type ReactElement, type ReactNode } from 'react';
import { Bar, BarChart, CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { micros } from '../../format';
import { VERDICT_COLUMNS } from '../../store/metrics';
import type { ListenerChartData } from './series';

export const CHART_HEIGHT = 190;

/** Host time in seconds as "m:ss" (or "h:mm:ss"): the x axis of every chart over time. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const usTick = (v: unknown): string => (typeof v === 'number' ? micros(v) : String(v));
const countTick = (v: unknown): string => (typeof v === 'number' ? (v >= 10_000 ? `${Math.round(v / 1000)}k` : String(Math.round(v * 100) / 100)) : String(v));
const tooltipTime = (label: unknown): string => (typeof label === 'number' ? `host time ${clock(label)}` : String(label));

function Card({ title, testId, summary, legend, width, bins, children }: {
  title: string; testId: string; summary?: ReactNode; legend?: Array<[string, string]>; width?: number;
  /** A chart over time: how many bins it draws, and their width (ms). */
  bins?: { count: number; ms: number };
  children: ReactElement;
}) {
  return (
    <figure
      className="chart-card" data-testid={testId} aria-label={title}
      data-bins={bins?.count} data-bin-ms={bins?.ms}
    >
      <figcaption>
        <strong>{title}</strong>
        {summary ? <span className="muted small"> {summary}</span> : null}
        {legend ? (
          <span className="chart-legend">
            {legend.map(([cls, text]) => <span key={cls} className={`swatch ${cls}`}>{text}</span>)}
          </span>
        ) : null}
      </figcaption>
      <div className="chart">
        {width ? children : <ResponsiveContainer width="100%" height={CHART_HEIGHT}>{children}</ResponsiveContainer>}
      </div>
    </figure>
  );
}

function timeAxis(d: ListenerChartData) {
  return (
    <XAxis
      type="number" dataKey="t" domain={[d.start / 1000, d.end / 1000]} allowDataOverflow ticks={d.ticks}
      tickFormatter={(v: number) => clock(v)} tick={{ fontSize: 10 }} minTickGap={16}
    />
  );
}

interface ChartProps { data: ListenerChartData; width?: number }

/** A chart redraws only when the parts of the data it draws are new objects (see shareUnchanged). */
function drawnFrom<P extends ChartProps>(render: (p: P) => ReactElement, parts: ReadonlyArray<keyof ListenerChartData>, timed = true) {
  return memo(render, (a, b) => a.width === b.width
    && (!timed || (a.data.start === b.data.start && a.data.end === b.data.end && a.data.ticks === b.data.ticks))
    && parts.every((k) => a.data[k] === b.data[k]));
}

/** Few bins with data, far apart: a line alone would not show them (a bin between gaps is a single point). */
const dotsFor = (points: ReadonlyArray<{ n: number }>): false | { r: number } => {
  let filled = 0;
  for (const p of points) if (p.n > 0) filled++;
  return filled > 0 && filled < 40 ? { r: 1.5 } : false;
};

const size = (width?: number) => (width ? { width, height: CHART_HEIGHT } : {});
const MARGIN = { top: 6, right: 10, bottom: 0, left: 0 };

/** p50 and p99 over time of a series of µs samples: accept latency and condition time. */
function PercentilesOverTime({ data, width, series, title, testId, summary }: ChartProps & {
  series: 'latency' | 'condition';
  title: string;
  testId: string;
  summary: (n: number, p50: string, p99: string) => string;
}) {
  const s = series === 'latency' ? data.latencySummary : data.conditionSummary;
  const points = data[series];
  const dot = dotsFor(points);
  return (
    <Card
      title={title} testId={testId} width={width} bins={{ count: points.length, ms: data.binMs }}
      summary={s.n === 0 ? summary(0, '', '') : summary(s.n, micros(s.p50!), micros(s.p99!))}
      legend={[['line-p50', 'p50'], ['line-p99', 'p99']]}
    >
      <LineChart data={points} margin={MARGIN} {...size(width)}>
        <CartesianGrid strokeDasharray="3 3" className="chart-grid" />
        {timeAxis(data)}
        <YAxis width={58} tickFormatter={usTick} tick={{ fontSize: 10 }} />
        <Tooltip labelFormatter={tooltipTime} formatter={(v: unknown) => usTick(v)} />
        <Line dataKey="p50" name="p50" className="line-p50" stroke="#2c63d6" dot={dot} isAnimationActive={false} connectNulls={false} />
        <Line dataKey="p99" name="p99" className="line-p99" stroke="#b42318" dot={dot} isAnimationActive={false} connectNulls={false} />
      </LineChart>
    </Card>
  );
}

export const LatencyOverTime = drawnFrom(function LatencyOverTime(props: ChartProps) {
  return (
    <PercentilesOverTime
      {...props} series="latency" title="Accept latency" testId="chart-latency"
      summary={(n, p50, p99) => (n === 0 ? 'no decisions in this window' : `${n.toLocaleString('en')} decisions, p50 ${p50}, p99 ${p99}`)}
    />
  );
}, ['latency', 'latencySummary']);

export const LatencyHistogram = drawnFrom(function LatencyHistogram({ data, width }: ChartProps) {
  return (
    <Card
      title="Latency histogram" testId="chart-histogram" width={width}
      summary={data.latencySummary.max === null ? undefined : `max ${micros(data.latencySummary.max)}; bins of a quarter decade`}
    >
      <BarChart data={data.histogram} margin={MARGIN} barCategoryGap={1} {...size(width)}>
        <CartesianGrid strokeDasharray="3 3" className="chart-grid" vertical={false} />
        <XAxis dataKey="label" tick={{ fontSize: 10 }} interval="preserveStartEnd" minTickGap={8} />
        <YAxis width={58} tickFormatter={countTick} tick={{ fontSize: 10 }} allowDecimals={false} />
        <Tooltip formatter={(v: unknown) => [String(v), 'decisions']} labelFormatter={(l: unknown) => `from ${String(l)}`} />
        <Bar dataKey="count" className="bar-histogram" fill="#2c63d6" isAnimationActive={false} />
      </BarChart>
    </Card>
  );
}, ['histogram', 'latencySummary'], false);

const VERDICT_FILL: Record<typeof VERDICT_COLUMNS[number], string> = {
  accept: '#1d7f3a', reject: '#b42318', expire: '#8250df', withdraw: '#6e7781', error: '#9a6700',
};

export const VerdictsOverTime = drawnFrom(function VerdictsOverTime({ data, width }: ChartProps) {
  const per = Math.max(1000, data.binMs);
  return (
    <Card
      title="Verdicts per second" testId="chart-verdicts" width={width}
      summary={per > 1000 ? `averaged over ${per / 1000} s` : undefined}
      legend={VERDICT_COLUMNS.map((v) => [`bar-${v}`, v])}
    >
      <BarChart data={data.verdicts} margin={MARGIN} barCategoryGap={0} {...size(width)}>
        <CartesianGrid strokeDasharray="3 3" className="chart-grid" vertical={false} />
        {timeAxis(data)}
        <YAxis width={58} tickFormatter={countTick} tick={{ fontSize: 10 }} />
        <Tooltip labelFormatter={tooltipTime} />
        {VERDICT_COLUMNS.map((v) => (
          <Bar key={v} dataKey={v} stackId="v" className={`bar-${v}`} fill={VERDICT_FILL[v]} isAnimationActive={false} />
        ))}
      </BarChart>
    </Card>
  );
}, ['verdicts', 'binMs']);

export const QueueDepthOverTime = drawnFrom(function QueueDepthOverTime({ data, width }: ChartProps) {
  const reported = data.queue.some((q) => q.kernel !== null);
  return (
    <Card
      title="Queue depth" testId="chart-queue" width={width}
      summary={reported ? 'largest of each bin' : 'largest of each bin; the OS does not report the kernel queue'}
      legend={[['line-kernel', 'kernel'], ['line-held', 'held'], ['line-deferred', 'deferred']]}
    >
      <LineChart data={data.queue} margin={MARGIN} {...size(width)}>
        <CartesianGrid strokeDasharray="3 3" className="chart-grid" />
        {timeAxis(data)}
        <YAxis width={58} tickFormatter={countTick} tick={{ fontSize: 10 }} allowDecimals={false} />
        <Tooltip labelFormatter={tooltipTime} />
        <Line type="stepAfter" dataKey="kernel" className="line-kernel" stroke="#5f6b7a" dot={false} isAnimationActive={false} />
        <Line type="stepAfter" dataKey="held" className="line-held" stroke="#2c63d6" dot={false} isAnimationActive={false} />
        <Line type="stepAfter" dataKey="deferred" className="line-deferred" stroke="#9a6700" dot={false} isAnimationActive={false} />
      </LineChart>
    </Card>
  );
}, ['queue']);

export const ConditionTimeOverTime = drawnFrom(function ConditionTimeOverTime(props: ChartProps) {
  return (
    <PercentilesOverTime
      {...props} series="condition" title="Condition time" testId="chart-condition"
      summary={(n, p50, p99) => (n === 0 ? 'no script decisions in this window' : `${n.toLocaleString('en')} script calls, p50 ${p50}, p99 ${p99}`)}
    />
  );
}, ['condition', 'conditionSummary']);

/** All five, for one listener. Memoised: it draws again only when its data was recomputed. */
export const ListenerCharts = memo(function ListenerCharts({ data, title, width }: ChartProps & { title: string }) {
  return (
    <section className="panel chart-group" aria-label={title} data-testid={`charts-${data.listener}`}>
      <div className="panel-head">
        <h2>{title}</h2>
        <span className="muted small" data-testid="latency-points">
          {data.latencyKept.toLocaleString('en')} latency points kept
        </span>
      </div>
      <div className="charts-grid">
        <LatencyOverTime data={data} width={width} />
        <LatencyHistogram data={data} width={width} />
        <VerdictsOverTime data={data} width={width} />
        <QueueDepthOverTime data={data} width={width} />
        <ConditionTimeOverTime data={data} width={width} />
      </div>
    </section>
  );
});
