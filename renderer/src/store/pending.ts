// Pending slice: requests offered and not yet final, and a person's decisions on them.
import { parseKey, requestKey, type DecideFailure, type PendingSlice, type RequestKey, type Verdict } from './types';
import { plainError, type Slice } from './deps';

export const createPendingSlice: Slice<PendingSlice> = ({ client }) => (set, get) => ({
  pending: new Map(),
  deciding: {},
  decide: async (keys, verdict, extra = {}) => {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return [];
    const deciding: Record<RequestKey, Verdict> = { ...get().deciding };
    for (const k of unique) deciding[k] = verdict;
    set({ deciding });
    const unmark = (keys: RequestKey[]): void => {
      const now = get().deciding;
      if (!keys.some((k) => k in now)) return;
      const next: Record<RequestKey, Verdict> = { ...now };
      for (const k of keys) delete next[k];
      set({ deciding: next });
    };
    try {
      // One call for all of them: the host applies them together, and a bulk decision of
      // thousands costs one round trip.
      const { results } = await client.call('decide', {
        decisions: unique.map((k) => {
          const { listener, id } = parseKey(k);
          return {
            listener, requestId: id, verdict,
            ...(extra.calleeData ? { calleeData: extra.calleeData } : {}),
            ...(extra.group !== undefined ? { group: extra.group } : {}),
          };
        }),
      });
      const failed = results.filter((r) => !r.ok).map((r) => ({ key: requestKey(r.listener, r.requestId), error: r.error ?? 'not applied' }));
      // An accepted or rejected request stays marked until its decision event removes it (it
      // comes in a later batch): meanwhile it is still listed, and must not be decided again. A
      // deferred one stays pending, so it is free again at once.
      unmark(verdict === 'defer' ? unique : failed.map((f) => f.key));
      return failed;
    } catch (e) {
      unmark(unique);
      return unique.map((key): DecideFailure => ({ key, error: plainError(e) }));
    }
  },
});
