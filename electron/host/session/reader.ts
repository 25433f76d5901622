// Session reader: loads and checks a session file (format v1, see docs/session-format.md).
//
// The checks mirror docs/session.schema.json (tests hold the two in step); they are hand-written
// here because the reader runs in the product and ajv is a development dependency only.
// Problems are reported as one-line SessionFormatErrors naming the line and the field.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { QOS_NOT_SPECIFIED } from '../types';
import type {
  CallerDataSource, Decider, Discipline, Family, FinalVerdict, HandlerKind, Verdict,
} from '../types';
import { SESSION_FORMAT, SESSION_VERSION } from './events';
import type { EndEvent, HandlerEvent, SessionEvent, SessionHeader, SessionLine } from './events';

export class SessionFormatError extends Error {
  override readonly name = 'SessionFormatError';
  /** File name as shown in the message. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** Field path within the line, e.g. "verdict" or "caller.port"; absent for whole-line problems. */
  readonly field?: string;
  /** The message without the "file:line: " prefix. */
  readonly detail: string;

  constructor(file: string, line: number, detail: string, field?: string) {
    super(`${file}:${line}: ${field !== undefined ? `field "${field}": ` : ''}${detail}`);
    this.file = file;
    this.line = line;
    this.field = field;
    this.detail = detail;
  }
}

export interface Session {
  header: SessionHeader;
  /** Every record after the header, in file order (the `end` record included). */
  events: SessionEvent[];
  /** One-line warnings, e.g. "line 42 is cut short (file truncated?); ignored". */
  warnings: string[];
  /** The `end` record, or null when the recording stopped without closing. */
  end: EndEvent | null;
}

export interface ReadSessionOptions {
  /** Name used in messages; default: the file's base name. */
  name?: string;
  /** Called after each chunk is read. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Read size in bytes; default 1 MiB. */
  chunkSize?: number;
}

export interface StreamSessionOptions extends ReadSessionOptions {
  onHeader?: (header: SessionHeader) => void;
  /** Called for each record after the header, in order, with its 1-based line number. */
  onEvent: (event: SessionEvent, line: number) => void;
}

export interface StreamSessionResult {
  header: SessionHeader;
  warnings: string[];
  end: EndEvent | null;
  /** Records passed to onEvent. */
  count: number;
}

/** Loads a whole session file into memory. Rejects with SessionFormatError on a malformed file. */
export async function readSession(path: string, opts: ReadSessionOptions = {}): Promise<Session> {
  const events: SessionEvent[] = [];
  const r = await streamSession(path, { ...opts, onEvent: (e) => { events.push(e); } });
  return { header: r.header, events, warnings: r.warnings, end: r.end };
}

/** Synchronous readSession (for tools and tests; the host should prefer the async forms). */
export function readSessionSync(path: string, opts: { name?: string } = {}): Session {
  return parseSession(fs.readFileSync(path, 'utf8'), { name: opts.name ?? nodePath.basename(path) });
}

/** Parses the text of a session file. */
export function parseSession(text: string, opts: { name?: string } = {}): Session {
  const events: SessionEvent[] = [];
  const p = new LineParser(opts.name ?? 'session', (e) => { events.push(e); });
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    if (nl < 0) break;
    p.line(text.slice(pos, nl), true);
    pos = nl + 1;
  }
  if (pos < text.length) p.line(text.slice(pos), false);
  const header = p.finish();
  return { header, events, warnings: p.warnings, end: p.end };
}

/**
 * Reads a session file in chunks, calling onEvent per record, so large files never sit in memory
 * whole. Rejects with SessionFormatError at the first malformed line (records before it have been
 * delivered); file system errors reject as they are.
 */
