// A recorded request, read-only: the live inspector's tables over the request as the session has
// it (`session.requests`), its whole recorded history whatever the timeline position.
import { useEffect, useState } from 'react';
import type { RequestDetail } from '../../../../electron/protocol/schema';
import { useWorkbench } from '../../context';
import { plainError } from '../../store/deps';
import { RequestDetailView } from '../Inspector';

export function SessionInspector() {
  const ref = useWorkbench((s) => s.sessionInspected);
  const session = useWorkbench((s) => s.session?.session ?? null);
  const load = useWorkbench((s) => s.loadSessionRequest);
  const [detail, setDetail] = useState<RequestDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setDetail(null);
    setError(null);
    if (!ref) return;
    let live = true;
    load(ref)
      .then((d) => {
        if (!live) return;
        if (d) setDetail(d);
        else setError(`The session has no request #${ref.id} of listener #${ref.listener}.`);
      })
      .catch((e: unknown) => { if (live) setError(`Could not load request #${ref.id}: ${plainError(e)}`); });
    return () => { live = false; };
  }, [ref, session, load]);

  if (!ref) {
    return (
      <section className="panel inspector" aria-label="Recorded request">
        <p className="empty">Select a pending request, a decision or a changed verdict to see what the condition function saw.</p>
      </section>
    );
  }
  const d = detail && detail.listener === ref.listener && detail.id === ref.id ? detail : null;
  return (
    <section className="panel inspector" aria-label="Recorded request" data-testid="session-inspector">
      <div className="panel-head">
        <h2>Request #{ref.id} <span className="muted">listener #{ref.listener}, recorded</span></h2>
        {d ? <span className={`badge ${d.final ? `v-${d.final.verdict}-bg` : ''}`}>{d.final ? d.final.verdict : 'unfinished'}</span> : null}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {!d && !error ? <p className="muted">Loading…</p> : null}
      {d ? <RequestDetailView detail={d} /> : null}
    </section>
  );
}
