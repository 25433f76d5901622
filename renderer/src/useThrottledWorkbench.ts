// A store selection that changes at most every `ms`: the first change shows at once, later ones
// are gathered and the newest shows when the interval is over. For views of 10,000 rows, where
// every change costs a pass over all of them (filter, sort, the virtualiser's measurements) and
// events can change the rows 30 times a second; nobody reads a list that fast.
import { useCallback, useRef, useSyncExternalStore } from 'react';
import { useWorkbenchContext } from './context';
import type { WorkbenchState } from './store';

/** `selector` must be stable (defined outside the component). */
export function useThrottledWorkbench<T>(selector: (s: WorkbenchState) => T, ms: number): T {
  const { store } = useWorkbenchContext();
  const shown = useRef<{ value: T } | null>(null);
  if (shown.current === null) shown.current = { value: selector(store.getState()) };

  const subscribe = useCallback((notify: () => void) => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = -Infinity;
    const publish = (): void => {
      timer = null;
      last = performance.now();
      const value = selector(store.getState());
      if (Object.is(value, shown.current!.value)) return;
      shown.current = { value };
      notify();
    };
    const onChange = (): void => {
      if (timer !== null) return;
      const wait = last + ms - performance.now();
      if (wait <= 0) publish();
      else timer = setTimeout(publish, wait);
    };
    const off = store.subscribe(onChange);
    onChange(); // a change between the first render and this subscription
    return () => {
      off();
      if (timer !== null) clearTimeout(timer);
    };
  }, [store, selector, ms]);

  return useSyncExternalStore(subscribe, () => shown.current!.value);
}
