// The top bar: which acceptor backend the host runs, the state of the connection to the host, and
// problems with the connection itself (invalid messages, a failed resync).
import { useCallback, useEffect, useRef, useState } from 'react';
import { useWorkbench } from '../context';
import { PlatformNotes } from './PlatformNotes';
import { RecordControl } from './sessions/RecordControl';

const BACKEND_LABEL = { winsock: 'Winsock', posix: 'POSIX emulation' } as const;

export function StatusBar() {
  const connection = useWorkbench((s) => s.connection);
  const hello = useWorkbench((s) => s.hello);
  const reason = useWorkbench((s) => s.connectionReason);
  const syncError = useWorkbench((s) => s.syncError);
  const protocolErrors = useWorkbench((s) => s.protocolErrors);
  const [notesOpen, setNotesOpen] = useState(false);
  // Stable: the dialog moves the focus when its onClose changes.
  const closeNotes = useCallback(() => setNotesOpen(false), []);
  // The desktop app's Help > Platform notes.
  const notesWanted = useWorkbench((s) => s.platformNotesWanted);
  const seenNotesWanted = useRef(notesWanted);
  useEffect(() => {
    if (notesWanted === seenNotesWanted.current) return;
    seenNotesWanted.current = notesWanted;
    setNotesOpen(true);
  }, [notesWanted]);

  const connText = connection === 'connected'
    ? 'Connected to the host'
    : connection === 'connecting'
      ? (reason ? `Reconnecting to the host (${reason})…` : 'Connecting to the host…')
      : `Disconnected from the host${reason ? `: ${reason}` : ''}`;

  return (
    <header className="status-bar" role="banner">
      <span className="app-name">Accept Workbench{hello ? <span className="muted"> {hello.appVersion}</span> : null}</span>
      <span className="status-item" data-testid="backend">
        Backend: <strong>{hello ? BACKEND_LABEL[hello.backend] : '—'}</strong>
        {hello ? <span className="muted"> on {hello.platform}</span> : null}
        {' '}
        <a
          href="#platform-notes"
          onClick={(e) => {
            e.preventDefault();
            setNotesOpen(true);
          }}
          title="What WSAAccept does on each platform, and how the emulation differs"
        >
          platform notes
        </a>
      </span>
      <span className={`status-item conn conn-${connection}`} data-testid="connection" role="status">
        <span className="dot" aria-hidden="true" /> {connText}
        {connection === 'disconnected' ? (
          <button type="button" className="small" onClick={() => location.reload()}>Reconnect</button>
        ) : null}
      </span>
      <RecordControl />
      {syncError ? <span className="status-item error-text" role="alert">{syncError}</span> : null}
      {protocolErrors.length > 0 ? (
        <span className="status-item error-text" role="alert" title={protocolErrors.join('\n')}>
          {protocolErrors.length} message{protocolErrors.length === 1 ? '' : 's'} from the host ignored as invalid (last: {protocolErrors.at(-1)})
        </span>
      ) : null}
      {notesOpen ? <PlatformNotes onClose={closeNotes} /> : null}
    </header>
  );
}

/** After a host restart: what the dead host was running, and the offer to start it again. */
export function LostBanner() {
  const lost = useWorkbench((s) => s.lost);
  const restoring = useWorkbench((s) => s.restoringLost);
  const errors = useWorkbench((s) => s.lostErrors);
  const connection = useWorkbench((s) => s.connection);
  const restoreLost = useWorkbench((s) => s.restoreLost);
  const dismissLost = useWorkbench((s) => s.dismissLost);
  if (!lost) return null;
  return (
    <div className="banner warn" role="alert" data-testid="lost-banner">
      <div>
        <strong>The host restarted.</strong>{' '}
        {lost.listeners.length > 0 ? (
          <>
            {lost.listeners.length === 1 ? 'This listener was' : 'These listeners were'} running and {lost.listeners.length === 1 ? 'is' : 'are'} stopped now:{' '}
            {lost.listeners.map((l) => `${l.options.address}:${l.options.port} (${l.options.discipline}${l.script ? `, ${l.script.filename}` : ''})`).join(', ')}.
          </>
        ) : null}
        {lost.recording ? <> The recording {lost.recording} ended early; it is readable up to its last event.</> : null}
      </div>
      {errors.length > 0 ? <ul className="error-text">{errors.map((e) => <li key={e}>Could not start {e}</li>)}</ul> : null}
      <div className="banner-actions">
        {lost.listeners.length > 0 ? (
          <button type="button" disabled={restoring || connection !== 'connected'} onClick={() => void restoreLost()}>
            {restoring ? 'Starting…' : `Start ${lost.listeners.length === 1 ? 'it' : 'them'} again`}
          </button>
        ) : null}
        <button type="button" onClick={dismissLost}>Dismiss</button>
      </div>
    </div>
  );
}
