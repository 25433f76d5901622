// Every version of the listener's script the host applied (`script.history`), newest first:
// version, file name, when, hash; a version's source can be viewed and loaded into the editor.
import { useState } from 'react';
import type { Result } from '../../../electron/protocol/schema';
import { hostTime } from '../format';

export type ScriptVersionWithSource = Result<'script.history'>[number];

interface Props {
  history: readonly ScriptVersionWithSource[];
  running: number | null;
  error: string | null;
  onLoad: (v: ScriptVersionWithSource) => void;
}

export function ScriptHistory({ history, running, error, onLoad }: Props) {
  const [viewing, setViewing] = useState<number | null>(null);
  const shown = history.find((h) => h.version === viewing) ?? null;
  const newestFirst = [...history].reverse();
  return (
    <details className="insp-block script-tool" data-testid="script-history">
      <summary><h4>Versions ({history.length})</h4></summary>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {history.length === 0 ? <p className="muted small">No script has been applied to this listener yet.</p> : (
        <table className="offers versions">
          <thead><tr><th>Version</th><th>File</th><th>Applied</th><th>sha256</th><th /></tr></thead>
          <tbody>
            {newestFirst.map((h) => (
              <tr key={h.version} data-testid="script-version" className={viewing === h.version ? 'current' : undefined}>
                <td>v{h.version}{h.version === running ? <span className="badge running-badge">running</span> : null}</td>
                <td className="wrap">{h.filename}</td>
                <td className="mono">{hostTime(h.t)}</td>
                <td className="mono" title={h.hash}>{h.hash.slice(0, 12)}</td>
                <td className="row-buttons">
                  <button type="button" className="small" aria-pressed={viewing === h.version} onClick={() => setViewing(viewing === h.version ? null : h.version)}>
                    {viewing === h.version ? 'Hide' : 'View'}
                  </button>
                  <button type="button" className="small" onClick={() => onLoad(h)} title="Replace the editor's text with this version (Undo brings it back)">Load</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown ? (
        <div>
          <div className="muted small">v{shown.version}, {shown.filename}</div>
          <pre className="logs source" aria-label={`Source of version ${shown.version}`}>{shown.source}</pre>
        </div>
      ) : null}
    </details>
  );
}