export async function streamSession(path: string, opts: StreamSessionOptions): Promise<StreamSessionResult> {
  const name = opts.name ?? nodePath.basename(path);
  let count = 0;
  const p = new LineParser(name, (e, line) => { count++; opts.onEvent(e, line); }, opts.onHeader);
  const fh = await fs.promises.open(path, 'r');
  try {
    const total = (await fh.stat()).size;
    const buf = Buffer.allocUnsafe(Math.max(4096, opts.chunkSize ?? (1 << 20)));
    let carry: Buffer | null = null;
    let bytesRead = 0;
    for (;;) {
      const { bytesRead: n } = await fh.read(buf, 0, buf.length, null);
      if (n === 0) break;
      bytesRead += n;
      // Splitting bytes at 0x0A is safe for UTF-8: it never occurs inside a multi-byte sequence.
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        if (nl < 0 || nl >= n) break;
        const piece = buf.subarray(start, nl);
        if (carry) {
          p.line(Buffer.concat([carry, piece]).toString('utf8'), true);
          carry = null;
        } else {
          p.line(piece.toString('utf8'), true);
        }
        start = nl + 1;
      }
      if (start < n) {
        const rest = Buffer.from(buf.subarray(start, n)); // copy: buf is reused
        carry = carry ? Buffer.concat([carry, rest]) : rest;
      }
      opts.onProgress?.(bytesRead, Math.max(total, bytesRead));
    }
    if (carry) p.line(carry.toString('utf8'), false);
  } finally {
    await fh.close();
  }
  const header = p.finish();
  return { header, warnings: p.warnings, end: p.end, count };
}

/** A problem with one parsed line; `field` is a path such as "caller.port". */
export interface LineProblem {
  field?: string;
  message: string;
}

/**
 * Checks one parsed line of a session file (header or event) against format v1.
 * Returns null when it is valid. Does not check where in the file the line may appear.
 */
export function validateSessionLine(value: unknown): LineProblem | null {
  if (!isPlainObject(value)) return { message: 'not a JSON object' };
  const type = value.type;
  if (type === 'session') return checkHeader(value);
  const check = typeof type === 'string' && Object.hasOwn(EVENT_CHECKS, type)
    ? EVENT_CHECKS[type as EventType] : undefined;
  if (!check) return { field: 'type', message: `must be one of ${LINE_TYPES.join(', ')}` };
  return check(value, '');
}

// ---------------------------------------------------------------------------------------------
// Line by line parsing

class LineParser {
  header: SessionHeader | null = null;
  end: EndEvent | null = null;
  readonly warnings: string[] = [];
  private lineNo = 0;
  private endLine = 0;

  constructor(
    private readonly name: string,
    private readonly onEvent: (e: SessionEvent, line: number) => void,
    private readonly onHeader?: (h: SessionHeader) => void,
  ) {}

  /** `terminated`: the line ended with a newline (false only for the file's last line). */
  line(raw: string, terminated: boolean): void {
    const n = ++this.lineNo;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (n === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') {
      if (n === 1) throw this.error(n, 'empty line; expected the session header');
      return; // blank lines between records carry nothing
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (!terminated) {
        if (n === 1) throw this.error(n, 'line 1 is cut short (file truncated?); there is no complete session header');
        this.warnings.push(`line ${n} is cut short (file truncated?); ignored`);
        return;
      }
      const why = err instanceof Error ? err.message.replace(/\s+/g, ' ') : String(err);
      throw this.error(n, `not valid JSON (${why.length > 100 ? `${why.slice(0, 100)}...` : why})`);
    }
    if (!isPlainObject(value)) throw this.error(n, 'not a JSON object');

    if (n === 1) {
      const problem = checkHeaderLine(value);
      if (problem) throw this.error(n, problem.message, problem.field);
      this.header = value as unknown as SessionHeader;
      this.onHeader?.(this.header);
      return;
    }
    if (value.type === 'session') {
      throw this.error(n, 'a second session header (only line 1 may be one)', 'type');
    }
    const problem = validateSessionLine(value);
    if (problem) throw this.error(n, problem.message, problem.field);
    if (this.end) throw this.error(n, `a record after the end record (line ${this.endLine})`);
    const event = value as unknown as SessionEvent;
    if (event.type === 'end') { this.end = event; this.endLine = n; }
    this.onEvent(event, n);
  }

  finish(): SessionHeader {
    if (!this.header) throw this.error(1, 'the file is empty; expected the session header');
    return this.header;
  }

  private error(line: number, message: string, field?: string): SessionFormatError {
    return new SessionFormatError(this.name, line, message, field);
  }
}

/** Line 1: say "not a session file" or "unsupported version" before checking individual fields. */
function checkHeaderLine(o: Record<string, unknown>): LineProblem | null {
  if (o.type !== 'session') {
    const got = typeof o.type === 'string' ? `type "${o.type}"` : 'no type';
    return { field: 'type', message: `the first line must be the session header (type "session"), not ${got}` };
  }
  return checkHeader(o);
}

