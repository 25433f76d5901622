// Decisions slice: the log of final decisions (bounded; events.ts appends to it).
import type { DecisionsSlice } from './types';
import type { Slice } from './deps';

export const createDecisionsSlice: Slice<DecisionsSlice> = () => () => ({
  decisions: [],
  decisionsTrimmed: 0,
});
