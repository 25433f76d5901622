// The timeline scrubber of an open session: a range over 0..duration, a time field, steps, and
// play / pause at 1× or 10×. Its position drives every panel of the Sessions view (they all read
// the state at `sessionT`).
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useWorkbench } from '../../context';
import { hostTime } from '../../format';

const STEPS: Array<[string, number, string]> = [
  ['−1 s', -1000, 'Back one second'],
  ['−100 ms', -100, 'Back 100 ms'],
  ['+100 ms', 100, 'Forward 100 ms'],
  ['+1 s', 1000, 'Forward one second'],
];
/** How often playing moves the position (the host answers stateAt in well under this). */
const TICK_MS = 100;

export function Timeline() {
  const session = useWorkbench((s) => s.session);
  const t = useWorkbench((s) => s.sessionT);
  const state = useWorkbench((s) => s.sessionState);
  const error = useWorkbench((s) => s.sessionStateError);
  const seek = useWorkbench((s) => s.seekSession);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(1);
  const [typed, setTyped] = useState<string | null>(null);
  const duration = session?.durationMs ?? 0;
  // Latest position for the play loop, without restarting it on every tick.
  const tRef = useRef(t);
  tRef.current = t;

  useEffect(() => {
    if (!playing) return;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      // Wall-clock based: a slow tick still plays at the chosen speed.
      const next = tRef.current + (now - last) * speed;
      last = now;
      if (next >= duration) {
        seek(duration);
        setPlaying(false);
      } else seek(next);
    }, TICK_MS);
    return () => clearInterval(timer);
  }, [playing, speed, duration, seek]);

  // Another session: stop playing it.
  useEffect(() => setPlaying(false), [session?.session]);

  if (!session) return null;

  const togglePlay = (): void => {
    if (!playing && t >= duration) seek(0); // from the start again
    setPlaying((p) => !p);
  };
  const goTo = (e: FormEvent): void => {
    e.preventDefault();
    if (typed === null) return;
    const v = Number(typed);
    if (typed.trim() !== '' && Number.isFinite(v)) seek(v);
    setTyped(null);
  };
  const behind = state !== null && state.t !== t;
  const scripts = state?.scripts ?? [];

  return (
    <section className="panel timeline" aria-label="Timeline">
      <div className="timeline-row">
        <button type="button" className="play" onClick={togglePlay} aria-pressed={playing} title={playing ? 'Pause' : 'Play the session'}>
          {playing ? 'Pause' : '▶ Play'}
        </button>
        <select aria-label="Playback speed" value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
          <option value={1}>1×</option>
          <option value={10}>10×</option>
        </select>
        <input
          type="range" className="scrubber" aria-label="Timeline position"
          min={0} max={Math.max(1, Math.ceil(duration))} step={1} value={Math.round(t)}
          aria-valuetext={`${hostTime(t)} of ${hostTime(duration)}`}
          onChange={(e) => { setPlaying(false); seek(Number(e.target.value)); }}
        />
        <span className="mono timeline-clock" data-testid="timeline-time">{hostTime(t)} / {hostTime(duration)}</span>
      </div>
      <div className="timeline-row">
        <button type="button" className="small" onClick={() => seek(0)} title="Start of the session">Start</button>
        {STEPS.map(([label, delta, title]) => (
          <button key={label} type="button" className="small" title={title} onClick={() => { setPlaying(false); seek(t + delta); }}>{label}</button>
        ))}
        <button type="button" className="small" onClick={() => { setPlaying(false); seek(duration); }} title="End of the session">End</button>
        <form className="goto" onSubmit={goTo}>
          <label>
            at <input
              aria-label="Time in the session (ms)" className="goto-ms" inputMode="decimal"
              value={typed ?? String(Math.floor(t))} onChange={(e) => setTyped(e.target.value)} onBlur={goTo}
            /> ms
          </label>
        </form>
        {scripts.length > 0 ? (
          <span className="muted small" data-testid="timeline-scripts">
            scripts: {scripts.map((s) => `listener #${s.listener} v${s.version}`).join(', ')}
          </span>
        ) : null}
        {behind ? <span className="muted small">loading…</span> : null}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
    </section>
  );
}
