// What-if: the open session re-evaluated with another condition script (`session.whatIf`, a job):
// the script in the editor, a live listener's running script, or a template. Progress while it
// runs; then the summary (same / changed / unfinished / script errors) and every request whose
// final verdict changed, recorded → now. A click on one shows the recorded request.
import { useMemo, useRef, useState } from 'react';
import { useVirtualRows } from '../useVirtualRows';
import { useWorkbench, useWorkbenchContext } from '../../context';
import { plainError } from '../../store/deps';
import type { RequestResult } from '../../store/sessions';
import { SCRIPT_TEMPLATES } from '../../templates';
import { endpoint } from '../../format';

const ROW = 26;
const keyOfResult = (r: RequestResult): string => `${r.listener}:${r.id}`;

function outcomeText(o: RequestResult['now'] | null): string {
  return o ? `${o.verdict} (${o.by})` : 'not decided';
}

export function WhatIfPanel() {
  const { client } = useWorkbenchContext();
  const session = useWorkbench((s) => s.session);
  const whatIf = useWorkbench((s) => s.whatIf);
  const editor = useWorkbench((s) => s.editorScript);
  const listeners = useWorkbench((s) => s.listeners);
  const start = useWorkbench((s) => s.startWhatIf);
  const cancel = useWorkbench((s) => s.cancelWhatIf);
  const inspect = useWorkbench((s) => s.inspectSessionRequest);
  const inspected = useWorkbench((s) => s.sessionInspected);
  const [choice, setChoice] = useState('editor');
  const [error, setError] = useState<string | null>(null);
  const withScripts = Object.values(listeners).filter((l) => l.script !== null).sort((a, b) => a.id - b.id);
  const templates = SCRIPT_TEMPLATES.filter((t) => t.source !== null);
  // The editor is the default; without one (no listener yet) the first template is.
  const effective = choice === 'editor' && !editor ? `template:${templates[0]!.id}` : choice;

  const rows = useMemo(() => whatIf?.changed ?? [], [whatIf?.changed]);
  const { parentRef, virtualizer } = useVirtualRows(rows, keyOfResult, ROW);


  const running = whatIf !== null && (whatIf.state === 'starting' || whatIf.state === 'running');
  // While a listener's script is asked for (before the run starts): no second start. Once started,
  // the run is the store's: Cancel shows, also while the host has not answered yet.
  const [asking, setAsking] = useState(false);
  const askingRef = useRef(false);
  const run = async (): Promise<void> => {
    if (askingRef.current) return;
    setError(null);
    let chosen: { source: string; filename: string; label: string } | null = null;
    try {
      if (effective === 'editor' && editor) {
        chosen = { source: editor.source, filename: editor.filename, label: `the editor's ${editor.filename}${editor.listener !== null ? ` (listener #${editor.listener})` : ''}` };
      } else if (effective.startsWith('listener:')) {
        const id = Number(effective.slice('listener:'.length));
        askingRef.current = true;
        setAsking(true);
        let last;
        try {
          last = (await client.call('script.history', { listener: id })).at(-1);
        } finally {
          askingRef.current = false;
          setAsking(false);
        }
        if (!last) {
          setError(`Listener #${id} has no script any more.`);
          return;
        }
        chosen = { source: last.source, filename: last.filename, label: `listener #${id}'s v${last.version} (${last.filename})` };
      } else {
        const t = templates.find((x) => `template:${x.id}` === effective);
        if (t?.source) chosen = { source: t.source, filename: t.filename, label: `the template "${t.label}"` };
      }
    } catch (e) {
      setError(`Could not start: ${plainError(e)}`);
      return;
    }
    if (!chosen) return;
    try {
      // The store says how the run goes, a start the host refuses included.
      await start(chosen.source, chosen.filename, chosen.label);
    } catch (e) {
      setError(`Could not start: ${plainError(e)}`);
    }
  };

  const progress = whatIf?.progress;
  const pct = progress && progress.total ? Math.min(100, Math.round((progress.done / progress.total) * 100)) : null;
  const s = whatIf?.summary;
  const stateText = useMemo(() => {
    if (!whatIf) return null;
    switch (whatIf.state) {
      case 'starting': return 'Starting…';
      case 'running': return `Re-evaluating with ${whatIf.label}…`;
      case 'done': return `Re-evaluated with ${whatIf.label}.`;
      case 'cancelled': return whatIf.summary
        ? `Cancelled: the counts cover the requests replayed until then (${whatIf.label}).`
        : `Cancelled before it started (${whatIf.label}).`;
      case 'failed': return null;
    }
  }, [whatIf]);

  if (!session) return null;
  return (
    <section className="panel whatif" aria-label="What-if">
      <div className="panel-head"><h2>What if…</h2></div>
      <p className="muted small">
        Runs every recorded request through another condition script, offline, and compares each final verdict with the recorded one.
      </p>
      <div className="toolbar">
        <select aria-label="Script to re-evaluate with" value={effective} onChange={(e) => setChoice(e.target.value)} disabled={running || asking}>
          {editor ? <option value="editor">Script in the editor ({editor.filename}{editor.listener !== null ? `, listener #${editor.listener}` : ''})</option> : null}
          {withScripts.map((l) => <option key={l.id} value={`listener:${l.id}`}>Listener #{l.id}'s running script (v{l.script!.version}, {l.script!.filename})</option>)}
          {templates.map((t) => <option key={t.id} value={`template:${t.id}`}>Template: {t.label}</option>)}
        </select>
        {running
          ? <button type="button" onClick={() => void cancel()}>Cancel</button>
          : <button type="button" className="primary" onClick={() => void run()} disabled={asking}>Re-evaluate</button>}
      </div>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {whatIf?.state === 'failed' ? <div className="error-text" role="alert" data-testid="whatif-error">{whatIf.error}</div> : null}
      {stateText ? <div className="muted small" role="status" data-testid="whatif-state">{stateText}</div> : null}
      {running ? (
        <div className="whatif-progress">
          <progress max={100} value={pct ?? undefined} aria-label="What-if progress" />
          <span className="muted small">{progress ? `${progress.requests.toLocaleString('en')} requests${pct !== null ? `, ${pct}% of the file` : ''}` : ''}</span>
        </div>
      ) : null}
      {s ? (
        <div className="whatif-summary" data-testid="whatif-summary">
          <span><strong>{s.requests.toLocaleString('en')}</strong> requests</span>
          <span className="ok-text"><strong>{s.same.toLocaleString('en')}</strong> same</span>
          <span className={s.changed > 0 ? 'v-defer' : undefined}><strong data-testid="whatif-changed-count">{s.changed.toLocaleString('en')}</strong> changed</span>
          {s.unfinished > 0 ? <span className="muted">{s.unfinished.toLocaleString('en')} unfinished in the recording</span> : null}
          <span className={s.errors > 0 ? 'error-text' : 'muted'}>{s.errors.toLocaleString('en')} script errors</span>
          <span className="muted">{s.offers.toLocaleString('en')} offers ({s.syntheticOffers.toLocaleString('en')} re-offers not in the recording), {Math.round(s.elapsedMs)} ms</span>
          {s.warnings.map((w) => <div key={w} className="muted small">Warning: {w}</div>)}
        </div>
      ) : null}
      {whatIf && (whatIf.state === 'done' || whatIf.state === 'cancelled') ? (
        <>
          <div className="grid-head whatif-grid" role="row">
            <div role="columnheader" className="cell">Request</div>
            <div role="columnheader" className="cell">Caller</div>
            <div role="columnheader" className="cell">Recorded</div>
            <div role="columnheader" className="cell">Now</div>
          </div>
          <div ref={parentRef} className="grid-body whatif-body" role="grid" aria-label="Changed verdicts" aria-rowcount={rows.length} aria-readonly="true">
            {rows.length === 0 ? <p className="empty">No final verdict changed.</p> : (
              <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
                {virtualizer.getVirtualItems().map((v) => {
                  const r = rows[v.index]!;
                  const current = inspected?.listener === r.listener && inspected.id === r.id;
                  return (
                    <div
                      key={v.key} role="row" data-testid="whatif-changed-row" className={`grid-row whatif-grid${current ? ' cursor' : ''}`}
                      style={{ height: ROW, transform: `translateY(${v.start}px)` }}
                      onClick={() => inspect({ listener: r.listener, id: r.id })}
                    >
                      <div role="gridcell" className="cell">#{r.id} <span className="muted">L{r.listener}</span></div>
                      <div role="gridcell" className="cell">{endpoint(r.caller)}</div>
                      <div role="gridcell" className={`cell v-${r.recorded?.verdict ?? 'none'}`}>{outcomeText(r.recorded)}</div>
                      <div role="gridcell" className={`cell v-${r.now.verdict}`}>→ {outcomeText(r.now)}</div>
                    </div>
                  );
                })}
              </div>
            )}
          </div>
          {s && s.changed > rows.length ? <div className="muted small">The first {rows.length.toLocaleString('en')} of {s.changed.toLocaleString('en')} changed requests are listed.</div> : null}
        </>
      ) : null}
    </section>
  );
}
