// The status bar's record toggle: start a recording (the desktop app asks where with its save
// dialog; a browser gets a path field, relative paths landing in the host's working directory),
// its live state while it runs, and stop. The host sends `recording` events only when the state
// changes, so the event count is asked for once a second while a recording runs.
import { useEffect, useState, type FormEvent } from 'react';
import { useWorkbench } from '../../context';

/** session-2025-03-04-101500.jsonl: sorts by time, no characters any file system refuses. */
export function defaultRecordingPath(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `session-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.jsonl`;
}

export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || path;
}

export function RecordControl() {
  const recording = useWorkbench((s) => s.recording);
  const last = useWorkbench((s) => s.lastRecording);
  const busy = useWorkbench((s) => s.recordingBusy);
  const error = useWorkbench((s) => s.recordingError);
  const connected = useWorkbench((s) => s.connection === 'connected');
  const start = useWorkbench((s) => s.startRecording);
  const stop = useWorkbench((s) => s.stopRecording);
  const refresh = useWorkbench((s) => s.refreshRecording);
  const openSession = useWorkbench((s) => s.openSession);
  const showSessions = useWorkbench((s) => s.showSessionsView);
  const [asking, setAsking] = useState(false);
  const [path, setPath] = useState('');
  const running = recording !== null;

  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void refresh(), 1000);
    return () => clearInterval(timer);
  }, [running, refresh]);

  const begin = async (): Promise<void> => {
    const choose = window.workbench?.chooseRecording;
    if (choose) {
      const chosen = await choose().catch(() => null);
      if (chosen) await start(chosen, true); // the save dialog has asked about an existing file
      return;
    }
    setPath(defaultRecordingPath());
    setAsking(true);
  };

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (path.trim() === '') return;
    if (await start(path.trim())) setAsking(false);
  };

  let body;
  if (recording) {
    body = (
      <>
        <span className="rec-dot" aria-hidden="true" /> Recording to <span className="mono" title={recording.path}>{baseName(recording.path)}</span>
        <span className="muted"> · <span data-testid="recording-events">{recording.events.toLocaleString('en')}</span> events written</span>
        {recording.error ? <span className="error-text"> · write error: {recording.error}</span> : null}
        <button type="button" className="small" disabled={busy} onClick={() => void stop()}>Stop recording</button>
      </>
    );
  } else if (asking) {
    body = (
      <form className="rec-form" onSubmit={(e) => void submit(e)} aria-label="Start recording">
        <input
          aria-label="Recording file" className="rec-path" value={path} onChange={(e) => setPath(e.target.value)}
          title="A path on the host's machine; a relative one is in the host's working directory"
        />
        <button type="submit" className="small" disabled={busy || !connected || path.trim() === ''}>Start recording</button>
        <button type="button" className="small" onClick={() => setAsking(false)}>Cancel</button>
      </form>
    );
  } else {
    body = (
      <>
        <button type="button" className="small rec-button" disabled={busy || !connected} onClick={() => void begin()} title="Record every listener's events to a session file">
          <span className="rec-dot idle" aria-hidden="true" /> Record…
        </button>
        {last ? (
          <span className="muted">
            {' '}last: <span title={last.path}>{baseName(last.path)}</span> ({last.events.toLocaleString('en')} events)
            <button type="button" className="small" onClick={() => { showSessions(); void openSession(last.path); }}>Open in Sessions</button>
          </span>
        ) : null}
      </>
    );
  }
  return (
    <span className={`status-item recording-control${recording ? ' on' : ''}`} data-testid="recording" role="group" aria-label="Recording">
      {body}
      {error ? <span className="error-text" role="alert"> {error}</span> : null}
    </span>
  );
}
