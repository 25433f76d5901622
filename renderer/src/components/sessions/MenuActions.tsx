// The Sessions view's hooks into the rest of the app: the view is shown when something asks for it
// (the store's sessionsViewWanted), and the desktop app's File menu items that concern sessions —
// Open session (dialog or recent list), Save recording as…, Export CSV… — are carried out. Menu
// actions come from the main process over IPC: checked here before anything is done with them.
import { useEffect, useRef } from 'react';
import { z } from 'zod';
import { useWorkbench } from '../../context';
import { useCsvExport } from './useCsvExport';

const MenuActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('new-listener') }),
  z.object({ action: z.literal('open-session'), path: z.string().min(1).max(4096) }),
  z.object({ action: z.literal('record-to'), path: z.string().min(1).max(4096) }),
  z.object({ action: z.literal('export-csv') }),
  z.object({ action: z.literal('platform-notes') }),
]);
type MenuAction = z.infer<typeof MenuActionSchema>;

// The preload offers no way to unsubscribe: one registration per bridge, handing each action to
// whichever App is mounted now.
let current: ((a: MenuAction) => void) | null = null;
const registered = new WeakSet<object>();

/**
 * For App: shows the Sessions view (`show`) when asked, and handles the File menu's items; New
 * listener is handed to the store (`showNewListenerForm`), which the live view follows.
 */
export function useSessionsView(show: () => void): void {
  const wanted = useWorkbench((s) => s.sessionsViewWanted);
  const open = useWorkbench((s) => s.openSession);
  const startRecording = useWorkbench((s) => s.startRecording);
  const showSessions = useWorkbench((s) => s.showSessionsView);
  const newListener = useWorkbench((s) => s.showNewListenerForm);
  const platformNotes = useWorkbench((s) => s.showPlatformNotes);
  const { run: exportCsv } = useCsvExport();
  const showRef = useRef(show);
  showRef.current = show;

  useEffect(() => {
    if (wanted > 0) showRef.current();
  }, [wanted]);

  const latest = useRef<(a: MenuAction) => void>(() => undefined);
  latest.current = (a) => {
    switch (a.action) {
      case 'open-session':
        showSessions();
        void open(a.path);
        break;
      case 'record-to':
        void startRecording(a.path, true); // chosen in the save dialog, which asked about an existing file
        break;
      case 'export-csv':
        showSessions();
        void exportCsv();
        break;
      case 'new-listener':
        newListener();
        break;
      case 'platform-notes':
        platformNotes();
        break;
    }
  };

  useEffect(() => {
    const handler = (a: MenuAction): void => latest.current(a);
    current = handler;
    const bridge = window.workbench;
    if (bridge?.onMenu && !registered.has(bridge)) {
      registered.add(bridge);
      bridge.onMenu((raw) => {
        const parsed = MenuActionSchema.safeParse(raw);
        if (parsed.success) current?.(parsed.data);
      });
    }
    return () => { if (current === handler) current = null; };
  }, []);
}