function checkHeader(o: Record<string, unknown>): LineProblem | null {
  if (o.format !== SESSION_FORMAT) {
    return { field: 'format', message: `must be "${SESSION_FORMAT}" (not a session file?)` };
  }
  if (!Object.hasOwn(o, 'version')) return { field: 'version', message: 'missing' };
  if (o.version !== SESSION_VERSION) {
    return {
      field: 'version',
      message: `unsupported session format version ${JSON.stringify(o.version)}; this build reads version ${SESSION_VERSION}`,
    };
  }
  return HEADER_CHECK(o, '');
}

// ---------------------------------------------------------------------------------------------
// A compact table-driven validator. Each Check returns the first problem or null.

type Check = (v: unknown, path: string) => LineProblem | null;
interface Optional { optional: Check }
type FieldSpec = Check | Optional;

const problem = (field: string, message: string): LineProblem => ({ field: field || undefined, message });
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str: Check = (v, p) => (typeof v === 'string' ? null : problem(p, 'must be a string'));
const bool: Check = (v, p) => (typeof v === 'boolean' ? null : problem(p, 'must be true or false'));
const isNull: Check = (v, p) => (v === null ? null : problem(p, 'must be null'));

function num(min: number): Check {
  const what = min === 0 ? 'a non-negative number' : `a number of at least ${min}`;
  return (v, p) => (typeof v === 'number' && Number.isFinite(v) && v >= min ? null : problem(p, `must be ${what}`));
}

