// A request's detail keeps its first and latest offers: a request deferred for long (re-offered
// every 5 ms by default) must not grow without bound in the host or in an opened session.
import { describe, expect, it } from 'vitest';
import { OFFERS_KEPT_FIRST, OFFERS_KEPT_LAST, addOffer, finishRequest, newRequestDetail } from '../../electron/host/request-detail';
import { RequestDetailSchema } from '../../electron/protocol/schema';

const endpoint = { family: 'ipv4' as const, address: '127.0.0.1', port: 40000, raw: 'AgCcQH8AAAEAAAAAAAAAAA==' };
const offer = (attempt: number, verdict: 'defer' | 'accept' = 'defer') => ({
  id: 7, attempt, caller: endpoint, callee: endpoint, callerData: attempt > 1 ? 'aGk=' : '', callerDataSource: attempt > 1 ? 'peek' as const : 'none' as const,
  sqos: null, verdict, by: 'script' as const, conditionUs: 12, scriptVersion: 1,
});

describe('request detail', () => {
  it('keeps every offer of a short-lived request, and the latest caller data', () => {
    const r = newRequestDetail(1, offer(1), 100);
    addOffer(r, offer(1), 100);
    addOffer(r, offer(2), 105);
    expect(r.state).toBe('deferred');
    addOffer(r, offer(3, 'accept'), 110);
    finishRequest(r, { verdict: 'accept', by: 'script', result: 'OK', latencyUs: 10_000 }, 111);
    expect(r.offers.map((o) => o.attempt)).toEqual([1, 2, 3]);
    expect(r.offersOmitted).toBeUndefined();
    expect(r).toMatchObject({ callerData: 'aGk=', callerDataSource: 'peek', state: 'final', firstOfferT: 100, final: { verdict: 'accept', t: 111 } });
    expect(RequestDetailSchema.safeParse(r).success).toBe(true);
  });

  it('of a request offered 20,000 times keeps the first ones and at least the latest 500, and counts the rest', () => {
    const r = newRequestDetail(1, offer(1), 0);
    for (let a = 1; a <= 20_000; a++) {
      addOffer(r, offer(a), a * 5);
      // Never more than the first ones and twice the latest ones.
      expect(r.offers.length).toBeLessThanOrEqual(OFFERS_KEPT_FIRST + 2 * OFFERS_KEPT_LAST);
    }
    const kept = r.offers.length - OFFERS_KEPT_FIRST;
    expect(kept).toBeGreaterThanOrEqual(OFFERS_KEPT_LAST);
    expect(r.offersOmitted).toBe(20_000 - OFFERS_KEPT_FIRST - kept);
    const attempts = r.offers.map((o) => o.attempt);
    expect(attempts.slice(0, OFFERS_KEPT_FIRST)).toEqual(Array.from({ length: OFFERS_KEPT_FIRST }, (_, i) => i + 1));
    expect(attempts.slice(OFFERS_KEPT_FIRST)).toEqual(Array.from({ length: kept }, (_, i) => 20_000 - kept + 1 + i));
    expect(RequestDetailSchema.safeParse(r).success).toBe(true);
  });
});
