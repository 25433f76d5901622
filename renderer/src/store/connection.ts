// Connection slice: the link to the host, full resyncs, and the listeners a dead host was running.
import { DECISIONS_KEPT, requestKey, type ConnectionSlice, type RequestKey } from './types';
import { plainError, type Slice } from './deps';
import type { PendingRequest } from '../../../electron/protocol/schema';

export const createConnectionSlice: Slice<ConnectionSlice> = ({ client }) => (set, get) => {
  let generation = 0;
  let inFlight: Promise<void> | null = null;
  let again = false;
  /** restoreLost: the listener made for a lost one whose start failed (a retry starts it). */
  const createdFor = new WeakMap<object, number>();

  const syncOnce = async (): Promise<void> => {
    const gen = ++generation;
    // Both asked at once: the host answers in order, so the list is no older than the info.
    const [info, list, recent] = await Promise.all([
      client.call('host.info', {}), client.call('request.list', {}), client.call('decisions.recent', {}),
    ]);
    if (gen !== generation) return;
    const listeners = Object.fromEntries(info.listeners.map((l) => [l.id, l]));
    const pending = new Map<RequestKey, PendingRequest>(list.map((r) => [requestKey(r.listener, r.id), r]));
    const s = get();
    const selected = new Set([...s.selected].filter((k) => pending.has(k)));
    // The host's recent decisions fill the log after a reload; ones already shown stay as they are.
    const known = new Set(s.decisions.map((d) => requestKey(d.listener, d.id)));
    const missing = recent.filter((d) => !known.has(requestKey(d.listener, d.id))).map(({ type: _type, ...d }) => d);
    const decisions = missing.length === 0 ? s.decisions : [...missing, ...s.decisions].sort((a, b) => a.t - b.t).slice(-DECISIONS_KEPT);
    set({
      decisions,
      listeners, pending, selected, syncT: info.t, syncError: null,
      hostClockOffset: info.t - performance.now(),
      activeListener: s.activeListener !== null && listeners[s.activeListener] ? s.activeListener : (info.listeners[0]?.id ?? null),
    });
  };

  return {
    connection: client.state,
    hello: client.hello,
    connectionReason: null,
    lost: null,
    restoringLost: false,
    lostErrors: [],
    syncError: null,
    protocolErrors: [],
    hostClockOffset: 0,
    syncT: 0,
    hostNow: () => performance.now() + get().hostClockOffset,

    resync: () => {
      // One resync at a time; asked again meanwhile, it runs once more afterwards.
      if (inFlight) {
        again = true;
        return inFlight;
      }
      const run = async (): Promise<void> => {
        try {
          do {
            again = false;
            try {
              await syncOnce();
            } catch (e) {
              // Asked again meanwhile, the newer request still gets its own try.
              set({ syncError: `Could not load the host's state: ${plainError(e)}` });
            }
          } while (again);
        } finally {
          inFlight = null;
        }
      };
      inFlight = run();
      return inFlight;
    },

    restoreLost: async () => {
      const lost = get().lost;
      if (!lost || get().restoringLost) return;
      set({ restoringLost: true, lostErrors: [] });
      const errors: string[] = [];
      const left: typeof lost.listeners = [];
      for (const l of lost.listeners) {
        const name = `${l.options.address}:${l.options.port}`;
        try {
          // Created on an earlier try but not started: start that one rather than make another.
          let id = createdFor.get(l);
          if (id === undefined || !get().listeners[id]) {
            id = (await get().createListener(l.options, l.script ?? undefined)).id;
            createdFor.set(l, id);
          }
          await get().startListener(id);
        } catch (e) {
          errors.push(`${name}: ${plainError(e)}`);
          left.push(l);
        }
      }
      // What was restored leaves the offer; a retry is for the rest only.
      set({ restoringLost: false, lostErrors: errors, lost: left.length === 0 ? null : { ...lost, listeners: left } });
    },

    dismissLost: () => set({ lost: null, lostErrors: [] }),

    platformNotesWanted: 0,
    showPlatformNotes: () => set({ platformNotesWanted: get().platformNotesWanted + 1 }),
  };
};
