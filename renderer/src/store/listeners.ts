// Listeners slice: listener states from host.info and events, and the actions on them. Each action
// puts the host's answer into the state at once (the matching event follows and agrees).
import type { ListenerState } from '../../../electron/protocol/schema';
import type { ListenersSlice } from './types';
import type { Slice } from './deps';

export const createListenersSlice: Slice<ListenersSlice> = ({ client }) => (set, get) => {
  const put = (l: ListenerState): ListenerState => {
    set({ listeners: { ...get().listeners, [l.id]: l } });
    return l;
  };
  return {
    listeners: {},
    hostErrors: [],
    scriptLogs: [],
    newListenerWanted: 0,
    showNewListenerForm: () => set({ newListenerWanted: get().newListenerWanted + 1 }),
    createListener: async (options, script) => {
      const l = put(await client.call('listener.create', { options, ...(script ? { script } : {}) }));
      if (get().activeListener === null) set({ activeListener: l.id });
      return l;
    },
    updateListener: async (id, options) => put(await client.call('listener.update', { listener: id, options })),
    startListener: async (id) => put(await client.call('listener.start', { listener: id })),
    stopListener: async (id) => put(await client.call('listener.stop', { listener: id })),
    removeListener: async (id) => {
      await client.call('listener.remove', { listener: id });
      const listeners = { ...get().listeners };
      delete listeners[id];
      const active = get().activeListener;
      set({ listeners, activeListener: active === id ? (Object.values(listeners)[0]?.id ?? null) : active });
    },
    applyScript: async (id, source, filename) => {
      const result = await client.call('script.apply', { listener: id, source, ...(filename ? { filename } : {}) });
      const cur = get().listeners[id];
      if (result.ok && result.script && cur) put({ ...cur, script: result.script });
      return result;
    },
  };
};
