// Pending slice: requests offered and not yet final, and a person's decisions on them.
import { parseKey, type DecideFailure, type PendingSlice, type RequestKey, type Verdict } from './types';
import { plainError, type Slice } from './deps';

export const createPendingSlice: Slice<PendingSlice> = ({ client }) => (set, get) => ({
  pending: new Map(),
  deciding: {},
  decide: async (keys, verdict, extra = {}) => {
    const unique = [...new Set(keys)];
    if (unique.length === 0) return [];
    const mark = (add: boolean): void => {
      const deciding: Record<RequestKey, Verdict> = { ...get().deciding };
      for (const k of unique) {
        if (add) deciding[k] = verdict;
        else delete deciding[k];
      }
      set({ deciding });
    };
    mark(true);
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
      return results.filter((r) => !r.ok).map((r) => ({ key: `${r.listener}:${r.requestId}` as RequestKey, error: r.error ?? 'not applied' }));
    } catch (e) {
      return unique.map((key): DecideFailure => ({ key, error: plainError(e) }));
    } finally {
      mark(false);
    }
  },
});
