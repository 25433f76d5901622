// The script panel: the active listener's condition script in an editor, Apply (button or
// Ctrl+S) through `script.apply`, a compile problem shown inline at its line:column (also while
// typing, through `script.validate`), starter templates, the version running now and every version
// before it, a test run of the editor's text, and what the running script reported (runtime
// errors, its log lines). The editor's text is kept in the store: a what-if replay in the
// Sessions view runs it, and an unsaved draft survives switching listeners or views.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { CompileProblem } from './types';
import { useWorkbench, useWorkbenchContext } from '../context';
import { plainError } from '../store/deps';
import { hostTime } from '../format';
import { NEW_SCRIPT, SCRIPT_TEMPLATES } from '../templates';
import { ScriptEditor, focusEditorAt, replaceEditorText, type EditorProblem } from './ScriptEditor';
import { ScriptHistory, type ScriptVersionWithSource } from './ScriptHistory';
import { ScriptTestRun } from './ScriptTestRun';

interface Loaded { listener: number; source: string; filename: string; appliedSource: string | null }

/** Pause after the last keystroke before the text is checked. */
const CHECK_DELAY_MS = 400;

export function ScriptPanel() {
  const { client, store } = useWorkbenchContext();
  const active = useWorkbench((s) => s.activeListener);
  const listener = useWorkbench((s) => (s.activeListener !== null ? s.listeners[s.activeListener] ?? null : null));
  const applyScript = useWorkbench((s) => s.applyScript);
  const hostErrors = useWorkbench((s) => s.hostErrors);
  const logs = useWorkbench((s) => s.scriptLogs);
  const setScriptDraft = useWorkbench((s) => s.setScriptDraft);
  const setEditorScript = useWorkbench((s) => s.setEditorScript);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [filename, setFilename] = useState('condition.js');
  const [problem, setProblem] = useState<CompileProblem | null>(null);
  const [check, setCheck] = useState<{ source: string; problem: CompileProblem | null } | null>(null);
  const [applyError, setApplyError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [history, setHistory] = useState<ScriptVersionWithSource[]>([]);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const editorBox = useRef<HTMLDivElement>(null);
  const historyFor = useRef<{ listener: number; version: number | null } | null>(null);
  const activeRef = useRef(active);
  activeRef.current = active;
  const runningVersion = listener?.script?.version ?? null;

  // Load the running source when the active listener changes.
  useEffect(() => {
    if (active === null) {
      setLoaded(null);
      setHistory([]);
      return;
    }
    let live = true;
    setLoadError(null);
    setProblem(null);
    setCheck(null);
    setApplyError(null);
    setMessage(null);
    setHistory([]);
    client.call('script.history', { listener: active })
      .then((versions) => {
        if (!live) return;
        const last = versions.at(-1);
        const kept = store.getState().scriptDrafts[active];
        const source = kept?.text ?? last?.source ?? NEW_SCRIPT;
        const name = kept?.filename ?? last?.filename ?? 'condition.js';
        setHistory(versions);
        historyFor.current = { listener: active, version: last?.version ?? null };
        setLoaded({ listener: active, source, filename: name, appliedSource: last?.source ?? null });
        setDraft(source);
        setFilename(name);
      })
      .catch((e: unknown) => { if (live) setLoadError(`Could not load listener #${active}'s script: ${plainError(e)}`); });
    return () => { live = false; };
  }, [client, store, active]);

  // A new version was applied (here, or by another window): the list grows. Asked once per
  // version; the first load above covers the version running when the listener was chosen.
  useEffect(() => {
    if (active === null || !loaded || loaded.listener !== active) return;
    const asked = historyFor.current;
    if (asked && asked.listener === active && asked.version === runningVersion) return;
    historyFor.current = { listener: active, version: runningVersion };
    // Not cancelled by a re-render (Apply changes `loaded` too): only by another listener.
    client.call('script.history', { listener: active })
      .then((versions) => { if (activeRef.current === active) { setHistory(versions); setHistoryError(null); } })
      .catch((e: unknown) => { if (activeRef.current === active) setHistoryError(`Could not load the versions: ${plainError(e)}`); });
  }, [client, active, runningVersion, loaded]);

  // What the editor holds, for the what-if replay and the test run.
  useEffect(() => {
    if (loaded && active !== null && loaded.listener === active) setEditorScript({ listener: active, source: draft, filename: filename.trim() || 'condition.js' });
  }, [loaded, active, draft, filename, setEditorScript]);

  // Check while typing: a compile problem shows up before Apply is pressed.
  useEffect(() => {
    if (!loaded || active === null) return;
    let live = true;
    const timer = setTimeout(() => {
      client.call('script.validate', { source: draft, filename: filename.trim() || 'condition.js' })
        .then((r) => { if (live) setCheck({ source: draft, problem: r.problem }); })
        .catch(() => { if (live) setCheck(null); }); // no check is no news: Apply still reports
    }, CHECK_DELAY_MS);
    return () => { live = false; clearTimeout(timer); };
  }, [client, loaded, active, draft, filename]);

  const onChange = useCallback((text: string) => {
    setDraft(text);
    if (active !== null) setScriptDraft(active, { text, filename });
  }, [active, filename, setScriptDraft]);

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
        setScriptDraft(active, null);
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
  }, [active, busy, applyScript, draft, filename, setScriptDraft]);

  const goTo = useCallback((line: number, column: number) => focusEditorAt(editorBox.current, line, column), []);

  const replaceWith = (text: string, name: string): void => {
    if (!replaceEditorText(editorBox.current, text)) return;
    setFilename(name);
    if (active !== null) setScriptDraft(active, { text, filename: name });
  };

  // The check of the text as it is now wins over an older Apply's problem for the underline.
  const fresh = check !== null && check.source === draft;
  const shownProblem = fresh ? check.problem : problem;
  const editorProblem: EditorProblem | null = useMemo(
    () => (shownProblem ? { line: shownProblem.line, column: shownProblem.column, message: `${shownProblem.code}: ${shownProblem.message}` } : null),
    [shownProblem],
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
          {running
            ? `running v${running.version} (${running.filename}, applied ${hostTime(running.t)}, sha256 ${running.hash.slice(0, 12)})`
            : 'no script running: the host accepts every request (built-in condition)'}
        </span>
      </div>
      {loadError ? <div className="error-text" role="alert">{loadError}</div> : null}
      <div className="toolbar">
        <input aria-label="Script file name" className="filename" value={filename} onChange={(e) => {
          setFilename(e.target.value);
          if (dirty) setScriptDraft(active, { text: draft, filename: e.target.value });
        }} />
        <button type="button" className="primary" disabled={busy || !loaded} onClick={() => void apply()} title="Apply (Ctrl+S)">
          {busy ? 'Applying…' : 'Apply'}
        </button>
        <select
          aria-label="Start from a template" value="" disabled={!loaded}
          onChange={(e) => {
            const t = SCRIPT_TEMPLATES.find((x) => x.id === e.target.value);
            if (t?.source) replaceWith(t.source, t.filename);
          }}
        >
          <option value="">Start from…</option>
          {SCRIPT_TEMPLATES.filter((t) => t.source !== null).map((t) => <option key={t.id} value={t.id} title={t.hint}>{t.label}</option>)}
        </select>
        {dirty ? <span className="muted">edited, not applied</span> : null}
        {message ? <span className="ok-text" role="status">{message}</span> : null}
      </div>
      {fresh && check.problem && !problem ? (
        <div className="error-text small" data-testid="check-problem">
          <button type="button" className="link" onClick={() => goTo(check.problem!.line, check.problem!.column)}>
            {check.problem.filename}:{check.problem.line}:{check.problem.column}
          </button>{' '}
          {check.problem.code}: {check.problem.message}
        </div>
      ) : null}
      {problem ? (
        <div className="error-text" role="alert" data-testid="compile-problem">
          <button type="button" className="link" onClick={() => goTo(problem.line, problem.column)}>
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
      {loaded ? <ScriptTestRun source={draft} filename={filename.trim() || 'condition.js'} listener={listener} onGoTo={goTo} /> : null}
      <ScriptHistory
        history={history} running={runningVersion} error={historyError}
        onLoad={(v) => replaceWith(v.source, v.filename)}
      />
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
