// The listeners: live state, bound port, queue depths and verdict counts of each; start, stop,
// edit and remove; and the form for a new one. Clicking a listener makes it the one the script
// panel works on.
import { useEffect, useRef, useState } from 'react';
import type { ListenerState } from '../../../electron/protocol/schema';
import { useWorkbench } from '../context';
import { plainError } from '../store/deps';
import { endpoint } from '../format';
import { ListenerForm } from './ListenerForm';

function ListenerRow({ l, active }: { l: ListenerState; active: boolean }) {
  const startListener = useWorkbench((s) => s.startListener);
  const stopListener = useWorkbench((s) => s.stopListener);
  const removeListener = useWorkbench((s) => s.removeListener);
  const setActive = useWorkbench((s) => s.setActiveListener);
  const backend = useWorkbench((s) => s.hello?.backend ?? 'posix');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);

  const run = async (what: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(plainError(e));
    } finally {
      setBusy(false);
    }
  };

  const where = l.bound ? endpoint(l.bound) : `${endpoint({ address: l.options.address, port: l.options.port })}${l.options.port === 0 ? ' (any port)' : ''}`;
  const q = l.queue;
  return (
    <li className={`listener ${active ? 'active' : ''}`} data-testid={`listener-${l.id}`}>
      <div className="listener-head" onClick={() => setActive(l.id)}>
        <button type="button" className="link" aria-pressed={active} title="Work on this listener in the script panel" onClick={() => setActive(l.id)}>
          #{l.id} {where}
        </button>
        <span className={`badge state-${l.state}`}>{l.state}</span>
      </div>
      <div className="listener-facts">
        <span>{l.options.discipline}</span>
        <span>handler {l.options.handler}</span>
        <span>{l.script ? `script v${l.script.version} (${l.script.filename})` : 'no script'}</span>
      </div>
      {l.state === 'running' ? (
        <div className="listener-facts" data-testid={`listener-${l.id}-queue`}>
          <span title="Connections completed by the kernel and not yet taken">
            kernel queue {q.kernel === null ? 'not reported' : q.kernel}
          </span>
          <span>held {q.held}</span>
          <span>deferred {q.deferred}</span>
        </div>
      ) : null}
      <div className="listener-facts counts">
        <span className="v-accept">{l.counts.accept} accepted</span>
        <span className="v-reject">{l.counts.reject} rejected</span>
        {l.counts.expire ? <span className="v-expire">{l.counts.expire} expired</span> : null}
        {l.counts.withdraw ? <span className="v-withdraw">{l.counts.withdraw} withdrawn</span> : null}
        {l.counts.error ? <span className="v-error">{l.counts.error} errors</span> : null}
        <span>{l.pending} pending</span>
      </div>
      {l.state === 'failed' && l.error ? <div className="error-text" role="alert">Did not start: {l.error}</div> : null}
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      <div className="row-actions">
        {l.state === 'running'
          ? <button type="button" disabled={busy} onClick={() => void run(() => stopListener(l.id))}>Stop</button>
          : <button type="button" disabled={busy} className="primary" onClick={() => void run(() => startListener(l.id))}>Start</button>}
        <button type="button" disabled={busy} onClick={() => setEditing((v) => !v)}>{editing ? 'Close' : 'Edit'}</button>
        {confirmRemove ? (
          <>
            <button type="button" className="danger" disabled={busy} onClick={() => void run(() => removeListener(l.id))}>Remove #{l.id}</button>
            <button type="button" onClick={() => setConfirmRemove(false)}>Keep</button>
          </>
        ) : <button type="button" disabled={busy} onClick={() => setConfirmRemove(true)}>Remove…</button>}
      </div>
      {editing ? <ListenerForm listener={l} backend={backend} onDone={() => setEditing(false)} /> : null}
    </li>
  );
}

export function ListenersPanel() {
  const listeners = useWorkbench((s) => s.listeners);
  const active = useWorkbench((s) => s.activeListener);
  const backend = useWorkbench((s) => s.hello?.backend ?? 'posix');
  const connected = useWorkbench((s) => s.connection === 'connected');
  const [creating, setCreating] = useState(false);
  const newListenerWanted = useWorkbench((s) => s.newListenerWanted);
  const seenWanted = useRef(newListenerWanted);
  useEffect(() => {
    if (newListenerWanted === seenWanted.current) return;
    seenWanted.current = newListenerWanted;
    setCreating(true);
  }, [newListenerWanted]);
  const list = Object.values(listeners).sort((a, b) => a.id - b.id);
  return (
    <section className="panel listeners" aria-label="Listeners">
      <div className="panel-head">
        <h2>Listeners</h2>
        <button type="button" className="primary" disabled={!connected} onClick={() => setCreating((v) => !v)}>
          {creating ? 'Close form' : 'New listener'}
        </button>
      </div>
      {creating ? <ListenerForm backend={backend} onDone={() => setCreating(false)} /> : null}
      {list.length === 0 && !creating ? <p className="empty">No listeners yet. Create one to start accepting connections.</p> : null}
      <ul className="listener-list">
        {list.map((l) => <ListenerRow key={l.id} l={l} active={l.id === active} />)}
      </ul>
    </section>
  );
}
