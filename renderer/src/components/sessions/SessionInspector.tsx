// A recorded request, read-only: the live inspector's tables over the request as the session has
// it (`session.requests`), as of the timeline position: the offers made by then, and its final
// state only once it was reached; what came later is counted, not shown.
import { useEffect, useMemo, useState } from 'react';
import type { RequestDetail } from '../../../../electron/protocol/schema';
import { useWorkbench } from '../../context';
import { plainError } from '../../store/deps';
import { RequestDetailView } from '../Inspector';
import { hostTime } from '../../format';
import { OFFERS_KEPT_FIRST } from '../../../../electron/host/request-detail';

const STATE_WORDS: Record<RequestDetail['state'], string> = {
  'awaiting-person': 'awaiting a person',
  deferred: 'deferred',
  deciding: 'deciding',
  final: 'final',
};

export interface RequestAt {
  /** The request with only what had happened by then: its offers, and its final state once reached. */
  detail: RequestDetail;
  /** Offers after the position that the detail has (not counting `unplaced`). */
  laterOffers: number;
  /**
   * Offers the recording did not keep (a long-deferred request keeps its first and latest ones)
   * that fall between the kept ones around the position: whether before or after it is not known.
   */
  unplaced: number;
  decidedLater: boolean;
  notYet: boolean;
}

/** The request as it stood at time t of the recording. */
export function requestAt(d: RequestDetail, t: number): RequestAt {
  const offers = d.offers.filter((o) => o.t <= t);
  const final = d.final && d.final.t <= t ? d.final : null;
  const last = offers.at(-1);
  const state: RequestDetail['state'] = final ? 'final'
    : last?.verdict === 'defer' ? (last.ask ? 'awaiting-person' : 'deferred') : 'deciding';
  // Offers not kept lie between the first OFFERS_KEPT_FIRST and the latest ones: all before the
  // position once one of the latest is, none before it while the first ones are not all made.
  const omitted = d.offersOmitted ?? 0;
  const allOmittedBefore = omitted > 0 && offers.length > OFFERS_KEPT_FIRST;
  const noneOmittedBefore = omitted > 0 && offers.length < OFFERS_KEPT_FIRST;
  const detail: RequestDetail = { ...d, offers, final, state };
  if (!allOmittedBefore) delete detail.offersOmitted;
  return {
    detail,
    laterOffers: d.offers.length - offers.length + (noneOmittedBefore ? omitted : 0),
    unplaced: omitted > 0 && !allOmittedBefore && !noneOmittedBefore ? omitted : 0,
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
  // What the detail below leaves out at this position, in words.
  const notes: string[] = [];
  if (d && at) {
    if (at.notYet) notes.push(`it arrives at ${hostTime(d.firstOfferT)}`);
    if (at.laterOffers > 0) notes.push(`${at.laterOffers.toLocaleString('en')} later offer${at.laterOffers === 1 ? '' : 's'} not shown`);
    if (at.unplaced > 0) notes.push(`${at.unplaced.toLocaleString('en')} offers the recording does not keep came around this point, before or after it`);
    if (at.decidedLater) notes.push(`decided later (${d.final!.verdict} at ${hostTime(d.final!.t)})`);
    else if (!d.final && !at.notYet) notes.push('not decided by the end of the recording');
    if (at.laterOffers > 0 || at.unplaced > 0) notes.push('the caller data is as at its latest offer');
  }

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
          <span className={`badge ${at.detail.final ? `v-${at.detail.final.verdict}-bg` : ''}`} data-testid="session-inspector-state">
            {at.notYet ? 'not yet arrived' : at.detail.final ? at.detail.final.verdict : `${STATE_WORDS[at.detail.state]} at this point`}
          </span>
        ) : null}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {!d && !error ? <p className="muted">Loading…</p> : null}
      {notes.length > 0 ? (
        <p className="muted small" data-testid="session-inspector-later">As at {hostTime(t)}: {notes.join('; ')}.</p>
      ) : null}
      {at ? <RequestDetailView detail={at.detail} /> : null}
    </section>
  );
}
