// The script panel: the active listener's condition script in an editor, Apply (button or
// Ctrl+S) through `script.apply`, a compile problem shown inline at its line:column, the version
// running now, and what the running script reported (runtime errors, its log lines).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { CompileProblem } from './types';
import { useWorkbench, useWorkbenchContext } from '../context';
import { plainError } from '../store/deps';
import { hostTime } from '../format';
import { NEW_SCRIPT } from '../templates';
import { ScriptEditor, focusEditorAt, type EditorProblem } from './ScriptEditor';

interface Loaded { listener: number; source: string; filename: string; appliedSource: string | null }

export function ScriptPanel() {
  const { client } = useWorkbenchContext();
  const active = useWorkbench((s) => s.activeListener);
  const listener = useWorkbench((s) => (s.activeListener !== null ? s.listeners[s.activeListener] ?? null : null));
  const applyScript = useWorkbench((s) => s.applyScript);
  const hostErrors = useWorkbench((s) => s.hostErrors);
  const logs = useWorkbench((s) => s.scriptLogs);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [filename, setFilename] = useState('condition.js');
  const [problem, setProblem] = useState<CompileProblem | null>(null);
  const [applyError, setApplyError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const editorBox = useRef<HTMLDivElement>(null);
  // Unsaved drafts per listener survive switching between listeners.
  const drafts = useRef(new Map<number, { text: string; filename: string }>());

  // Load the running source when the active listener changes.
  useEffect(() => {
    if (active === null) {
      setLoaded(null);
      return;
    }
    let live = true;
    setLoadError(null);
    setProblem(null);
    setApplyError(null);
    setMessage(null);
    client.call('script.history', { listener: active })
      .then((history) => {
        if (!live) return;
        const last = history.at(-1);
        const kept = drafts.current.get(active);
        const source = kept?.text ?? last?.source ?? NEW_SCRIPT;
        const name = kept?.filename ?? last?.filename ?? 'condition.js';
        setLoaded({ listener: active, source, filename: name, appliedSource: last?.source ?? null });
        setDraft(source);
        setFilename(name);
      })
      .catch((e: unknown) => { if (live) setLoadError(`Could not load listener #${active}'s script: ${plainError(e)}`); });
    return () => { live = false; };
  }, [client, active]);

  const onChange = useCallback((text: string) => {
    setDraft(text);
    if (active !== null) drafts.current.set(active, { text, filename });
  }, [active, filename]);

  const apply = useCallback(async (): Promise<void> => {
    if (active === null || busy) return;
    setBusy(true);
    setApplyError(null);
    setMessage(null);
    try {
      const result = await applyScript(active, draft, filename.trim() || 'condition.js');
      if (result.ok && result.script) {
        setProblem(null);
        setMessage(`Applied as version ${result.script.version}.`);
        drafts.current.delete(active);
        setLoaded((l) => (l && l.listener === active ? { ...l, appliedSource: draft } : l));
      } else {
        setProblem(result.problem);
        if (!result.problem) setApplyError('The host did not apply the script and gave no reason.');
      }
    } catch (e) {
      setApplyError(`Could not apply: ${plainError(e)}`);
    } finally {
      setBusy(false);
    }
  }, [active, busy, applyScript, draft, filename]);

  const editorProblem: EditorProblem | null = useMemo(
    () => (problem ? { line: problem.line, column: problem.column, message: `${problem.code}: ${problem.message}` } : null),
    [problem],
  );
  const myErrors = hostErrors.filter((e) => e.listener === active).slice(-5).reverse();
  const myLogs = logs.filter((l) => l.listener === active).slice(-50);

  if (active === null || !listener) {
    return <section className="panel script" aria-label="Script"><p className="empty">Create or select a listener to edit its condition script.</p></section>;
  }
  const running = listener.script;
  const dirty = loaded !== null && draft !== (loaded.appliedSource ?? '');
  return (
    <section className="panel script" aria-label="Script">
      <div className="panel-head">
        <h2>Script <span className="muted">listener #{active}</span></h2>
        <span className="muted" data-testid="running-version">
          {running ? `running v${running.version} (${running.filename}, applied ${hostTime(running.t)}, sha256 ${running.hash.slice(0, 12)})` : 'no script running: every request gets the fallback verdict'}
        </span>
      </div>
      {loadError ? <div className="error-text" role="alert">{loadError}</div> : null}
      <div className="toolbar">
        <input aria-label="Script file name" className="filename" value={filename} onChange={(e) => setFilename(e.target.value)} />
        <button type="button" className="primary" disabled={busy || !loaded} onClick={() => void apply()} title="Apply (Ctrl+S)">
          {busy ? 'Applying…' : 'Apply'}
        </button>
        {dirty ? <span className="muted">edited, not applied</span> : null}
        {message ? <span className="ok-text" role="status">{message}</span> : null}
      </div>
      {problem ? (
        <div className="error-text" role="alert" data-testid="compile-problem">
          <button type="button" className="link" onClick={() => focusEditorAt(editorBox.current, problem.line, problem.column)}>
            {problem.filename}:{problem.line}:{problem.column}
          </button>{' '}
          {problem.code}: {problem.message}. The previous version keeps running.
          {problem.logs.length > 0 ? <pre className="logs">{problem.logs.join('\n')}</pre> : null}
        </div>
      ) : null}
      {applyError ? <div className="error-text" role="alert">{applyError}</div> : null}
      <div ref={editorBox}>
        {loaded && loaded.listener === active ? (
          <ScriptEditor doc={loaded.source} docKey={`${active}`} onChange={onChange} onSave={() => void apply()} problem={editorProblem} label={`Condition script of listener ${active}`} />
        ) : <p className="muted">Loading…</p>}
      </div>
      {myErrors.length > 0 ? (
        <div className="insp-block">
          <h4>Errors reported for this listener</h4>
          <ul className="error-list">
            {myErrors.map((e, i) => (
              <li key={i} className="error-text">
                {hostTime(e.t)} {e.id !== undefined ? `request #${e.id}: ` : ''}{e.code}: {e.message}
                {e.line !== undefined ? ` (line ${e.line}${e.column !== undefined ? `:${e.column}` : ''})` : ''}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {myLogs.length > 0 ? (
        <div className="insp-block">
          <h4>Script log</h4>
          <pre className="logs">{myLogs.map((l) => `${hostTime(l.t)} ${l.id !== undefined ? `#${l.id} ` : ''}${l.message}`).join('\n')}</pre>
        </div>
      ) : null}
    </section>
  );
}
