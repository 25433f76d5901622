// One simulation run: live progress while it runs (done/total and the outcome counts so far), a
// Cancel button, and once done the outcome table from the simulator's report.
import { useWorkbench } from '../context';
import { byteCount, duration, endpoint } from '../format';
import { CLIENT_OUTCOMES, type ClientOutcome, type SimulationRun } from '../store/jobs';

/** What each outcome means from the client's side (docs/simulate.md). */
export const OUTCOME_MEANING: Record<ClientOutcome, string> = {
  served: 'bytes came back from the server',
  refused: 'connection refused: nothing listening, or a SYN rejected under SO_CONDITIONAL_ACCEPT',
  reset: 'reset by the listener: rejected, expired or failed, or closed with data unread',
  eof: 'the server closed without sending anything',
  timeout: 'nothing decisive before the timeout: no connect, or no answer',
  aborted: 'the client reset its own connection (aborts)',
  open: 'still connected and silent when the hold ended',
  error: 'another socket error (by code below)',
};

function reasonText(reason: string): string {
  switch (reason) {
    case 'done': return 'every connection ran';
    case 'duration': return 'stopped after its duration';
    case 'cancelled': return 'cancelled';
    case 'host closed': return 'the host shut down';
    default: return reason;
  }
}

const ms = (v: number | null): string => (v === null ? '–' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : String(Math.round(v)));

function targetText(run: SimulationRun): string {
  const t = run.params?.target ?? run.report?.target;
  return t ? endpoint({ address: t.host, port: t.port }) : 'a target set by another client';
}

export function SimulatorRun({ run }: { run: SimulationRun }) {
  const cancel = useWorkbench((s) => s.cancelSimulation);
  const dismiss = useWorkbench((s) => s.dismissSimulation);
  const live = run.state === 'running' || run.state === 'starting';
  const total = run.total ?? run.params?.count ?? null;
  const share = total ? Math.min(1, run.done / total) : 0;
  const r = run.report;

  return (
    <section className="panel sim-run" aria-label="Simulation run" data-testid="sim-run" data-state={run.state}>
      <div className="panel-head">
        <h2>
          {run.job !== null ? `Simulation job ${run.job}` : 'Simulation'} <span className="muted">→ {targetText(run)}</span>
        </h2>
        <span className={`badge sim-${run.state}`} data-testid="sim-state">
          {run.state === 'starting' ? 'starting…' : run.cancelling ? 'cancelling…' : run.state}
        </span>
      </div>

      {run.state === 'failed' ? (
        <div className="error-text" role="alert" data-testid="sim-error">
          {run.job === null ? 'The host did not start it: ' : 'The simulation failed: '}{run.error ?? 'no reason given'}
        </div>
      ) : null}
      {run.error && run.state !== 'failed' ? <div className="error-text" role="alert">{run.error}</div> : null}

      {run.state !== 'failed' || run.done > 0 ? (
        <>
          <div className="progress-line">
            <div
              className="progress" role="progressbar" aria-label="Connections done"
              aria-valuemin={0} aria-valuemax={total ?? undefined} aria-valuenow={run.done}
            >
              <div className="progress-fill" style={{ width: `${(share * 100).toFixed(1)}%` }} />
            </div>
            <span data-testid="sim-progress">
              {run.done.toLocaleString('en')} / {total === null ? '?' : total.toLocaleString('en')} done
            </span>
          </div>
          <div className="sim-counts" data-testid="sim-counts">
            {live ? (
              <>
                <span>started {(run.detail.started ?? 0).toLocaleString('en')}</span>
                <span>in flight {(run.detail.inFlight ?? 0).toLocaleString('en')}</span>
              </>
            ) : null}
            {CLIENT_OUTCOMES.filter((o) => (run.detail[o] ?? 0) > 0).map((o) => (
              <span key={o} className={`out-${o}`}>{o} {(run.detail[o] ?? 0).toLocaleString('en')}</span>
            ))}
          </div>
        </>
      ) : null}

      {live ? (
        <div className="form-actions">
          <button type="button" className="danger" disabled={run.job === null || run.cancelling} onClick={() => void cancel(run.key)}>
            {run.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
          {run.cancelError ? <span className="error-text" role="alert">{run.cancelError}</span> : null}
        </div>
      ) : null}

      {r ? (
        <div className="sim-report" data-testid="sim-report">
          <p className="small">
            {r.count.toLocaleString('en')} of {r.requested.toLocaleString('en')} connections had an outcome in {duration(r.elapsedMs)}
            {' '}({reasonText(r.reason)}){r.cancelled > 0 ? `; ${r.cancelled.toLocaleString('en')} were closed unfinished` : ''}.
            {' '}{r.connected.toLocaleString('en')} connected; {byteCount(r.bytesOut)} sent, {byteCount(r.bytesIn)} received.
          </p>
          <table className="table sim-outcomes" aria-label="Outcomes">
            <thead><tr><th>Outcome</th><th className="num">Clients</th><th className="num">Share</th><th>What the client saw</th></tr></thead>
            <tbody>
              {CLIENT_OUTCOMES.map((o) => (
                <tr key={o} className={r.outcomes[o] > 0 ? undefined : 'muted'} data-testid={`outcome-${o}`}>
                  <td className={`out-${o}`}>{o}</td>
                  <td className="num">{r.outcomes[o].toLocaleString('en')}</td>
                  <td className="num">{r.count > 0 ? `${((100 * r.outcomes[o]) / r.count).toFixed(1)}%` : '–'}</td>
                  <td className="small">{OUTCOME_MEANING[o]}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {Object.keys(r.errors).length > 0 ? (
            <p className="small error-text">Errors by code: {Object.entries(r.errors).map(([code, n]) => `${code} × ${n}`).join(', ')}</p>
          ) : null}
          <table className="table sim-latency" aria-label="Latency percentiles">
            <thead><tr><th>Latency (ms)</th><th className="num">p50</th><th className="num">p90</th><th className="num">p99</th><th className="num">max</th></tr></thead>
            <tbody>
              <tr>
                <td title="From the start of the connect to the completed handshake, over the clients that connected">connect</td>
                <td className="num">{ms(r.connectMs.p50)}</td><td className="num">{ms(r.connectMs.p90)}</td>
                <td className="num">{ms(r.connectMs.p99)}</td><td className="num">{ms(r.connectMs.max)}</td>
              </tr>
              <tr>
                <td title="From the start of the connect to the outcome, over every client with an outcome">outcome</td>
                <td className="num">{ms(r.outcomeMs.p50)}</td><td className="num">{ms(r.outcomeMs.p90)}</td>
                <td className="num">{ms(r.outcomeMs.p99)}</td><td className="num">{ms(r.outcomeMs.max)}</td>
              </tr>
            </tbody>
          </table>
        </div>
      ) : null}

      {!live ? (
        <div className="form-actions">
          <button type="button" onClick={() => dismiss(run.key)}>Dismiss</button>
        </div>
      ) : null}
    </section>
  );
}
