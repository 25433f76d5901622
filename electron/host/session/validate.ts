// The checks of one session file line against format v1 (docs/session-format.md).
//
// They mirror docs/session.schema.json (tests hold the two in step); they are hand-written here
// because the reader runs in the product and ajv is a development dependency only. Each check
// also describes itself (`Check.node`), so that the line shapes of ./shapes.ts can find the check
// of any one value of a line without running the whole table again.
import { QOS_NOT_SPECIFIED } from '../types';
import type {
  CallerDataSource, Decider, Discipline, Family, FinalVerdict, HandlerKind, Verdict,
} from '../types';
import { SESSION_FORMAT, SESSION_VERSION } from './events';
import type { HandlerEvent, SessionHeader, SessionLine } from './events';

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
  const check = eventCheck(type);
  if (!check) return { field: 'type', message: `must be one of ${LINE_TYPES.join(', ')}` };
  return check(value, '');
}

/** Line 1: say "not a session file" or "unsupported version" before checking individual fields. */
export function checkHeaderLine(o: Record<string, unknown>): LineProblem | null {
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// A compact table-driven validator. Each Check returns the first problem or null.

/** A check of one value; `node` says what it checks (for ./shapes.ts). */
export type Check = ((v: unknown, path: string) => LineProblem | null) & { readonly node: CheckNode };

export type CheckNode =
  /**
   * Fields of an object (other keys are allowed, for forward compatibility). `measured`: these
   * number fields must be QOS_NOT_SPECIFIED unless the object's `sources` map names them.
   */
  | { kind: 'object'; fields: ReadonlyMap<string, FieldSpec>; measured?: { fields: readonly string[]; sources: string } }
  /** Keys from `keys` only, every value passing `value`. */
  | { kind: 'record'; keys: readonly string[]; value: Check }
  /** null, or what `inner` accepts. */
  | { kind: 'nullable'; inner: Check }
  /**
   * A single number, string, boolean or null. `json`, where given: a regular expression (source)
   * for JSON texts of values the check accepts, all of them or some: a number's text, or the
   * characters of a string between its quotes (no escapes). Any text it matches passes.
   */
  | { kind: 'scalar'; json?: JsonPattern };

export interface JsonPattern {
  type: 'number' | 'string';
  pattern: string;
  /** Every text it matches is what JSON.stringify writes for its value (so for strings). */
  canonical: boolean;
}

export interface FieldSpec {
  check: Check;
  optional: boolean;
}

const problem = (field: string, message: string): LineProblem => ({ field: field || undefined, message });
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function scalar(fn: (v: unknown, p: string) => LineProblem | null, json?: JsonPattern): Check {
  return Object.assign(fn, { node: { kind: 'scalar', ...(json ? { json } : {}) } as const });
}

/** The characters of any JSON string written without escapes. */
export const PLAIN_STRING = '[^"\\\\\\x00-\\x1f]*';
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** Integers 0 to max (below 10^15) as JSON.stringify writes them. */
export function uintPattern(max: number): string {
  const m = String(max);
  const shorter = m.length > 1 ? [`[1-9]\\d{0,${m.length - 2}}`] : [];
  const same: string[] = [];
  for (let i = 0; i < m.length; i++) {
    const lo = i === 0 && m.length > 1 ? 1 : 0;
    const d = Number(m[i]);
    if (d - 1 >= lo) same.push(`${m.slice(0, i)}[${lo}-${d - 1}]${i + 1 < m.length ? `\\d{${m.length - i - 1}}` : ''}`);
  }
  return `(?:0|${[...shorter, ...same, m].join('|')})`;
}

const str = scalar((v, p) => (typeof v === 'string' ? null : problem(p, 'must be a string')), { type: 'string', pattern: PLAIN_STRING, canonical: true });
const bool = scalar((v, p) => (typeof v === 'boolean' ? null : problem(p, 'must be true or false')));
const isNull = scalar((v, p) => (v === null ? null : problem(p, 'must be null')));

function num(min: number): Check {
  const what = min === 0 ? 'a non-negative number' : `a number of at least ${min}`;
  // Finite: at most 21 digits before the point, a two-digit exponent.
  const json: JsonPattern | undefined = min === 0
    ? { type: 'number', pattern: '(?:0|[1-9]\\d{0,20})(?:\\.\\d{1,20})?(?:[eE][+-]?\\d{1,2})?', canonical: false } : undefined;
  return scalar((v, p) => (typeof v === 'number' && Number.isFinite(v) && v >= min ? null : problem(p, `must be ${what}`)), json);
}

function int(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  const what = max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}`
    : min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`;
  // Up to 15 digits (larger ones are valid too, but not matched).
  const pattern = min === 0 ? (max < 1e15 ? uintPattern(max) : '(?:0|[1-9]\\d{0,14})') : min === 1 ? '[1-9]\\d{0,14}' : undefined;
  return scalar((v, p) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
    ? null : problem(p, `must be ${what}`)), pattern !== undefined ? { type: 'number', pattern, canonical: true } : undefined);
}

