// The listeners as pickers need them (id, state, where), without their tallies: a listener's
// counts change with every event batch, and a view that selected `listeners` itself would render
// again each time. The selector returns a string, so zustand compares it by value.
import { useMemo } from 'react';
import type { ListenerState } from '../../../electron/protocol/schema';
import { useWorkbench } from '../context';

export type ListenerChoice = Pick<ListenerState, 'id' | 'state' | 'bound'> & { options: Pick<ListenerState['options'], 'address' | 'port'> };

export function useListenerChoices(): Record<number, ListenerChoice> {
  const key = useWorkbench((s) => JSON.stringify(Object.values(s.listeners).map((l): ListenerChoice => ({
    id: l.id, state: l.state, bound: l.bound, options: { address: l.options.address, port: l.options.port },
  }))));
  return useMemo(() => Object.fromEntries((JSON.parse(key) as ListenerChoice[]).map((l) => [l.id, l])), [key]);
}
