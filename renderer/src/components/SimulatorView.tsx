// The Simulator view: the form on the left; the run it started (or one picked from the list of
// earlier runs) on the right, live while it runs.
import { useState } from 'react';
import { useWorkbench } from '../context';
import { endpoint } from '../format';
import type { SimulationParams, SimulationRun } from '../store/jobs';
import { SimulatorForm } from './SimulatorForm';
import { SimulatorRun } from './SimulatorRun';

function summary(run: SimulationRun): string {
  const t = run.params?.target ?? run.report?.target;
  const where = t ? endpoint({ address: t.host, port: t.port }) : '?';
  const n = run.report ? run.report.count : run.done;
  return `${where}: ${n.toLocaleString('en')}${run.total !== null ? ` / ${run.total.toLocaleString('en')}` : ''}, ${run.state}`;
}

export function SimulatorView() {
  const runs = useWorkbench((s) => s.simulations);
  const start = useWorkbench((s) => s.startSimulation);
  const [shownKey, setShownKey] = useState<number | null>(null);
  const [mine, setMine] = useState<number | null>(null);

  const shown = runs.find((r) => r.key === shownKey) ?? runs.at(-1) ?? null;
  const own = runs.find((r) => r.key === mine) ?? null;
  const busy = own !== null && (own.state === 'starting' || own.state === 'running');
  // A start the host refused is told under the Start button; a run that failed later, in the run.
  const startError = own && own.state === 'failed' && own.job === null ? own.error : null;

  const onStart = (params: SimulationParams): void => {
    const key = start(params);
    setMine(key);
    setShownKey(key);
  };

  return (
    <div className="sim-view" data-testid="simulator-view">
      <SimulatorForm busy={busy} startError={startError} onStart={onStart} />
      <div className="sim-side">
        {shown ? <SimulatorRun run={shown} /> : <p className="empty panel">No simulation yet. Fill in the form and press Start.</p>}
        {runs.length > 1 ? (
          <section className="panel sim-history" aria-label="Earlier runs">
            <h2>Runs</h2>
            <ul>
              {[...runs].reverse().map((r) => (
                <li key={r.key}>
                  <button type="button" className="link" aria-current={r.key === shown?.key ? 'true' : undefined} onClick={() => setShownKey(r.key)}>
                    {r.job !== null ? `job ${r.job}` : 'not started'}
                  </button>{' '}
                  <span className="muted small">{summary(r)}</span>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
      </div>
    </div>
  );
}
