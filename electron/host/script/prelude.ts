// The half of the sandbox that runs inside QuickJS, and the wire format both halves share.
//
// Per call the host writes the request into a buffer that lives in the wasm heap and that QuickJS
// also sees as an ArrayBuffer (numbers as float64 slots, strings once into an interned table,
// caller data as bytes), then calls `run()` with no arguments. `run()` rebuilds `req`, calls the
// user's function and returns one small integer. Only logs, callee data, a group or an error make
// the host ask for more (`take()`, a JSON string). Building `req` through handle-by-handle FFI
// calls, or passing JSON, cost 3-5x more per call.

/** float64 slots at the start of the shared buffer. */
export const Slot = {
  id: 0,
  callerFamily: 1, // string id
  callerAddress: 2, // string id
  callerPort: 3,
  calleeFamily: 4, // string id
  calleeAddress: 5, // string id
  calleePort: 6,
  callerDataSource: 7, // string id
  attempt: 8,
  queueKernel: 9, // NaN = null
  queueHeld: 10,
  queueDeferred: 11,
  listenerId: 12,
  listenerAddress: 13, // string id
  listenerPort: 14,
  listenerDiscipline: 15, // string id
  callbackData: 16,
  dataLength: 17, // bytes
  dataOffset: 18, // byte offset
  sqosLength: 19, // UTF-16 units of the sqos JSON; -1 = null
  sqosOffset: 20, // offset in UTF-16 units
  newStringCount: 21,
  newStringOffset: 22, // offset in UTF-16 units; each entry: id, length, units...
  resetStrings: 23, // 1 = clear the string table before reading new strings
} as const;

export const HEADER_SLOTS = 32;
export const HEADER_BYTES = HEADER_SLOTS * 8;
/** Interned strings are ids 0..MAX_INTERNED-1 (one UTF-16 unit). */
export const MAX_INTERNED = 4096;
/** Longer strings are cut (addresses, families and enum names are all far shorter). */
export const MAX_INTERNED_LENGTH = 1024;

/** Bits of the number `run()` returns. */
export const Result = {
  verdictMask: 3, // 0 accept, 1 reject, 2 defer
  ask: 4,
  extras: 8, // call take() for logs / callee data / group / error details
  errorShift: 4,
} as const;

/** Error classes (the number in result >> errorShift, and `k` in describe()). */
export const ErrorClass = {
  none: 0,
  invalidVerdict: 1,
  throw: 2,
  timeout: 3,
  memory: 4,
  stack: 5,
} as const;

export const MAX_CALLEE_DATA = 65536;
export const LOG_LIMITS = { messages: 100, lineChars: 2000, totalChars: 20000 } as const;

/**
 * The prelude source. Evaluated as a global script before the user's module; returns
 * [run, take, describe, probe, setShared, install]. It captures the built-ins it needs first, so a
 * script that replaces globals or prototypes can only confuse its own results (which the host
 * validates), and it removes code generation from strings (eval, Function): QuickJS's parser
 * recurses on the host's native stack far more steeply than its own stack check assumes, and a
 * script must not be able to parse deeply nested source at run time.
 */
