// Final verdicts so far at the timeline position: the counts, and the most recent decisions (the
// host sends the last 200), newest first. A click shows the request in the inspector.
import { useWorkbench } from '../../context';
import { endpoint, hostTime, micros } from '../../format';

const VERDICTS = [
  ['accept', 'accepted'], ['reject', 'rejected'], ['expire', 'expired'], ['withdraw', 'withdrawn'], ['error', 'errors'],
] as const;

export function SessionDecisions() {
  const state = useWorkbench((s) => s.sessionState);
  const total = useWorkbench((s) => s.session?.requests ?? 0);
  const inspected = useWorkbench((s) => s.sessionInspected);
  const inspect = useWorkbench((s) => s.inspectSessionRequest);
  const recent = state ? [...state.recent].reverse() : [];
  const decided = state ? VERDICTS.reduce((n, [v]) => n + state.counts[v], 0) : 0;

  return (
    <section className="panel decisions session-decisions" aria-label="Decisions so far">
      <div className="panel-head">
        <h2>Decided so far <span className="muted">{decided} of {total} requests</span></h2>
      </div>
      <div className="listener-facts counts session-counts" data-testid="session-counts">
        {VERDICTS.map(([v, label]) => (
          <span key={v} className={`v-${v}`} data-verdict={v}>{state ? state.counts[v] : '–'} {label}</span>
        ))}
      </div>
      <div className="recent-list">
        {recent.length === 0 ? <p className="empty">{state ? 'No request was final yet at this point.' : 'Loading…'}</p> : (
          <table className="offers recent" aria-label="Recent decisions at this point">
            <thead><tr><th>Time</th><th>Request</th><th>Caller</th><th>Verdict</th><th>By</th><th>Latency</th></tr></thead>
            <tbody>
              {recent.map((d) => {
                const current = inspected?.listener === d.listener && inspected.id === d.id;
                return (
                  <tr
                    key={`${d.listener}:${d.id}`} data-testid="session-decision-row" className={current ? 'current' : undefined}
                    onClick={() => inspect({ listener: d.listener, id: d.id, hintT: Math.max(0, d.t - d.latencyUs / 1000) })}
                  >
                    <td className="mono">{hostTime(d.t)}</td>
                    <td>#{d.id} <span className="muted">L{d.listener}</span></td>
                    <td>{endpoint(d.caller)}</td>
                    <td className={`v-${d.verdict}`}>{d.verdict}</td>
                    <td>{d.by}</td>
                    <td className="mono">{micros(d.latencyUs)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
