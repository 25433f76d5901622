// A test run of the editor's script (`script.testRun`), applied nowhere: against the request
// selected in the queue or the decisions log (what the condition function saw for it), or against
// a sample request made up here. Shows the verdict, who decided, the callee data and group, the
// script's log, an error with its line:column, and the condition time.
import { useState, type FormEvent } from 'react';
import type { ListenerState, Params, Result } from '../../../electron/protocol/schema';
import { useWorkbench, useWorkbenchContext } from '../context';
import { plainError } from '../store/deps';
import { ascii, base64ToBytes, micros, utf8ToBase64 } from '../format';

type Target = 'selected' | 'sample';
type Outcome = Result<'script.testRun'>;

interface Props {
  source: string;
  filename: string;
  listener: ListenerState;
  /** Puts the editor's cursor at a line:column of the script. */
  onGoTo: (line: number, column: number) => void;
}

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

export function ScriptTestRun({ source, filename, listener, onGoTo }: Props) {
  const { client } = useWorkbenchContext();
  const inspected = useWorkbench((s) => s.inspected);
  const [target, setTarget] = useState<Target>('selected');
  const [address, setAddress] = useState('127.0.0.1');
  const [port, setPort] = useState('50000');
  const [data, setData] = useState('');
  const [attempt, setAttempt] = useState('1');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ what: string; result: Outcome } | null>(null);
  const [error, setError] = useState<string | null>(null);

  const useSelected = target === 'selected' && inspected !== null;
  const run = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (busy) return;
    let request: Params<'script.testRun'>['request'];
    let what: string;
    let on = listener.id;
    if (useSelected) {
      request = { requestId: inspected.id };
      on = inspected.listener;
      what = `request #${inspected.id} of listener #${inspected.listener}`;
    } else {
      const p = Number(port);
      const n = Number(attempt);
      if (address.trim() === '' || !Number.isInteger(p) || p < 0 || p > 65535 || !Number.isInteger(n) || n < 1) {
        setError('The sample needs a caller address, a port from 0 to 65535 and an offer number of 1 or more.');
        return;
      }
      const callee = listener.bound ?? { address: listener.options.address, port: listener.options.port };
      request = {
        sample: {
          caller: { family: familyOf(address.trim()), address: address.trim(), port: p },
          callee: { family: familyOf(callee.address), address: callee.address, port: callee.port },
          callerData: utf8ToBase64(data),
          callerDataSource: data === '' ? 'none' : 'peek',
          sqos: null,
          attempt: n,
          queue: { kernel: null, held: 1, deferred: n > 1 ? 1 : 0 },
          callbackData: listener.options.callbackData,
        },
      };
      what = `a sample request from ${address.trim()}:${p}`;
    }
    setBusy(true);
    setError(null);
    try {
      // The listener's limits (budget, memory, fallback) apply, as they would live.
      const result = await client.call('script.testRun', { source, filename, listener: on, request });
      setOutcome({ what, result });
    } catch (err) {
      setOutcome(null);
      setError(`Could not run the test: ${plainError(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const r = outcome?.result.run ?? null;
  const problem = outcome?.result.problem ?? null;
  const callee = r?.calleeData ? base64ToBytes(r.calleeData) : null;
  return (
    <details className="insp-block script-tool" open>
      <summary><h4>Test run</h4></summary>
      <form className="test-run" onSubmit={(e) => void run(e)} aria-label="Test run">
        <div className="toolbar">
          <label><input type="radio" name="test-target" checked={target === 'selected'} onChange={() => setTarget('selected')} /> selected request</label>
          <label><input type="radio" name="test-target" checked={target === 'sample'} onChange={() => setTarget('sample')} /> sample request</label>
        </div>
        {target === 'selected' ? (
          <div className="muted small" data-testid="test-target">
            {inspected ? `Request #${inspected.id} of listener #${inspected.listener}, as the condition function saw it.` : 'No request is selected: select one in the queue or the decisions log, or use a sample.'}
          </div>
        ) : (
          <div className="sample-grid">
            <label>Caller address <input aria-label="Sample caller address" value={address} onChange={(e) => setAddress(e.target.value)} /></label>
            <label>Port <input aria-label="Sample caller port" inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} /></label>
            <label>Offer # <input aria-label="Sample offer number" inputMode="numeric" value={attempt} onChange={(e) => setAttempt(e.target.value)} /></label>
            <label className="wide">Caller data (text) <input aria-label="Sample caller data" value={data} onChange={(e) => setData(e.target.value)} placeholder="none" /></label>
          </div>
        )}
        <div className="toolbar">
          <button type="submit" disabled={busy || (target === 'selected' && !inspected)}>{busy ? 'Running…' : 'Run test'}</button>
          <span className="muted small">Runs the editor's text; nothing is applied.</span>
        </div>
      </form>
      {error ? <div className="error-text" role="alert">{error}</div> : null}
      {problem ? (
        <div className="error-text" role="alert" data-testid="test-problem">
          <button type="button" className="link" onClick={() => onGoTo(problem.line, problem.column)}>{problem.filename}:{problem.line}:{problem.column}</button>{' '}
          {problem.code}: {problem.message}
        </div>
      ) : null}
      {r && outcome ? (
        <div data-testid="test-result">
          <table className="kv"><tbody>
            <tr><th>On</th><td>{outcome.what}</td></tr>
            <tr><th>Verdict</th><td className={`v-${r.verdict}`} data-testid="test-verdict">{r.ask ? 'ask a person (deferred until a person decides)' : r.verdict}</td></tr>
            <tr><th>Decided by</th><td>{r.by === 'fallback' ? "fallback (the script failed; the listener's fallback verdict)" : 'script'}</td></tr>
            <tr><th>Condition time</th><td className="mono">{micros(r.conditionUs)}</td></tr>
            {callee ? <tr><th>Callee data</th><td className="mono">{ascii(callee).slice(0, 48)} ({callee.length} B)</td></tr> : null}
            {r.group !== undefined ? <tr><th>g</th><td className="mono">{r.group}</td></tr> : null}
          </tbody></table>
          {r.error ? (
            <div className="error-text" data-testid="test-error">
              {r.error.line !== undefined
                ? <button type="button" className="link" onClick={() => onGoTo(r.error!.line!, r.error!.column ?? 1)}>line {r.error.line}{r.error.column !== undefined ? `:${r.error.column}` : ''}</button>
                : null}{' '}
              {r.error.code}: {r.error.message}
            </div>
          ) : null}
          {r.logs.length > 0 ? <pre className="logs" data-testid="test-logs">{r.logs.join('\n')}</pre> : <div className="muted small">No log lines.</div>}
        </div>
      ) : null}
    </details>
  );
}
