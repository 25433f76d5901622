// A request as the inspector shows it (RequestDetail), built from its offer and decision events:
// by the host from a running listener, and by the timeline from a recorded session. A request
// deferred for long is offered again and again (every 5 ms by default): the first offers and the
// latest ones are kept, and how many in between were left out is counted.
import type { RequestDetail } from '../protocol/schema';
import type { DecisionEvent, OfferEvent } from './session/events';

/**
 * Offers kept per request: the first ones, and at least the latest OFFERS_KEPT_LAST. The latest
 * ones are trimmed back to that many once there are twice as many, so a request re-offered every
 * few ms costs one copy per OFFERS_KEPT_LAST offers, not one per offer.
 */
export const OFFERS_KEPT_FIRST = 10;
export const OFFERS_KEPT_LAST = 500;

type OfferFields = Omit<OfferEvent, 'type' | 't' | 'listener' | 'result' | 'gqos'>;

/** The request's first offer: a new detail (the offer itself is added by addOffer). */
export function newRequestDetail(listener: number, e: OfferFields, t: number): RequestDetail {
  return {
    listener, id: e.id, caller: e.caller, callee: e.callee, callerData: e.callerData, callerDataSource: e.callerDataSource,
    sqos: e.sqos, gqos: null, firstOfferT: t, state: 'deciding', offers: [], final: null,
  };
}

/** One more offer of the request, at host time t. */
export function addOffer(r: RequestDetail, e: OfferFields, t: number): void {
  // Caller data can grow between offers (peeked again); the latest offer is what the script saw.
  r.callerData = e.callerData;
  r.callerDataSource = e.callerDataSource;
  r.sqos = e.sqos;
  if (r.offers.length >= OFFERS_KEPT_FIRST + 2 * OFFERS_KEPT_LAST) {
    r.offers.splice(OFFERS_KEPT_FIRST, OFFERS_KEPT_LAST);
    r.offersOmitted = (r.offersOmitted ?? 0) + OFFERS_KEPT_LAST;
  }
  r.offers.push({
    t, attempt: e.attempt, verdict: e.verdict, by: e.by, ask: e.ask ?? false, conditionUs: e.conditionUs, scriptVersion: e.scriptVersion,
    ...(e.calleeData !== undefined ? { calleeData: e.calleeData } : {}),
    ...(e.group !== undefined ? { group: e.group } : {}),
    ...(e.error ? { error: e.error } : {}),
  });
  r.state = e.verdict === 'defer' ? (e.ask ? 'awaiting-person' : 'deferred') : 'deciding';
}

/** Its final state, at host time t. */
export function finishRequest(r: RequestDetail, e: Pick<DecisionEvent, 'verdict' | 'by' | 'result' | 'latencyUs'>, t: number): void {
  r.state = 'final';
  r.final = { verdict: e.verdict, by: e.by, result: e.result, latencyUs: e.latencyUs, t };
}
