// Selection slice: the rows selected in the pending queue, the keyboard cursor, the request the
// inspector shows and the listener the script panel works on.
import { parseKey, type RequestKey, type SelectionSlice } from './types';
import type { Slice } from './deps';

export const createSelectionSlice: Slice<SelectionSlice> = () => (set, get) => ({
  selected: new Set(),
  cursor: null,
  anchor: null,
  inspected: null,
  activeListener: null,

  selectRow: (key, mode, order) => {
    const s = get();
    let selected: Set<RequestKey>;
    let anchor = s.anchor;
    if (mode === 'toggle') {
      selected = new Set(s.selected);
      if (selected.has(key)) selected.delete(key);
      else selected.add(key);
      anchor = key;
    } else if (mode === 'range' && anchor !== null && order.includes(anchor)) {
      const a = order.indexOf(anchor);
      const b = order.indexOf(key);
      selected = new Set(order.slice(Math.min(a, b), Math.max(a, b) + 1));
    } else {
      selected = new Set([key]);
      anchor = key;
    }
    set({ selected, anchor, cursor: key, inspected: parseKey(key) });
  },

  moveCursor: (delta, extend, order) => {
    if (order.length === 0) return;
    const s = get();
    const at = s.cursor === null ? -1 : order.indexOf(s.cursor);
    const next = at === -1 ? (delta > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + delta));
    const key = order[next]!;
    if (extend) get().selectRow(key, 'range', order);
    else get().selectRow(key, 'only', order);
  },

  setCursor: (key) => {
    if (key === null) set({ cursor: null });
    else set({ cursor: key, anchor: key, selected: new Set([key]), inspected: parseKey(key) });
  },

  selectAll: (order) => set({ selected: new Set(order) }),
  inspect: (ref) => set({ inspected: ref }),
  setActiveListener: (id) => set({ activeListener: id }),
});
