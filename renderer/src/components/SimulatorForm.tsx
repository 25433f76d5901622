// The caller simulator's form: what `simulate.start` takes, each field checked here with a message
// that says what to type, before anything goes to the host. The host checks again (and has the last
// word on source addresses); its refusal shows under the Start button.
import { useEffect, useId, useState, type ReactNode } from 'react';
import { useWorkbench } from '../context';
import { bytesToBase64, byteCount, endpoint } from '../format';
import type { SimulationParams } from '../store/jobs';
import { useListenerChoices, type ListenerChoice } from './useListenerChoices';

export interface SimulationDraft {
  /** A listener id, or 'other' for `address`. */
  target: string;
  address: string;
  count: string;
  rate: string;
  concurrency: string;
  dataMode: 'text' | 'hex';
  data: string;
  fastOpen: boolean;
  abortRatio: string;
  sources: string;
  holdMs: string;
  timeoutMs: string;
}
export type DraftField = keyof SimulationDraft;

export const DEFAULT_DRAFT: SimulationDraft = {
  target: '', address: '127.0.0.1:', count: '100', rate: '', concurrency: '10', dataMode: 'text', data: '', fastOpen: false,
  abortRatio: '0', sources: '', holdMs: '', timeoutMs: '5000',
};

export const MAX_DATA_BYTES = 64 * 1024;

function ipv4(text: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}
const ipv4Number = (p: number[]): number => ((p[0]! * 256 + p[1]!) * 256 + p[2]!) * 256 + p[3]!;
const isLoopback = (host: string): boolean => host === '::1' || ipv4(host)?.[0] === 127;

/** "host:port" or "[v6]:port". */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const t = text.trim();
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t) ?? /^([^\s:[\]]+):(\d{1,5})$/.exec(t);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || m[1]!.length > 255) return null;
  return { host: m[1]!, port };
}

