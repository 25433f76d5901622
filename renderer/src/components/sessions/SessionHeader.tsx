// Opening a session file — the desktop app's dialog and recent list, or a path typed in a browser
// (a path on the host's machine) — and the open session's summary: listeners, requests, verdict
// counts, duration, warnings such as a cut-short last line; with the CSV export of its requests.
import { useEffect, useState, type FormEvent } from 'react';
import { useWorkbench } from '../../context';
import { byteCount, duration } from '../../format';
import { baseName } from './RecordControl';
import { useCsvExport } from './useCsvExport';

export function OpenSessionBar() {
  const session = useWorkbench((s) => s.session);
  const opening = useWorkbench((s) => s.sessionOpening);
  const progress = useWorkbench((s) => s.sessionOpenProgress);
  const cancelOpen = useWorkbench((s) => s.cancelOpenSession);
  const error = useWorkbench((s) => s.sessionError);
  const recent = useWorkbench((s) => s.recentSessions);
  const last = useWorkbench((s) => s.lastRecording);
  const connected = useWorkbench((s) => s.connection === 'connected');
  const open = useWorkbench((s) => s.openSession);
  const close = useWorkbench((s) => s.closeSession);
  const [path, setPath] = useState<string | null>(null);
  const [desktopRecent, setDesktopRecent] = useState<string[]>([]);
  const choose = window.workbench?.chooseSession;

  useEffect(() => {
    const list = window.workbench?.recentSessions;
    if (!list) return;
    let live = true;
    list().then((r) => { if (live) setDesktopRecent(r); }).catch(() => undefined);
    return () => { live = false; };
  }, [session?.session]);

  // The field offers the recording that just ended until something is typed.
  const shown = path ?? last?.path ?? '';
  const recents = [...new Set([...desktopRecent, ...recent])].filter((p) => p !== session?.path);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    void open(shown);
  };

  return (
    <section className="panel session-open" aria-label="Open a session">
      <form className="toolbar" onSubmit={submit} aria-label="Open a session file">
        <input
          aria-label="Session file" className="session-path" placeholder="session-….jsonl (a path on the host's machine)"
          value={shown} onChange={(e) => setPath(e.target.value)}
        />
        <button type="submit" className="primary" disabled={opening || !connected || shown.trim() === ''}>{opening ? 'Opening…' : 'Open'}</button>
        {choose ? (
          <button type="button" disabled={opening || !connected} onClick={() => void choose().then((p) => { if (p) void open(p); })}>Choose file…</button>
        ) : null}
        {recents.length > 0 ? (
          <select aria-label="Recent sessions" value="" onChange={(e) => { if (e.target.value) void open(e.target.value); }} disabled={opening || !connected}>
            <option value="">Recent…</option>
            {recents.map((p) => <option key={p} value={p} title={p}>{baseName(p)}</option>)}
          </select>
        ) : null}
        {session ? <button type="button" onClick={() => void close()}>Close session</button> : null}
      </form>
      {opening && progress ? (
        <div className="whatif-progress" data-testid="session-open-progress">
          <progress max={progress.total ?? undefined} value={progress.done} aria-label="Reading the session file" />
          <span className="muted small">
            {byteCount(progress.done)}{progress.total !== null ? ` of ${byteCount(progress.total)}` : ''} read, {progress.requests.toLocaleString('en')} requests
          </span>
          <button type="button" onClick={() => void cancelOpen()}>Cancel</button>
        </div>
      ) : null}
      {error ? <div className="error-text" role="alert" data-testid="session-error">{error}</div> : null}
    </section>
  );
}

export function SessionSummary() {
  const session = useWorkbench((s) => s.session);
  const { run, status } = useCsvExport();
  if (!session) return null;
  const v = session.verdicts;
  return (
    <section className="panel session-summary" aria-label="Session summary" data-testid="session-summary">
      <div className="panel-head">
        <h2 title={session.path}>{baseName(session.path)} <span className="muted">{session.backend === 'winsock' ? 'Winsock' : 'POSIX emulation'}, started {session.startTime}</span></h2>
        <span className="toolbar">
          <button type="button" onClick={() => void run()} disabled={status?.state === 'running'} title="One row per recorded request">Export CSV…</button>
        </span>
      </div>
      <div className="listener-facts summary-facts">
        <span data-testid="session-duration">{duration(session.durationMs)}</span>
        <span><strong>{session.requests.toLocaleString('en')}</strong> requests</span>
        <span>{session.offers.toLocaleString('en')} offers</span>
        <span className="v-accept">{v.accept} accepted</span>
        <span className="v-reject">{v.reject} rejected</span>
        <span className="v-expire">{v.expire} expired</span>
        <span className="v-withdraw">{v.withdraw} withdrawn</span>
        <span className="v-error">{v.error} errors</span>
        {session.complete ? null : <span className="v-defer" title="No end record: the recording did not close">not closed</span>}
      </div>
      <div className="listener-facts">
        {session.listeners.map((l) => (
          <span key={l.id}>listener #{l.id} {l.address.includes(':') ? `[${l.address}]` : l.address}:{l.port} ({l.discipline}, handler {l.handler})</span>
        ))}
        {session.listeners.length === 0 ? <span>no listener was running</span> : null}
      </div>
      {session.warnings.length > 0 ? (
        <ul className="warnings" data-testid="session-warnings">
          {session.warnings.map((w) => <li key={w}>{w}</li>)}
        </ul>
      ) : null}
      {status ? (
        <div className={status.state === 'failed' ? 'error-text' : 'muted small'} role="status" data-testid="csv-status">
          {status.state === 'running' ? `Exporting ${status.done.toLocaleString('en')} of ${(status.total ?? 0).toLocaleString('en')} requests…` : null}
          {status.state === 'done' ? `Exported ${status.done.toLocaleString('en')} requests to ${status.message}.` : null}
          {status.state === 'cancelled' ? 'Export cancelled.' : null}
          {status.state === 'failed' ? status.message : null}
        </div>
      ) : null}
    </section>
  );
}
