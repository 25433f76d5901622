// Create or edit a listener: every option the host takes, each explained where it is set. A running
// listener's options cannot change (the host answers `conflict`), so the form says to stop it first.
import { useId, useState, type FormEvent, type ReactNode } from 'react';
import type { ListenerOptionsPatch, ListenerState } from '../../../electron/protocol/schema';
import { useWorkbench } from '../context';
import { plainError } from '../store/deps';
import { SCRIPT_TEMPLATES } from '../templates';

type Options = ListenerState['options'];

/** The host's defaults (electron/host/listener.ts), for a new listener's form. */
export const DEFAULT_OPTIONS: Options = {
  address: '127.0.0.1', port: 0, backlog: 128, discipline: 'winsock', handler: 'echo', fallback: 'reject',
  budgetMs: 20, deferTimeoutMs: 30_000, reofferMs: 5, deferAcceptS: 0, fastOpen: false, conditionalAccept: false,
  callbackData: 0, memoryLimit: 32 * 1024 * 1024,
};

type NumberField = 'port' | 'backlog' | 'budgetMs' | 'deferTimeoutMs' | 'reofferMs' | 'deferAcceptS' | 'callbackData' | 'memoryLimit';
const RANGES: Record<NumberField, [number, number, string]> = {
  port: [0, 65535, 'a port from 0 (any free port) to 65535'],
  backlog: [1, 65535, 'from 1 to 65535'],
  budgetMs: [1, 60_000, 'from 1 to 60000 ms'],
  deferTimeoutMs: [1, 86_400_000, 'from 1 ms to 24 h (86400000)'],
  reofferMs: [0, 60_000, 'from 0 to 60000 ms'],
  deferAcceptS: [0, 3600, 'from 0 to 3600 s'],
  callbackData: [0, 0xffffffff, 'an unsigned 32-bit number'],
  memoryLimit: [1, 1024, 'from 1 to 1024 MiB'],
};

type Draft = Record<keyof Options, string | boolean>;

function toDraft(o: Options): Draft {
  return { ...o, port: String(o.port), backlog: String(o.backlog), budgetMs: String(o.budgetMs), deferTimeoutMs: String(o.deferTimeoutMs),
    reofferMs: String(o.reofferMs), deferAcceptS: String(o.deferAcceptS), callbackData: String(o.callbackData),
    memoryLimit: String(Math.round(o.memoryLimit / (1024 * 1024))) };
}

/** The draft as options, or the problems, by field. */
function parseDraft(d: Draft): { options: Options | null; problems: Partial<Record<keyof Options, string>> } {
  const problems: Partial<Record<keyof Options, string>> = {};
  const num = (f: NumberField): number => {
    const text = String(d[f]).trim();
    const [min, max, words] = RANGES[f];
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < min || n > max) problems[f] = `Must be ${words}.`;
    return n;
  };
  const address = String(d.address).trim();
  if (address === '') problems.address = 'An address to bind is needed (e.g. 127.0.0.1, 0.0.0.0 or ::1).';
  const options: Options = {
    address, port: num('port'), backlog: num('backlog'),
    discipline: d.discipline as Options['discipline'], handler: d.handler as Options['handler'], fallback: d.fallback as Options['fallback'],
    budgetMs: num('budgetMs'), deferTimeoutMs: num('deferTimeoutMs'), reofferMs: num('reofferMs'), deferAcceptS: num('deferAcceptS'),
    fastOpen: d.fastOpen === true, conditionalAccept: d.conditionalAccept === true,
    callbackData: num('callbackData'), memoryLimit: num('memoryLimit') * 1024 * 1024,
  };
  return { options: Object.keys(problems).length === 0 ? options : null, problems };
}

function changed(from: Options, to: Options): ListenerOptionsPatch {
  const patch: Record<string, unknown> = {};
  for (const k of Object.keys(to) as Array<keyof Options>) if (to[k] !== from[k]) patch[k] = to[k];
  return patch as ListenerOptionsPatch;
}

interface Props {
  /** Edit this listener; absent: create a new one. */
  listener?: ListenerState;
  backend: 'posix' | 'winsock';
  onDone: (listener: ListenerState | null) => void;
}

