// The virtualised lists (pending queue, decisions log, a session's pending requests, the what-if's
// changed verdicts): fixed-height rows in a scrolling element, only those in view in the DOM.
import { useCallback, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';

/**
 * The ref for the scrolling element and the virtualiser over `rows`. `keyOf` must be a stable
 * function (module level): the key function handed to the virtualiser then stays the same until
 * the rows change — a new one makes it measure every row again, which with 10,000 rows on every
 * scroll frame is most of the frame.
 */
export function useVirtualRows<T>(rows: readonly T[], keyOf: (row: T) => string, rowHeight: number, overscan = 10) {
  const parentRef = useRef<HTMLDivElement>(null);
  const getItemKey = useCallback((i: number) => keyOf(rows[i]!), [rows, keyOf]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parentRef.current,
    estimateSize: () => rowHeight,
    overscan,
    getItemKey,
  });
  return { parentRef, virtualizer };
}