/** Hex pairs, with spaces, commas, colons or 0x prefixes between them as people paste them. */
export function parseHex(text: string): Uint8Array | string {
  const digits = text.replace(/0x/gi, '').replace(/[\s,:]/g, '');
  if (!/^[0-9a-f]*$/i.test(digits)) return 'Hex data is pairs of digits 0-9 and a-f, e.g. 48 45 4c 4c 4f.';
  if (digits.length % 2 !== 0) return `Hex data needs whole bytes: ${digits.length} digits is an odd number.`;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Where a listener can be reached from this machine: a wildcard bind is reached on loopback. */
export function listenerTarget(l: ListenerChoice): { host: string; port: number } | null {
  if (l.state !== 'running' || !l.bound) return null;
  const a = l.bound.address;
  return { host: a === '0.0.0.0' ? '127.0.0.1' : a === '::' ? '::1' : a, port: l.bound.port };
}

type Problems = Partial<Record<DraftField, string>>;

/**
 * A number as people type it: digits, optionally grouped in threes by one kind of separator
 * (1,000 / 10 000 / 1_000), and where `fractions` a decimal point (0.25, .5, 1,000.5). Not what
 * Number() would make of "1,5", "0x10" or "1e3" once the commas are gone. The number, or what is
 * wrong with the text, in words ('' for an empty field).
 */
export function readNumber(text: string, fractions: boolean): number | string {
  const t = text.trim();
  if (t === '') return '';
  const m = /^(\d+|\d{1,3}([,_ ])\d{3}(?:\2\d{3})*)?(\.\d+)?$/.exec(t);
  if (m && (m[1] !== undefined || m[3] !== undefined)) {
    if (m[3] !== undefined && !fractions) return `"${t}" is not a whole number.`;
    return Number(`${(m[1] ?? '0').replace(/[,_ ]/g, '')}${m[3] ?? ''}`);
  }
  if (/^[+-]/.test(t)) return `"${t}": write the number without a sign.`;
  if (/^0x/i.test(t)) return `"${t}" is hexadecimal: write the number in decimal digits.`;
  if (/^(\d+\.?\d*|\.\d+)e[+-]?\d+$/i.test(t)) return `"${t}" is in exponent notation: write the digits out (1e3 is 1000).`;
  if (fractions && /^\d*,\d+$/.test(t)) return `"${t}": a fraction takes a decimal point (0.5); commas only group thousands (1,000).`;
  if (/^[\d,_ .]+$/.test(t)) return `"${t}": separators go between groups of three digits, as in 1,000 or 10 000${fractions ? ', and a fraction after one decimal point' : ''}.`;
  return `"${t}" is not a number.`;
}

/** The draft as `simulate.start` params, or what is wrong with it, by field. */
export function parseSimulationDraft(d: SimulationDraft, listeners: Record<number, ListenerChoice>): { params: SimulationParams | null; problems: Problems } {
  const problems: Problems = {};
  /** A number field: the number, or a message that says what is wrong with the text and what to type. */
  const num = (f: DraftField, text: string, fractions: boolean, ok: (n: number) => boolean, words: string): number | undefined => {
    const n = readNumber(text, fractions);
    if (typeof n === 'string') problems[f] = n === '' ? words : `${n} ${words}`;
    else if (!ok(n)) problems[f] = words;
    return typeof n === 'number' ? n : undefined;
  };
  const int = (f: DraftField, min: number, max: number, words: string, optional = false): number | undefined => {
    const raw = String(d[f]).trim();
    if (raw === '' && optional) return undefined;
    return num(f, raw, false, (n) => n >= min && n <= max, words);
  };

  let target: { host: string; port: number } | null = null;
  if (d.target === 'other') {
    target = parseHostPort(d.address);
    if (!target) problems.address = 'Give the target as host:port, e.g. 127.0.0.1:7000 or [::1]:7000 (port 1 to 65535).';
  } else if (d.target === '') {
    problems.target = 'Pick a running listener, or choose "another address".';
  } else {
    const l = listeners[Number(d.target)];
    target = l ? listenerTarget(l) : null;
    if (!target) problems.target = l ? `Listener #${l.id} is not running: start it, or pick another target.` : `Listener #${d.target} is gone: pick another target.`;
  }

  const count = int('count', 1, 1_000_000, 'A whole number of connections, from 1 to 1,000,000.');
  const concurrency = int('concurrency', 1, 10_000, 'A whole number of connections at once, from 1 to 10,000.');
  const rate = d.rate.trim() === '' ? undefined : num('rate', d.rate, true, (n) => n > 0 && n <= 1_000_000,
    'New connections per second: a number above 0, at most 1,000,000. Leave it empty for as fast as the concurrency allows.');

  let data: Uint8Array | null = null;
  if (d.data !== '') {
    if (d.dataMode === 'hex') {
      const parsed = parseHex(d.data);
      if (typeof parsed === 'string') problems.data = parsed;
      else data = parsed;
    } else {
      data = new TextEncoder().encode(d.data);
    }
    if (data && data.length > MAX_DATA_BYTES) problems.data = `At most ${byteCount(MAX_DATA_BYTES)} can be sent; this is ${byteCount(data.length)}.`;
    if (data && data.length === 0) data = null;
  }
  if (d.fastOpen && !data && !problems.data) problems.fastOpen = 'Fast Open sends the data in the SYN: give some data to send.';

  const abortRatio = d.abortRatio.trim() === '' ? undefined : num('abortRatio', d.abortRatio, true, (n) => n >= 0 && n <= 1,
    'A share from 0 to 1: 0.1 means one client in ten resets its own connection.');

  const sources = d.sources.trim();
  if (sources !== '') {
    const family = sourcesFamily(sources);
    if (family === null) {
      problems.sources = 'Loopback source addresses: one (127.0.0.5), a range (127.0.0.2-127.0.0.254) in 127.0.0.0/8, or ::1.';
    } else if (target && (!isLoopback(target.host) || (family === 'ipv6') !== target.host.includes(':'))) {
      problems.sources = family === 'ipv6'
        ? 'With ::1 as the source, the target must be ::1 too.'
        : 'With sources, the target must be a loopback address (127.x.x.x) too.';
    }
  }

  const holdMs = int('holdMs', 0, 3_600_000, 'Milliseconds from 0 to 3,600,000 (1 h); empty: the client leaves once answered.', true);
  const timeoutMs = int('timeoutMs', 1, 600_000, 'Milliseconds from 1 to 600,000 (10 min).');

  if (Object.keys(problems).length > 0 || !target) return { params: null, problems };
  const params: SimulationParams = {
    target, count: count!, concurrency: concurrency!, timeoutMs: timeoutMs!,
    ...(rate !== undefined ? { rate } : {}),
    ...(data ? { data: bytesToBase64(data) } : {}),
    ...(d.fastOpen ? { fastOpen: true } : {}),
    ...(abortRatio ? { abortRatio } : {}),
    ...(sources !== '' ? { sources } : {}),
    ...(holdMs !== undefined ? { holdMs } : {}),
  };
  return { params, problems };
}

function sourcesFamily(text: string): 'ipv4' | 'ipv6' | null {
  if (text === '::1' || text === '[::1]') return 'ipv6';
  const parts = text.split('-').map((p) => p.trim());
  if (parts.length > 2) return null;
  const nums = parts.map(ipv4);
  if (nums.some((n) => n === null || n[0] !== 127)) return null;
  if (nums.length === 2 && ipv4Number(nums[1]!) < ipv4Number(nums[0]!)) return null;
  return 'ipv4';
}

export function SimulatorForm({ busy, startError, onStart }: {
  /** A run from this form is under way: one at a time. */
  busy: boolean;
  startError: string | null;
  onStart: (params: SimulationParams) => void;
}) {
  const listeners = useListenerChoices();
  const connected = useWorkbench((s) => s.connection === 'connected');
  const [draft, setDraft] = useState<SimulationDraft>(DEFAULT_DRAFT);
  const [showProblems, setShowProblems] = useState(false);
  const id = useId();
  const running = Object.values(listeners).filter((l) => l.state === 'running').sort((a, b) => a.id - b.id);
  const { params, problems } = parseSimulationDraft(draft, listeners);

  // The first running listener is the natural target until the person picks one.
  const firstRunning = running[0]?.id ?? null;
  useEffect(() => {
    if (draft.target === '' && firstRunning !== null) setDraft((d) => ({ ...d, target: String(firstRunning) }));
  }, [draft.target, firstRunning]);

  const set = <K extends DraftField>(k: K, v: SimulationDraft[K]): void => setDraft((d) => ({ ...d, [k]: v }));
  const problem = (k: DraftField): ReactNode => (showProblems && problems[k]
    ? <div className="field-error" role="alert" id={`${id}-${k}-error`}>{problems[k]}</div> : null);
  const field = (k: DraftField, label: string, input: ReactNode, hint?: string): ReactNode => (
    <div className="field" key={k}>
      <label htmlFor={`${id}-${k}`}>{label}</label>
      {input}
      {hint ? <div className="hint">{hint}</div> : null}
      {problem(k)}
    </div>
  );
  const text = (k: Exclude<DraftField, 'fastOpen' | 'dataMode'>, label: string, hint?: string, placeholder?: string): ReactNode => field(k, label, (
    <input
      id={`${id}-${k}`} value={draft[k]} placeholder={placeholder}
      aria-invalid={showProblems && problems[k] ? true : undefined}
      aria-describedby={showProblems && problems[k] ? `${id}-${k}-error` : undefined}
      onChange={(e) => set(k, e.target.value)}
    />
  ), hint);

  const submit = (): void => {
    setShowProblems(true);
    if (params && !busy) onStart(params);
  };

  return (
    <form className="sim-form panel" aria-label="Simulation" noValidate onSubmit={(e) => { e.preventDefault(); submit(); }}>
      <div className="panel-head"><h2>Caller simulator</h2></div>
      <p className="hint">Opens real TCP connections from the host to a listener and reports what each client observed.</p>
      <div className="form-grid">
        {field('target', 'Target', (
          <select id={`${id}-target`} value={draft.target} onChange={(e) => set('target', e.target.value)} aria-invalid={showProblems && problems.target ? true : undefined}>
            {draft.target === '' ? <option value="">choose…</option> : null}
            {Object.values(listeners).sort((a, b) => a.id - b.id).map((l) => {
              const t = listenerTarget(l);
              return <option key={l.id} value={l.id}>listener #{l.id} {t ? endpoint({ address: t.host, port: t.port }) : `(${l.state})`}</option>;
            })}
            <option value="other">another address…</option>
          </select>
        ))}
        {draft.target === 'other' ? text('address', 'Address', 'host:port, IPv6 in brackets', '127.0.0.1:7000') : <div />}
        {text('count', 'Connections', 'How many to open (up to 1,000,000).')}
        {text('concurrency', 'Concurrency', 'At most this many at once.')}
        {text('rate', 'Rate (per second)', 'Empty: as fast as the concurrency allows.', 'unlimited')}
        {text('timeoutMs', 'Timeout (ms)', 'Per connection: to connect, and to be answered.')}
        {text('holdMs', 'Hold (ms)', 'Keep each connection open this long after sending. Empty: leave once answered.', 'none')}
        {text('abortRatio', 'Aborts (share 0–1)', 'Share of clients that reset their own connection right after connecting.')}
        {text('sources', 'Source addresses', 'Loopback only, round robin: 127.0.0.2-127.0.0.254, or ::1. Empty: the kernel picks.', 'kernel\'s choice')}
      </div>
      <div className="field">
        <label htmlFor={`${id}-data`}>Data sent by each client</label>
        <div className="data-mode" role="radiogroup" aria-label="Data as">
          <label><input type="radio" name={`${id}-mode`} checked={draft.dataMode === 'text'} onChange={() => set('dataMode', 'text')} /> text (UTF-8)</label>
          <label><input type="radio" name={`${id}-mode`} checked={draft.dataMode === 'hex'} onChange={() => set('dataMode', 'hex')} /> hex</label>
        </div>
        <textarea
          id={`${id}-data`} rows={2} value={draft.data} className={draft.dataMode === 'hex' ? 'mono' : undefined}
          placeholder={draft.dataMode === 'hex' ? '48 45 4c 4c 4f' : 'nothing: the client sends no data'}
          aria-invalid={showProblems && problems.data ? true : undefined}
          onChange={(e) => set('data', e.target.value)}
        />
        {problem('data')}
      </div>
      <div className="field check">
        <label><input type="checkbox" checked={draft.fastOpen} onChange={(e) => set('fastOpen', e.target.checked)} /> TCP Fast Open</label>
        <div className="hint">Linux: the data rides in the SYN once the kernel has a cookie for the listener.</div>
        {problem('fastOpen')}
      </div>
      {showProblems && !params ? <div className="form-error">Fix the fields marked above to start.</div> : null}
      {startError ? <div className="form-error" role="alert" data-testid="sim-start-error">Could not start: {startError}</div> : null}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy || !connected}>{busy ? 'Running…' : 'Start'}</button>
        <button type="button" onClick={() => { setDraft(DEFAULT_DRAFT); setShowProblems(false); }}>Reset form</button>
      </div>
    </form>
  );
}