export function preludeSource(fileName: string, probeBytes: number): string {
  const S = Slot;
  return String.raw`(function (global) {
'use strict';
const ObjectCtor = Object;
const freeze = ObjectCtor.freeze, defineProperty = ObjectCtor.defineProperty;
const getPrototypeOf = ObjectCtor.getPrototypeOf, objectKeys = ObjectCtor.keys, objectIs = ObjectCtor.is;
const isArray = Array.isArray;
const U8 = Uint8Array, U16 = Uint16Array, F64 = Float64Array, ArrayBufferCtor = ArrayBuffer;
const StringCtor = String, fromCharCode = String.fromCharCode;
const jsonParse = JSON.parse, jsonStringify = JSON.stringify;
const reflectApply = Reflect.apply;
const ErrorCtor = Error, InternalErrorCtor = global.InternalError, PromiseCtor = Promise, TypeErrorCtor = TypeError;
const mathFloor = Math.floor;
const uncurry = (fn) => Function.prototype.call.bind(fn);
const strIndexOf = uncurry(String.prototype.indexOf);
const strSlice = uncurry(String.prototype.slice);
const strCharCodeAt = uncurry(String.prototype.charCodeAt);
const u8Subarray = uncurry(U8.prototype.subarray);
const u16Subarray = uncurry(U16.prototype.subarray);
const u16Slice = uncurry(U16.prototype.slice);
const symbolToString = uncurry(Symbol.prototype.toString);

const FILE = ${JSON.stringify(fileName)};
const MAX_LOGS = ${LOG_LIMITS.messages}, MAX_LINE = ${LOG_LIMITS.lineChars}, MAX_LOG_CHARS = ${LOG_LIMITS.totalChars};
const MAX_CALLEE_DATA = ${MAX_CALLEE_DATA};
const CHUNK = 2048;
const EXTRAS = ${Result.extras}, ASK = ${Result.ask}, SHIFT = ${Result.errorShift};
const INVALID = ${ErrorClass.invalidVerdict}, THROW = ${ErrorClass.throw}, TIMEOUT = ${ErrorClass.timeout};
const MEMORY = ${ErrorClass.memory}, STACK = ${ErrorClass.stack};
const EXPECTED = '; expected "accept", "reject", "defer", "ask", CF_ACCEPT (0), CF_REJECT (1), CF_DEFER (2) or { verdict, calleeData?, group? }';

// No code generation from strings.
const noCodegen = function () { throw new TypeErrorCtor('code generation from strings (eval, Function) is disabled in condition scripts'); };
const fakeConstructor = function (proto, name) {
  const f = { [name]: function () { return noCodegen(); } }[name];
  f.prototype = proto;
  defineProperty(proto, 'constructor', { value: f, writable: true, enumerable: false, configurable: true });
  return f;
};
const SafeFunction = fakeConstructor(getPrototypeOf(function () {}), 'Function');
fakeConstructor(getPrototypeOf(function* () {}), 'GeneratorFunction');
fakeConstructor(getPrototypeOf(async function () {}), 'AsyncFunction');
fakeConstructor(getPrototypeOf(async function* () {}), 'AsyncGeneratorFunction');
defineProperty(global, 'Function', { value: SafeFunction, writable: true, enumerable: false, configurable: true });
defineProperty(global, 'eval', { value: { eval: function () { return noCodegen(); } }.eval, writable: true, enumerable: false, configurable: true });

defineProperty(global, 'CF_ACCEPT', { value: 0, writable: false, enumerable: false, configurable: false });
defineProperty(global, 'CF_REJECT', { value: 1, writable: false, enumerable: false, configurable: false });
defineProperty(global, 'CF_DEFER', { value: 2, writable: false, enumerable: false, configurable: false });

// ---- logs ----
let logs = null, logCount = 0, logChars = 0, dropped = 0, pending = '';

function clip(s, n) { return s.length > n ? strSlice(s, 0, n) + '\u2026' : s; }

// A string inside a logged object, quoted the way Node's console.log does it.
function quote(s) {
  if (strIndexOf(s, "'") >= 0) return jsonStringify(s);
  const json = jsonStringify(s);
  let body = strSlice(json, 1, json.length - 1), out = '', from = 0;
  for (;;) {
    const at = strIndexOf(body, '\\"', from);
    if (at < 0) break;
    out += strSlice(body, from, at) + '"';
    from = at + 2;
  }
  body = out + strSlice(body, from);
  return "'" + body + "'";
}

function show(v, depth, seen) {
  switch (typeof v) {
    case 'string': return quote(v);
    case 'number': return objectIs(v, -0) ? '-0' : StringCtor(v);
    case 'bigint': return StringCtor(v) + 'n';
    case 'boolean': return v ? 'true' : 'false';
    case 'undefined': return 'undefined';
    case 'symbol': return symbolToString(v);
    case 'function': {
      let n = '';
      try { n = v.name; } catch (_) {}
      return typeof n === 'string' && n !== '' ? '[Function: ' + n + ']' : '[Function (anonymous)]';
    }
  }
  if (v === null) return 'null';
  for (let i = 0; i < seen.length; i++) if (seen[i] === v) return '[Circular]';
  if (v instanceof ErrorCtor) {
    const n = v.name, m = v.message;
    return (typeof n === 'string' ? n : 'Error') + (typeof m === 'string' && m !== '' ? ': ' + m : '');
  }
  if (v instanceof U8) {
    const n = v.length;
    let s = 'Uint8Array(' + n + ') [';
    const shown = n > 32 ? 32 : n;
    for (let i = 0; i < shown; i++) s += (i === 0 ? ' ' : ', ') + v[i];
    if (n > shown) s += ', ... ' + (n - shown) + ' more';
    return s + (n === 0 ? ']' : ' ]');
  }
  if (v instanceof PromiseCtor) return 'Promise {}';
  const array = isArray(v);
  if (depth > 2) return array ? '[Array]' : '[Object]';
  seen[seen.length] = v;
  let s;
  if (array) {
    const n = v.length, shown = n > 100 ? 100 : n;
    s = '[';
    for (let i = 0; i < shown; i++) s += (i === 0 ? ' ' : ', ') + show(v[i], depth + 1, seen);
    if (n > shown) s += ', ... ' + (n - shown) + ' more items';
    s += n === 0 ? ']' : ' ]';
  } else {
    const keys = objectKeys(v), n = keys.length, shown = n > 50 ? 50 : n;
    s = '{';
    for (let i = 0; i < shown; i++) s += (i === 0 ? ' ' : ', ') + keys[i] + ': ' + show(v[keys[i]], depth + 1, seen);
    if (n > shown) s += ', ... ' + (n - shown) + ' more';
    s += n === 0 ? '}' : ' }';
  }
  seen.length = seen.length - 1;
  return s;
}

function log() {
  if (logCount >= MAX_LOGS || logChars >= MAX_LOG_CHARS) { dropped++; return; }
  const n = arguments.length;
  let s = '';
  for (let i = 0; i < n && s.length <= MAX_LINE; i++) {
    const a = arguments[i];
    let part;
    if (typeof a === 'string') part = a;
    else { try { part = show(a, 0, []); } catch (_) { part = '[uninspectable]'; } }
    s = i === 0 ? part : s + ' ' + part;
  }
  s = clip(s, MAX_LINE);
  if (logs === null) logs = [];
  logs[logCount++] = s;
  logChars += s.length;
}

const consoleObject = { log: log, info: log, warn: log, error: log, debug: log, trace: log };
defineProperty(global, 'console', { value: consoleObject, writable: true, enumerable: false, configurable: true });

const ctx = { state: {}, log: log };

// ---- TextDecoder / TextEncoder (UTF-8 only; pure computation, handy for callerData) ----
function bytesView(input) {
  if (input === undefined) return new U8(0);
  if (input instanceof ArrayBufferCtor) return new U8(input);
  if (ArrayBufferCtor.isView(input)) return new U8(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeErrorCtor('TextDecoder.decode: the input must be an ArrayBuffer or an ArrayBuffer view');
}

function utf8Decode(bytes, fatal, ignoreBOM) {
  const n = bytes.length;
  let i = 0;
  if (!ignoreBOM && n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  let s = '';
  const units = [];
  let u = 0;
  while (i < n) {
    if (u >= CHUNK) { s += reflectApply(fromCharCode, null, units); units.length = 0; u = 0; }
    const b = bytes[i];
    if (b < 0x80) { units[u++] = b; i++; continue; }
    let need = 0, cp = 0, lower = 0x80, upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0x0f; if (b === 0xe0) lower = 0xa0; else if (b === 0xed) upper = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 0x07; if (b === 0xf0) lower = 0x90; else if (b === 0xf4) upper = 0x8f; }
    let j = i + 1, k = 0;
    if (need > 0) {
      for (; k < need && j < n; k++, j++) {
        const c = bytes[j];
        if (c < lower || c > upper) break;
        lower = 0x80; upper = 0xbf;
        cp = (cp << 6) | (c & 0x3f);
      }
    }
    if (need === 0 || k < need) {
      // WHATWG: one U+FFFD for the bytes taken so far; the offending byte is looked at again.
      if (fatal) throw new TypeErrorCtor('TextDecoder: the data is not valid UTF-8');
      units[u++] = 0xfffd;
      i = need === 0 ? i + 1 : j;
      continue;
    }
    i = j;
    if (cp >= 0x10000) { cp -= 0x10000; units[u++] = 0xd800 + (cp >> 10); units[u++] = 0xdc00 + (cp & 0x3ff); }
    else units[u++] = cp;
  }
  return s + reflectApply(fromCharCode, null, units);
}

function utf8Encode(str) {
  const out = [];
  let o = 0;
  const n = str.length;
  for (let i = 0; i < n; i++) {
    let c = strCharCodeAt(str, i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = strCharCodeAt(str, i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
    if (c < 0x80) out[o++] = c;
    else if (c < 0x800) { out[o++] = 0xc0 | (c >> 6); out[o++] = 0x80 | (c & 0x3f); }
    else if (c < 0x10000) { out[o++] = 0xe0 | (c >> 12); out[o++] = 0x80 | ((c >> 6) & 0x3f); out[o++] = 0x80 | (c & 0x3f); }
    else { out[o++] = 0xf0 | (c >> 18); out[o++] = 0x80 | ((c >> 12) & 0x3f); out[o++] = 0x80 | ((c >> 6) & 0x3f); out[o++] = 0x80 | (c & 0x3f); }
  }
  return new U8(out);
}

class TextDecoder {
  #fatal; #ignoreBOM;
  constructor(label, options) {
    const name = label === undefined ? 'utf-8' : StringCtor(label).trim().toLowerCase();
    if (name !== 'utf-8' && name !== 'utf8' && name !== 'unicode-1-1-utf-8') {
      throw new RangeError('TextDecoder: only utf-8 is available in condition scripts, not ' + jsonStringify(StringCtor(label)));
    }
    this.#fatal = !!(options && options.fatal);
    this.#ignoreBOM = !!(options && options.ignoreBOM);
  }
  get encoding() { return 'utf-8'; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }
  decode(input) { return utf8Decode(bytesView(input), this.#fatal, this.#ignoreBOM); }
}

class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(input) { return utf8Encode(input === undefined ? '' : StringCtor(input)); }
}

defineProperty(global, 'TextDecoder', { value: TextDecoder, writable: true, enumerable: false, configurable: true });
defineProperty(global, 'TextEncoder', { value: TextEncoder, writable: true, enumerable: false, configurable: true });

// ---- errors ----
function safeString(x) {
  try { return typeof x === 'string' ? x : StringCtor(x); } catch (_) { return ''; }
}

function errorClass(e) {
  if (e === null) return MEMORY; // QuickJS throws null when even the error object cannot be allocated
  try {
    if (e instanceof ErrorCtor) {
      // InternalError from the interpreter, SyntaxError from the parser / JSON.parse
      const m = e.message;
      if (m === 'out of memory' || m === 'string too long') return MEMORY;
      if (m === 'stack overflow') return STACK;
      if (m === 'interrupted' && e instanceof InternalErrorCtor) return TIMEOUT;
    }
  } catch (_) {}
  return THROW;
}

let digitCount = 0;
function digits(s, i) {
  let v = 0, n = 0;
  for (;;) {
    const c = strCharCodeAt(s, i + n);
    if (!(c >= 48 && c <= 57)) break;
    v = v * 10 + (c - 48);
    n++;
  }
  digitCount = n;
  return v;
}

// ',"l":3,"c":7' for the first frame of the user's file in a QuickJS stack, or ''.
function location(stack) {
  const key = FILE + ':';
  let i = 0;
  for (;;) {
    i = strIndexOf(stack, key, i);
    if (i < 0) return '';
    const before = i === 0 ? 32 : strCharCodeAt(stack, i - 1);
    if (before === 40 || before === 32) {
      const line = digits(stack, i + key.length);
      const after = i + key.length + digitCount;
      if (digitCount > 0) {
        let column = 0;
        if (strCharCodeAt(stack, after) === 58) {
          column = digits(stack, after + 1);
          if (digitCount === 0) column = 0;
        }
        return ',"l":' + line + (column > 0 ? ',"c":' + column : '');
      }
    }
    i += key.length;
  }
}

function errorJson(e, k) {
  let name = '', message = '', stack = '';
  try {
    if (e === null) message = 'out of memory';
    else if (e instanceof ErrorCtor) {
      name = safeString(e.name);
      message = safeString(e.message);
      const st = e.stack;
      if (typeof st === 'string') stack = st;
    } else message = 'uncaught ' + clip(show(e, 1, []), 200);
  } catch (_) {
    if (message === '') message = 'uncaught exception';
  }
  const text = clip(name !== '' ? (message !== '' ? name + ': ' + message : name) : message, 1000);
  return '{"k":' + k + ',"m":' + jsonStringify(text) + location(stack) + '}';
}

// ---- verdicts ----
function verdictCode(v) {
  if (typeof v === 'string') {
    switch (v) { case 'accept': return 0; case 'reject': return 1; case 'defer': return 2; case 'ask': return 3; }
  } else if (typeof v === 'number') {
    if (v === 0) return 0;
    if (v === 1) return 1;
    if (v === 2) return 2;
  }
  return -1;
}

function invalid(text) {
  pending = ',"e":{"k":' + INVALID + ',"m":' + jsonStringify(clip(text, 1000)) + '}';
  return (INVALID << SHIFT) | EXTRAS;
}

function describeValue(v) {
  if (v === undefined) return 'undefined (missing return?)';
  let s;
  try { s = show(v, 1, []); } catch (_) { s = '[uninspectable value]'; }
  return clip(s, 200);
}

// calleeData as a latin1 string of bytes, or null when it is not bytes.
function bytesOf(x) {
  let view = null;
  if (x instanceof U8) view = x;
  else if (x instanceof ArrayBufferCtor) view = new U8(x);
  else if (!isArray(x)) return null;
  const src = view === null ? x : view;
  const n = src.length;
  if (!(n >= 0 && n <= MAX_CALLEE_DATA)) return null;
  let s = '';
  const chunk = [];
  for (let i = 0; i < n; ) {
    const end = n - i > CHUNK ? i + CHUNK : n;
    chunk.length = 0;
    for (let j = 0; i < end; i++, j++) {
      const b = src[i];
      if (typeof b !== 'number' || (b & 255) !== b) return null;
      chunk[j] = b;
    }
    s += reflectApply(fromCharCode, null, chunk);
  }
  return s;
}

function settle(v) {
  let code = verdictCode(v);
  if (code >= 0) return code === 3 ? 2 | ASK : code;
  if (v === null || typeof v !== 'object' || isArray(v)) return invalid('condition function returned ' + describeValue(v) + EXPECTED);
  if (v instanceof PromiseCtor || typeof v.then === 'function') {
    return invalid('condition function returned a Promise; it must return its verdict synchronously (async functions are not supported)');
  }
  const verdict = v.verdict;
  code = verdictCode(verdict);
  if (code < 0) {
    if (verdict === undefined) return invalid('verdict object has no verdict: ' + describeValue(v) + EXPECTED);
    return invalid('verdict object has verdict ' + describeValue(verdict) + EXPECTED);
  }
  let extra = '';
  const cd = v.calleeData;
  if (cd !== undefined && cd !== null) {
    if (typeof cd === 'string') {
      if (cd.length > MAX_CALLEE_DATA) return invalid('calleeData is longer than ' + MAX_CALLEE_DATA + ' bytes');
      extra += ',"cd":' + jsonStringify(cd) + ',"enc":"utf8"';
    } else {
      const bytes = bytesOf(cd);
      if (bytes === null) {
        return invalid('calleeData must be a string, a Uint8Array or an array of bytes (integers 0-255), at most ' + MAX_CALLEE_DATA + ' bytes; got ' + describeValue(cd));
      }
      extra += ',"cd":' + jsonStringify(bytes) + ',"enc":"latin1"';
    }
  }
  const g = v.group;
  if (g !== undefined && g !== null) {
    if (typeof g !== 'number' || !(g >= 0 && g <= 4294967295) || mathFloor(g) !== g) {
      return invalid('group must be an integer from 0 to 4294967295; got ' + describeValue(g));
    }
    extra += ',"g":' + g;
  }
  pending = extra;
  return code === 3 ? 2 | ASK : code;
}

// ---- the request ----
let hdr = null, u8 = null, u16 = null;
let strings = [];
let listenerObject = null, lId = 0, lAddress = 0, lPort = 0, lDiscipline = 0;
let calleeObject = null, cFamily = 0, cAddress = 0, cPort = 0;
const EMPTY = freeze(new U8(0));
let user = null;

function text(offset, length) {
  if (length <= CHUNK) return reflectApply(fromCharCode, null, u16Subarray(u16, offset, offset + length));
  let s = '';
  for (let i = 0; i < length; i += CHUNK) {
    const n = length - i > CHUNK ? CHUNK : length - i;
    s += reflectApply(fromCharCode, null, u16Subarray(u16, offset + i, offset + i + n));
  }
  return s;
}

// The SQOS JSON is the largest part of a request and few scripts read it: keep a copy of its
// UTF-16 units and parse it on first access only (parsing it on every call cost ~25 µs).
function lazySqos(req, units) {
  let value;
  let parsed = false;
  defineProperty(req, 'sqos', {
    enumerable: true,
    configurable: true,
    get() {
      if (!parsed) {
        parsed = true;
        let s = '';
        for (let i = 0; i < units.length; i += CHUNK) {
          s += reflectApply(fromCharCode, null, u16Subarray(units, i, i + CHUNK > units.length ? units.length : i + CHUNK));
        }
        value = jsonParse(s);
      }
      return value;
    },
    set(v) { parsed = true; value = v; },
  });
}

function run() {
  const h = hdr;
  if (h[${S.resetStrings}] !== 0) { strings = []; listenerObject = null; calleeObject = null; }
  const fresh = h[${S.newStringCount}];
  if (fresh !== 0) {
    let at = h[${S.newStringOffset}];
    for (let k = 0; k < fresh; k++) {
      const id = u16[at], length = u16[at + 1];
      strings[id] = text(at + 2, length);
      at += 2 + length;
    }
  }
  const st = strings;
  const li = h[${S.listenerId}], la = h[${S.listenerAddress}], lp = h[${S.listenerPort}], ld = h[${S.listenerDiscipline}];
  if (listenerObject === null || li !== lId || la !== lAddress || lp !== lPort || ld !== lDiscipline) {
    lId = li; lAddress = la; lPort = lp; lDiscipline = ld;
    listenerObject = freeze({ id: li, address: st[la], port: lp, discipline: st[ld] });
  }
  const cf = h[${S.calleeFamily}], ca = h[${S.calleeAddress}], cp = h[${S.calleePort}];
  if (calleeObject === null || cf !== cFamily || ca !== cAddress || cp !== cPort) {
    cFamily = cf; cAddress = ca; cPort = cp;
    calleeObject = freeze({ family: st[cf], address: st[ca], port: cp });
  }
  const dataLength = h[${S.dataLength}], sqosLength = h[${S.sqosLength}], kernel = h[${S.queueKernel}];
  let data = EMPTY;
  if (dataLength !== 0) {
    const at = h[${S.dataOffset}];
    data = new U8(u8Subarray(u8, at, at + dataLength));
  }
  const req = {
    id: h[${S.id}],
    caller: { family: st[h[${S.callerFamily}]], address: st[h[${S.callerAddress}]], port: h[${S.callerPort}] },
    callee: calleeObject,
    callerData: data,
    callerDataSource: st[h[${S.callerDataSource}]],
    sqos: null,
    gqos: null,
    attempt: h[${S.attempt}],
    queue: { kernel: kernel !== kernel ? null : kernel, held: h[${S.queueHeld}], deferred: h[${S.queueDeferred}] },
    listener: listenerObject,
    callbackData: h[${S.callbackData}],
  };
  if (sqosLength >= 0) {
    const at = h[${S.sqosOffset}];
    lazySqos(req, u16Slice(u16, at, at + sqosLength));
  }
  logs = null; logCount = 0; logChars = 0; dropped = 0; pending = '';
  let code;
  try {
    code = settle(user(req, ctx));
  } catch (e) {
    const k = errorClass(e);
    pending = ',"e":' + errorJson(e, k);
    return (k << SHIFT) | EXTRAS;
  }
  if (pending !== '' || logCount !== 0 || dropped !== 0) code |= EXTRAS;
  return code;
}

function take() {
  let s = '{"logs":[';
  for (let i = 0; i < logCount; i++) s += (i === 0 ? '' : ',') + jsonStringify(logs[i]);
  s += ']';
  if (dropped !== 0) s += ',"dropped":' + dropped;
  s += pending + '}';
  logs = null; logCount = 0; logChars = 0; dropped = 0; pending = '';
  return s;
}

function describe(e) { return errorJson(e, errorClass(e)); }

function probe() {
  const block = new U8(${probeBytes});
  const objects = [];
  for (let i = 0; i < 64; i++) objects[i] = { i: i };
  return block.length + objects.length;
}

function setShared(buffer) {
  hdr = new F64(buffer, 0, ${HEADER_SLOTS});
  u8 = new U8(buffer);
  u16 = new U16(buffer);
  return 1;
}

function install(fn) {
  if (typeof fn !== 'function') return 0;
  user = fn;
  return 1;
}

return [run, take, describe, probe, setShared, install];
})(globalThis)
`;
}