export function ListenerForm({ listener, backend, onDone }: Props) {
  const createListener = useWorkbench((s) => s.createListener);
  const updateListener = useWorkbench((s) => s.updateListener);
  const startListener = useWorkbench((s) => s.startListener);
  const [draft, setDraft] = useState<Draft>(() => toDraft(listener?.options ?? DEFAULT_OPTIONS));
  const [template, setTemplate] = useState('none');
  const [startNow, setStartNow] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [showProblems, setShowProblems] = useState(false);
  const formId = useId();
  const running = listener?.state === 'running';
  const { options, problems } = parseDraft(draft);

  const set = (k: keyof Options, v: string | boolean): void => setDraft((d) => ({ ...d, [k]: v }));

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setShowProblems(true);
    if (!options || busy) return;
    setBusy(true);
    setError(null);
    try {
      if (listener) {
        const patch = changed(listener.options, options);
        onDone(Object.keys(patch).length > 0 ? await updateListener(listener.id, patch) : listener);
      } else {
        const tpl = SCRIPT_TEMPLATES.find((t) => t.id === template);
        // Only what differs from the defaults goes to the host: its defaults stay authoritative.
        const created = await createListener(changed(DEFAULT_OPTIONS, options), tpl?.source ? { source: tpl.source, filename: tpl.filename } : undefined);
        if (startNow) {
          try {
            onDone(await startListener(created.id));
          } catch {
            // Created but not started: the form closes (a second Create would make another one)
            // and the new listener's row says why it did not start, with Start and Edit at hand.
            onDone(created);
          }
        } else onDone(created);
      }
    } catch (err) {
      setError(plainError(err));
    } finally {
      setBusy(false);
    }
  };

  const field = (k: keyof Options, label: string, input: ReactNode, hint?: string): ReactNode => (
    <div className="field" key={k}>
      <label htmlFor={`${formId}-${k}`}>{label}</label>
      {input}
      {hint ? <div className="hint">{hint}</div> : null}
      {showProblems && problems[k] ? <div className="field-error" role="alert">{problems[k]}</div> : null}
    </div>
  );
  const text = (k: NumberField | 'address', label: string, hint?: string, width = 'short'): ReactNode => field(k, label, (
    <input
      id={`${formId}-${k}`}
      className={width}
      value={String(draft[k])}
      inputMode={k === 'address' ? 'text' : 'numeric'}
      disabled={running}
      aria-invalid={showProblems && problems[k] ? true : undefined}
      onChange={(e) => set(k, e.target.value)}
    />
  ), hint);
  const select = (k: 'discipline' | 'handler' | 'fallback', label: string, choices: Array<[string, string]>, hint?: string): ReactNode => field(k, label, (
    <select id={`${formId}-${k}`} value={String(draft[k])} disabled={running} onChange={(e) => set(k, e.target.value)}>
      {choices.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
    </select>
  ), hint);
  const check = (k: 'fastOpen' | 'conditionalAccept', label: string, hint: string): ReactNode => (
    <div className="field check" key={k}>
      <label>
        <input type="checkbox" checked={draft[k] === true} disabled={running} onChange={(e) => set(k, e.target.checked)} /> {label}
      </label>
      <div className="hint">{hint}</div>
    </div>
  );

  const discipline = String(draft.discipline);
  return (
    <form className="listener-form" onSubmit={(e) => void submit(e)} aria-label={listener ? `Edit listener ${listener.id}` : 'New listener'} noValidate>
      <h3>{listener ? `Listener #${listener.id}` : 'New listener'}</h3>
      {running ? <div className="note">Stop the listener to change its options.</div> : null}
      <div className="form-grid">
        {text('address', 'Address', undefined, 'wide')}
        {text('port', 'Port', '0: any free port')}
        {text('backlog', 'Backlog', 'listen() backlog')}
        {select('discipline', 'Discipline', [['winsock', 'winsock (head-of-line)'], ['held', 'held (each on its own)']],
          discipline === 'winsock'
            ? 'Exactly WSAAccept: a deferred request blocks the head; later callers wait in the kernel backlog.'
            : 'Each request is taken and decided on its own; many can wait at once. A late reject is a reset.')}
        {select('handler', 'Handler', [['echo', 'echo'], ['hold', 'hold'], ['close', 'close'], ['discard', 'discard']],
          'What an accepted connection gets: its data echoed, held open, closed at once, or read and ignored.')}
        {select('fallback', 'Fallback verdict', [['reject', 'reject'], ['accept', 'accept'], ['defer', 'defer']],
          'Given when the script throws, returns something invalid or runs out of time.')}
        {text('budgetMs', 'Budget (ms)', 'Time the script has per offer.')}
        {text('deferTimeoutMs', 'Defer timeout (ms)', 'A request deferred longer expires (WSAEACCES).')}
        {text('reofferMs', 'Re-offer (ms)', 'Pause before a deferred request is offered again.')}
        {text('deferAcceptS', 'Defer-accept (s)', 'TCP_DEFER_ACCEPT: hold until data arrives (Linux; 0 = off).')}
      </div>
      {check('fastOpen', 'TCP Fast Open', 'Caller data can come in the SYN (Linux, when the system allows it).')}
      {backend === 'winsock'
        ? check('conditionalAccept', 'SO_CONDITIONAL_ACCEPT', 'Hold the SYN unanswered until the condition function accepts (set before listen).')
        : null}
      <details className="advanced">
        <summary>Advanced</summary>
        <div className="form-grid">
          {text('callbackData', 'dwCallbackData', 'Passed to the condition function untouched.')}
          {text('memoryLimit', 'Script memory (MiB)')}
        </div>
      </details>
      {!listener ? (
        <>
          <div className="field">
            <label htmlFor={`${formId}-script`}>Condition script</label>
            <select id={`${formId}-script`} value={template} onChange={(e) => setTemplate(e.target.value)}>
              {SCRIPT_TEMPLATES.map((t) => <option key={t.id} value={t.id}>{t.label}</option>)}
            </select>
            <div className="hint">{SCRIPT_TEMPLATES.find((t) => t.id === template)?.hint}</div>
          </div>
          <div className="field check">
            <label><input type="checkbox" checked={startNow} onChange={(e) => setStartNow(e.target.checked)} /> Start it now</label>
          </div>
        </>
      ) : null}
      {error ? <div className="form-error" role="alert">{error}</div> : null}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy || running}>{busy ? 'Working…' : listener ? 'Save' : 'Create'}</button>
        <button type="button" onClick={() => onDone(null)}>Cancel</button>
      </div>
    </form>
  );
}