function oneOf(values: readonly (string | number)[]): Check {
  const message = values.length === 1 ? `must be ${JSON.stringify(values[0])}` : `must be one of ${values.join(', ')}`;
  // Strings of printable ASCII without quote or backslash appear in a line as they are.
  const json: JsonPattern | undefined = values.every((x) => typeof x === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(x))
    ? { type: 'string', pattern: `(?:${values.map((x) => regexEscape(String(x))).join('|')})`, canonical: true }
    : values.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
      ? { type: 'number', pattern: `(?:${values.join('|')})`, canonical: true }
      : undefined;
  return scalar((v, p) => ((values as readonly unknown[]).includes(v) ? null : problem(p, message)), json);
}

/** `re`: anchored (^...$), no flags, matching only strings without quote, backslash or control characters. */
function matches(re: RegExp, what: string): Check {
  if (re.flags !== '' || !re.source.startsWith('^') || !re.source.endsWith('$') || re.source.endsWith('\\$')) {
    throw new Error(`matches: ${re} must be anchored and without flags`);
  }
  return scalar((v, p) => (typeof v === 'string' && re.test(v) ? null : problem(p, `must be ${what}`)),
    { type: 'string', pattern: `(?:${re.source.slice(1, -1)})`, canonical: true });
}

function nullable(inner: Check): Check {
  return Object.assign((v: unknown, p: string) => (v === null ? null : inner(v, p)), { node: { kind: 'nullable', inner } as const });
}

interface Optional { optional: Check }
function opt(check: Check): Optional {
  return { optional: check };
}

/**
 * An object with the given fields (extra properties are allowed, for forward compatibility).
 * `measured`: see CheckNode.
 */
function obj(fields: Record<string, Check | Optional>, measured?: { fields: readonly string[]; sources: string }): Check {
  const specs = new Map<string, FieldSpec>(Object.entries(fields).map(([key, s]) => [
    key, typeof s === 'function' ? { check: s, optional: false } : { check: s.optional, optional: true },
  ]));
  const entries = [...specs];
  const fn = (v: unknown, p: string): LineProblem | null => {
    if (!isPlainObject(v)) return problem(p, 'must be an object');
    for (const [key, spec] of entries) {
      const path = join(p, key);
      if (Object.hasOwn(v, key)) {
        const r = spec.check(v[key], path);
        if (r) return r;
      } else if (!spec.optional) {
        return problem(path, 'missing');
      }
    }
    if (measured) {
      // A value nothing measured is QOS_NOT_SPECIFIED; a measured one says where it came from.
      const sources = v[measured.sources] as Record<string, unknown>;
      for (const f of measured.fields) {
        if (v[f] !== QOS_NOT_SPECIFIED && !Object.hasOwn(sources, f)) {
          return problem(join(p, f), `must be ${QOS_NOT_SPECIFIED} (QOS_NOT_SPECIFIED) unless "${measured.sources}" names its source`);
        }
      }
    }
    return null;
  };
  return Object.assign(fn, { node: { kind: 'object', fields: specs, ...(measured ? { measured } : {}) } as const });
}

/** An object whose keys are all from `keys` and whose values all pass `value`. */
function record(keys: readonly string[], value: Check): Check {
  const fn = (v: unknown, p: string): LineProblem | null => {
    if (!isPlainObject(v)) return problem(p, 'must be an object');
    for (const [k, x] of Object.entries(v)) {
      if (!keys.includes(k)) return problem(join(p, k), `unknown key; must be one of ${keys.join(', ')}`);
      const r = value(x, join(p, k));
      if (r) return r;
    }
    return null;
  };
  return Object.assign(fn, { node: { kind: 'record', keys, value } as const });
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
  { fields: FLOWSPEC_FIELDS, sources: 'derived' },
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

/** An event type (every line type but the header). */
export type EventType = keyof typeof EVENT_CHECKS;
const LINE_TYPES = ['session', ...Object.keys(EVENT_CHECKS)];

/** The check of a whole event line of type `type`, or undefined when it is no event type. */
export function eventCheck(type: unknown): Check | undefined {
  return typeof type === 'string' && Object.hasOwn(EVENT_CHECKS, type) ? EVENT_CHECKS[type as EventType] : undefined;
}
