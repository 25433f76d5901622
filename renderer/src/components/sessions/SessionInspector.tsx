// A recorded request, read-only: the live inspector's tables over the request as the session has
// it (`session.requests`), as of the timeline position: the offers made by then, and its final
// state only once it was reached; what came later is counted, not shown.
import { useEffect, useMemo, useState } from 'react';
import type { RequestDetail } from '../../../../electron/protocol/schema';
import { useWorkbench } from '../../context';
import { plainError } from '../../store/deps';
import { RequestDetailView } from '../Inspector';
import { hostTime } from '../../format';

/** The request as it stood at time t of the recording. */
export function requestAt(d: RequestDetail, t: number): { detail: RequestDetail; laterOffers: number; decidedLater: boolean; notYet: boolean } {
  const offers = d.offers.filter((o) => o.t <= t);
  const final = d.final && d.final.t <= t ? d.final : null;
  const last = offers.at(-1);
  const state: RequestDetail['state'] = final ? 'final'
    : last?.verdict === 'defer' ? (last.ask ? 'awaiting-person' : 'deferred') : 'deciding';
  return {
    detail: { ...d, offers, final, state },
    laterOffers: d.offers.length - offers.length,
    decidedLater: d.final !== null && final === null,
    notYet: t < d.firstOfferT,
  };
}

export function SessionInspector() {
  const ref = useWorkbench((s) => s.sessionInspected);
  const session = useWorkbench((s) => s.session?.session ?? null);
  const load = useWorkbench((s) => s.loadSessionRequest);
  const t = useWorkbench((s) => s.sessionT);
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

  const d = ref && detail && detail.listener === ref.listener && detail.id === ref.id ? detail : null;
  const at = useMemo(() => (d ? requestAt(d, t) : null), [d, t]);

  if (!ref) {
    return (
      <section className="panel inspector" aria-label="Recorded request">
        <p className="empty">Select a pending request, a decision or a changed verdict to see what the condition function saw.</p>
      </section>
    );
  }

  return (
    <section className="panel inspector" aria-label="Recorded request" data-testid="session-inspector">
      <div className="panel-head">
        <h2>Request #{ref.id} <span className="muted">listener #{ref.listener}, recorded</span></h2>
        {at ? (
          <span className={`badge ${at.detail.final ? `v-${at.detail.final.verdict}-bg` : ''}`}>
            {at.notYet ? 'not yet arrived' : at.detail.final ? at.detail.final.verdict : d!.final ? `${at.detail.state} here` : 'unfinished'}
          </span>
        ) : null}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {!d && !error ? <p className="muted">Loading…</p> : null}
      {at && (at.laterOffers > 0 || at.decidedLater || at.notYet) ? (
        <p className="muted small" data-testid="session-inspector-later">
          As at {hostTime(t)}:{at.notYet ? ` it arrives at ${hostTime(d!.firstOfferT)};` : ''}
          {at.laterOffers > 0 ? ` ${at.laterOffers.toLocaleString('en')} later offer${at.laterOffers === 1 ? '' : 's'} not shown;` : ''}
          {at.decidedLater ? ` decided later (${d!.final!.verdict} at ${hostTime(d!.final!.t)}).` : ''}
        </p>
      ) : null}
      {at ? <RequestDetailView detail={at.detail} /> : null}
    </section>
  );
}