function int(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  const what = max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}`
    : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
  return (v, p) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
    ? null : problem(p, `must be ${what}`));
}

function oneOf(values: readonly (string | number)[]): Check {
  const message = values.length === 1 ? `must be ${JSON.stringify(values[0])}` : `must be one of ${values.join(', ')}`;
  return (v, p) => ((values as readonly unknown[]).includes(v) ? null : problem(p, message));
}

function matches(re: RegExp, what: string): Check {
  return (v, p) => (typeof v === 'string' && re.test(v) ? null : problem(p, `must be ${what}`));
}

function nullable(check: Check): Check {
  return (v, p) => (v === null ? null : check(v, p));
}

function opt(check: Check): Optional {
  return { optional: check };
}

/** An object with the given fields (extra properties are allowed, for forward compatibility). */
function obj(fields: Record<string, FieldSpec>, extra?: (o: Record<string, unknown>, path: string) => LineProblem | null): Check {
  const entries = Object.entries(fields);
  return (v, p) => {
    if (!isPlainObject(v)) return problem(p, 'must be an object');
    for (const [key, spec] of entries) {
      const path = join(p, key);
      if (typeof spec === 'function') {
        if (!Object.hasOwn(v, key)) return problem(path, 'missing');
        const r = spec(v[key], path);
        if (r) return r;
      } else if (Object.hasOwn(v, key)) {
        const r = spec.optional(v[key], path);
        if (r) return r;
      }
    }
    return extra ? extra(v, p) : null;
  };
}

/** An object whose keys are all from `keys` and whose values all pass `value`. */
function record(keys: readonly string[], value: Check): Check {
  return (v, p) => {
    if (!isPlainObject(v)) return problem(p, 'must be an object');
    for (const [k, x] of Object.entries(v)) {
      if (!keys.includes(k)) return problem(join(p, k), `unknown key; must be one of ${keys.join(', ')}`);
      const r = value(x, join(p, k));
      if (r) return r;
    }
    return null;
  };
}

// Enumerations, checked against the types: leaving out a member of the type is a compile error.
const enumOf = <T extends string>() =>
  <const A extends readonly T[]>(...values: A & ([T] extends [A[number]] ? unknown : never)): A => values;
const FAMILIES = enumOf<Family>()('ipv4', 'ipv6');
const VERDICTS = enumOf<Verdict>()('accept', 'reject', 'defer');
const FINAL_VERDICTS = enumOf<FinalVerdict>()('accept', 'reject', 'expire', 'withdraw', 'error');
const DECIDERS = enumOf<Decider>()('script', 'fallback', 'person', 'default');
const DISCIPLINES = enumOf<Discipline>()('winsock', 'held');
const HANDLERS = enumOf<HandlerKind>()('echo', 'hold', 'close', 'discard');
const CALLER_DATA_SOURCES = enumOf<CallerDataSource>()('none', 'syn', 'peek');
const HANDLER_EVENTS = enumOf<HandlerEvent['event']>()('close', 'reset', 'local-close');
const BACKENDS = enumOf<SessionHeader['backend']>()('posix', 'winsock');

const FLOWSPEC_FIELDS = [
  'tokenRate', 'tokenBucketSize', 'peakBandwidth', 'latency',
  'delayVariation', 'serviceType', 'maxSduSize', 'minimumPolicedSize',
] as const;

const base64 = matches(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'base64 (standard alphabet, padded)');
const isoTime = matches(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/, 'an ISO 8601 date-time');
const sha256 = matches(/^[0-9a-f]{64}$/, 'a sha256 in lower-case hex (64 digits)');
const resultCode = matches(/^(?:OK|WSA[A-Z0-9_]+)$/, '"OK" or a WSA error name');
const uint = int(0);
const uint32 = int(0, 0xffffffff);
const port = int(0, 65535);
const time = num(0);

const sockaddr = obj({ family: oneOf(FAMILIES), address: str, port, raw: base64 });

const flowspec = obj(
  {
    ...Object.fromEntries(FLOWSPEC_FIELDS.map((f) => [f, uint32])),
    derived: record(FLOWSPEC_FIELDS, str),
  },
  // A value nothing measured is QOS_NOT_SPECIFIED; a measured one says where it came from.
  (o, p) => {
    const derived = o.derived as Record<string, unknown>;
    for (const f of FLOWSPEC_FIELDS) {
      if (o[f] !== QOS_NOT_SPECIFIED && !Object.hasOwn(derived, f)) {
        return problem(join(p, f), `must be ${QOS_NOT_SPECIFIED} (QOS_NOT_SPECIFIED) unless "derived" names its source`);
      }
    }
    return null;
  },
);

const qos = obj({ sending: flowspec, receiving: flowspec, providerSpecific: base64 });

const recordedError = obj({ code: str, message: str, line: opt(uint), column: opt(uint) });

const HEADER_CHECK = obj({
  type: oneOf(['session']),
  format: oneOf([SESSION_FORMAT]),
  version: oneOf([SESSION_VERSION]),
  t: oneOf([0]),
  startTime: isoTime,
  platform: str,
  arch: str,
  backend: oneOf(BACKENDS),
  appVersion: str,
  nodeVersion: str,
});

const EVENT_CHECKS = {
  listener: obj({
    type: str, t: time, listener: uint, address: str, port,
    options: obj({
      bind: str, port, backlog: uint, discipline: oneOf(DISCIPLINES), handler: oneOf(HANDLERS),
      fallback: oneOf(VERDICTS), budgetMs: time, deferTimeoutMs: time, reofferMs: time,
      deferAcceptS: uint, fastOpen: bool, conditionalAccept: opt(bool),
    }),
  }),
  script: obj({
    type: str, t: time, listener: uint, version: uint, hash: sha256, filename: str, source: str,
  }),
  offer: obj({
    type: str, t: time, listener: uint, id: uint, attempt: int(1),
    caller: sockaddr, callee: sockaddr,
    callerData: base64, callerDataSource: oneOf(CALLER_DATA_SOURCES),
    sqos: nullable(qos), gqos: isNull,
    verdict: oneOf([...VERDICTS, 'invalid']), ask: opt(bool), by: oneOf(DECIDERS),
    conditionUs: time, result: resultCode, scriptVersion: nullable(uint),
    calleeData: opt(base64), group: opt(uint32), error: opt(recordedError),
  }),
  decision: obj({
    type: str, t: time, listener: uint, id: uint,
    caller: obj({ address: str, port }),
    verdict: oneOf(FINAL_VERDICTS), attempts: uint, latencyUs: time,
    by: oneOf([...DECIDERS, 'system']), result: resultCode,
  }),
  handler: obj({
    type: str, t: time, listener: uint, id: uint, handler: oneOf(HANDLERS),
    event: oneOf(HANDLER_EVENTS), bytesIn: uint, bytesOut: uint,
  }),
  log: obj({ type: str, t: time, listener: uint, id: opt(uint), message: str }),
  error: obj({
    type: str, t: time, listener: opt(uint), id: opt(uint), code: str, message: str,
    line: opt(uint), column: opt(uint),
  }),
  end: obj({
    type: str, t: time, reason: str,
    counts: obj({ accept: uint, reject: uint, expire: uint, withdraw: uint, error: uint }),
    offers: uint,
  }),
} satisfies Record<Exclude<SessionLine['type'], 'session'>, Check>; // every event type, no other

type EventType = keyof typeof EVENT_CHECKS;
const LINE_TYPES = ['session', ...Object.keys(EVENT_CHECKS)];
