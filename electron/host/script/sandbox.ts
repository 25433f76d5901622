// The condition-script sandbox: user JavaScript modules whose default export decides each
// connection request, run in QuickJS (WebAssembly) with a memory limit, a stack limit and a time
// budget per call. Nothing of Node is reachable from a script: besides the ECMAScript built-ins it
// gets `req`, `ctx` (state + log), `console.log`, the CF_* constants and a UTF-8 TextDecoder /
// TextEncoder, all implemented inside QuickJS (no host function is exposed at all).
//
//   const sandbox = await loadSandbox();            // once per process (loads the wasm module)
//   const script = sandbox.compile(source, 'policy.js', { memoryLimit: 32 << 20 });
//   const result = script.run(req, { budgetMs: 20, fallback: 'reject' });   // synchronous
//   script.dispose();
//
// Limits and what happens when a script hits them (every error gives the caller's fallback
// verdict, `by: 'fallback'` and an `error`; the script stays usable for the next call):
// - time: the interrupt handler stops the call at its budget → 'timeout'. QuickJS polls it every
//   ~10000 bytecodes, so a single long native call (a huge Array.fill) can overrun the budget.
// - memory → 'memory'. QuickJS's own limit is only partly effective in this build: it has no
//   malloc_usable_size, so it counts 8 bytes per allocation and only refuses a single allocation
//   bigger than the limit (e.g. `new Uint8Array(1e8)`). The sandbox therefore also measures the
//   runtime (JS_ComputeMemoryUsage, ~30 µs for a small heap) after calls that grew the wasm heap,
//   after every few ms of script run time, and from the interrupt handler; a script over its limit
//   is stopped and its instance rebuilt. The overshoot is bounded by what a script allocates
//   between two interrupt polls (can be 100+ MiB in a tight loop of big allocations); the wasm
//   memory cap (loadSandbox({ memoryCap }), default 512 MiB for all scripts together) is the hard
//   bound on what scripts can take from the host.
// - stack → 'stack'. QuickJS's stack limit is small (32 KiB by default, 256 KiB at most) because
//   QuickJS measures its own wasm stack while some native recursions (JSON.stringify / String() of
//   deeply nested arrays, JSON.parse, the parser) use 10-30x more of the *host's* stack: at 256 KiB
//   they already exhaust it. Should the host stack run out, V8 throws out of the wasm code; the
//   instance is then abandoned (its QuickJS state is inconsistent and cannot even be freed: its
//   memory is lost), the wasm shadow-stack pointer is reset, and a fresh instance is built.
//   Parsing (compile time) runs with a 16 KiB limit for the same reason, and eval/Function are
//   removed so that nothing is parsed at run time.
// Rebuilding an instance (memory stayed over the limit, host stack exhausted) runs the module's
// top-level code again and starts with an empty ctx.state; the call's result says
// `restarted: true` and the error message says so. Otherwise ctx.state lives as long as the
// compiled script.

import { performance } from 'node:perf_hooks';
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import type { ConditionRequest, Verdict } from '../types';
import {
  ErrorClass,
  HEADER_BYTES,
  LOG_LIMITS,
  MAX_CALLEE_DATA,
  MAX_INTERNED,
  MAX_INTERNED_LENGTH,
  Result,
  Slot,
  preludeSource,
} from './prelude';
import { loadQuickJS, loadedQuickJS, type QuickJSHost, type QuickJSLoadOptions, type WasmMemory } from './quickjs';

export type { QuickJSLoadOptions as SandboxLoadOptions } from './quickjs';

// ---------------------------------------------------------------------------------------------
// Public types

export type ScriptErrorCode = 'invalid-verdict' | 'throw' | 'timeout' | 'memory' | 'stack';

export interface ScriptError {
  code: ScriptErrorCode;
  message: string;
  /** 1-based position in the script where QuickJS reported one. */
  line?: number;
  column?: number;
}

export interface ScriptRunOptions {
  /** Time budget of this call, milliseconds. */
  budgetMs: number;
  /**
   * `req.sqos` already serialized (as the native acceptor delivers it): used instead of
   * serializing `req.sqos` again; null = no QOS.
   */
  sqosJson?: string | null;
  /** Verdict to give when the script fails (throws, times out, returns garbage, ...). */
  fallback: Verdict;
}

export interface ScriptCallResult {
  verdict: Verdict;
  /** The script asked for a person's decision ("ask"); verdict is then 'defer'. */
  ask: boolean;
  by: 'script' | 'fallback';
  calleeData?: Uint8Array;
  group?: number;
  error?: ScriptError;
  /** ctx.log / console.log messages of this call, in order. */
  logs: string[];
  /** Time spent in the call, microseconds (host side, including marshalling). */
  conditionUs: number;
  /** The QuickJS instance was rebuilt during this call: top-level code ran again, ctx.state is empty. */
  restarted?: true;
}

export interface SandboxLimits {
  /** QuickJS heap limit, bytes (default 32 MiB; 1 MiB .. 1 GiB). Enforced approximately: see the note at the top. */
  memoryLimit?: number;
  /** QuickJS stack limit, bytes (default 32 KiB; 16 KiB .. 256 KiB). See the note at the top. */
  maxStackSize?: number;
  /**
   * Time budget of the module's top-level code, milliseconds (default 20). Parsing gets an extra
   * 2 ms per KiB of source on top, so that a large script is not cut off before it starts.
   */
  budgetMs?: number;
}

export const SANDBOX_DEFAULTS: Readonly<Required<SandboxLimits>> = Object.freeze({
  memoryLimit: 32 * 1024 * 1024,
  maxStackSize: 32 * 1024,
  budgetMs: 20,
});

/** Why a script did not compile. */
export type CompileErrorCode = 'syntax' | 'throw' | 'timeout' | 'memory' | 'stack' | 'module';

export class ScriptCompileError extends Error {
  override readonly name = 'ScriptCompileError';

  constructor(
    readonly filename: string,
    readonly line: number,
    readonly column: number,
    /** e.g. "SyntaxError: unexpected token in expression: '='" */
    message: string,
    readonly code: CompileErrorCode,
    /** What the top-level code logged before it failed. */
    readonly logs: string[] = [],
  ) {
    super(message);
  }

  /** "policy.js:3:7: SyntaxError: ..." */
  override toString(): string {
    return `${this.filename}:${this.line}:${this.column}: ${this.message}`;
  }
}

export interface ConditionScript {
  readonly filename: string;
  readonly limits: Readonly<Required<SandboxLimits>>;
  /** What the top-level code logged at compile time. */
  readonly compileLogs: readonly string[];
  /** How many times the QuickJS instance has been rebuilt (each reset ctx.state). */
  readonly restarts: number;
  readonly disposed: boolean;
  /** Calls the condition function. Never throws for anything the script does. */
  run(req: ConditionRequest, opts: ScriptRunOptions): ScriptCallResult;
  /** Frees the QuickJS runtime. Idempotent. */
  dispose(): void;
}

export interface Sandbox {
  /** Compiles a module; throws ScriptCompileError. */
  compile(source: string, filename: string, limits?: SandboxLimits): ConditionScript;
}

/**
 * Loads QuickJS (once per process; the first call's options count) and returns the sandbox.
 */
export async function loadSandbox(options?: QuickJSLoadOptions): Promise<Sandbox> {
  const host = await loadQuickJS(options);
  return sandboxFor(host);
}

/** Compiles a condition script. `loadSandbox()` must have completed before. */
export function compileConditionScript(source: string, filename: string, limits?: SandboxLimits): ConditionScript {
  const host = loadedQuickJS();
  if (!host) throw new Error('the QuickJS sandbox is not loaded yet: await loadSandbox() first');
  return sandboxFor(host).compile(source, filename, limits);
}

function sandboxFor(host: QuickJSHost): Sandbox {
  return {
    compile(source: string, filename: string, limits?: SandboxLimits): ConditionScript {
      if (typeof source !== 'string') throw new TypeError('source must be a string');
      if (typeof filename !== 'string' || filename === '') throw new TypeError('filename must be a non-empty string');
      const normalized = normalizeLimits(limits);
      const { instance, logs } = Instance.create(host, source, filename, normalized);
      return new QuickJSConditionScript(host, source, filename, normalized, instance, logs);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Constants

const KiB = 1024;
const MiB = 1024 * 1024;
/** Stack limit while the module is parsed and its top-level code runs (see the note at the top). */
const COMPILE_STACK = 16 * KiB;
const PARSE_ALLOWANCE_MS_PER_KIB = 2;
/** Budget of the prelude itself and of the small helper calls (take, describe, probe, ...). */
const PRELUDE_BUDGET_MS = 1000;
const HELPER_BUDGET_MS = 20;
const JOBS_PER_BATCH = 256;
/** Measure a script's memory at least after this much of its run time (see the note at the top). */
const MEMORY_CHECK_MIN_INTERVAL_MS = 2;
/** ...and spend at most 1/MEMORY_CHECK_COST_RATIO of its run time measuring. */
const MEMORY_CHECK_COST_RATIO = 25;
const INITIAL_SHARED_BYTES = 32 * KiB;
/** Room for the 7 strings of one request, all new and of the longest length sent. */
const MAX_FRESH_STRING_BYTES = 7 * (4 + 2 * MAX_INTERNED_LENGTH);
const MAX_SHARED_BYTES = 16 * MiB;
const PROBE_BYTES = 256 * KiB;
const PRELUDE_FILENAME = '<sandbox-prelude>';

const VERDICTS: readonly Verdict[] = ['accept', 'reject', 'defer'];
const ERROR_CODES: Record<number, ScriptErrorCode> = {
  [ErrorClass.invalidVerdict]: 'invalid-verdict',
  [ErrorClass.throw]: 'throw',
  [ErrorClass.timeout]: 'timeout',
  [ErrorClass.memory]: 'memory',
  [ErrorClass.stack]: 'stack',
};

// invoke() results that are not a result code.
const ESCAPED = -1;
const HOST_FAILURE = -2;

function normalizeLimits(limits: SandboxLimits | undefined): Required<SandboxLimits> {
  const memoryLimit = limits?.memoryLimit ?? SANDBOX_DEFAULTS.memoryLimit;
  const maxStackSize = limits?.maxStackSize ?? SANDBOX_DEFAULTS.maxStackSize;
  const budgetMs = limits?.budgetMs ?? SANDBOX_DEFAULTS.budgetMs;
  if (!Number.isInteger(memoryLimit) || memoryLimit < MiB || memoryLimit > 1024 * MiB) {
    throw new RangeError(`memoryLimit must be an integer from 1 MiB to 1 GiB (bytes), got ${memoryLimit}`);
  }
  if (!Number.isInteger(maxStackSize) || maxStackSize < COMPILE_STACK || maxStackSize > 256 * KiB) {
    throw new RangeError(`maxStackSize must be an integer from 16 KiB to 256 KiB (bytes), got ${maxStackSize}`);
  }
  if (typeof budgetMs !== 'number' || !Number.isFinite(budgetMs) || budgetMs <= 0) {
    throw new RangeError(`budgetMs must be a positive number, got ${budgetMs}`);
  }
  return { memoryLimit, maxStackSize, budgetMs };
}

function formatBytes(n: number): string {
  if (n % MiB === 0) return `${n / MiB} MiB`;
  if (n % KiB === 0) return `${n / KiB} KiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${n} bytes`;
}

// ---------------------------------------------------------------------------------------------
// Views of the wasm heap (replaced when the memory grows)

let heapBuffer: ArrayBuffer | null = null;
let heapU8 = new Uint8Array(0);
/** The heap as a Buffer, for bulk UTF-16 writes (Buffer.write is native; a charCodeAt loop is not). */
let heapBytes = Buffer.alloc(0);
let heapU16 = new Uint16Array(0);
let heapI32 = new Int32Array(0);
let heapF64 = new Float64Array(0);

function refreshHeap(memory: WasmMemory): void {
  const buffer = memory.buffer;
  if (buffer !== heapBuffer) {
    heapBuffer = buffer;
    heapU8 = new Uint8Array(buffer);
    heapBytes = Buffer.from(buffer);
    heapU16 = new Uint16Array(buffer);
    heapI32 = new Int32Array(buffer);
    heapF64 = new Float64Array(buffer);
  }
}

// ---------------------------------------------------------------------------------------------
// What take() and describe() send back (validated: a script can tamper with the prelude's
// surroundings, never with the host)

interface ErrorInfo {
  k: number;
  m: string;
  l?: number;
  c?: number;
}

interface Extras {
  logs: string[];
  dropped: number;
  cd?: string;
  enc?: 'utf8' | 'latin1';
  g?: number;
  e?: ErrorInfo;
}

function parseErrorInfo(value: unknown): ErrorInfo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.k !== 'number' || typeof o.m !== 'string') return undefined;
  const info: ErrorInfo = { k: o.k, m: o.m };
  if (typeof o.l === 'number' && Number.isInteger(o.l) && o.l > 0) info.l = o.l;
  if (typeof o.c === 'number' && Number.isInteger(o.c) && o.c > 0) info.c = o.c;
  return info;
}

function parseExtras(json: string | null): Extras | null {
  if (json === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const o = value as Record<string, unknown>;
  const extras: Extras = { logs: [], dropped: 0 };
  if (Array.isArray(o.logs)) extras.logs = o.logs.filter((m): m is string => typeof m === 'string');
  if (typeof o.dropped === 'number' && o.dropped > 0) extras.dropped = o.dropped;
  if (typeof o.cd === 'string' && (o.enc === 'utf8' || o.enc === 'latin1')) {
    extras.cd = o.cd;
    extras.enc = o.enc;
  }
  if (typeof o.g === 'number' && Number.isInteger(o.g) && o.g >= 0 && o.g <= 0xffffffff) extras.g = o.g;
  const e = parseErrorInfo(o.e);
  if (e) extras.e = e;
  return extras;
}

function logsOf(extras: Extras | null): string[] {
  if (!extras) return [];
  if (extras.dropped > 0) {
    extras.logs.push(
      `[sandbox] ${extras.dropped} more log message(s) dropped (at most ${LOG_LIMITS.messages} messages and ${LOG_LIMITS.totalChars} characters per call)`,
    );
  }
  return extras.logs;
}

// ---------------------------------------------------------------------------------------------
// One QuickJS runtime + context running one compiled module

interface PreludeFunctions {
  run: QuickJSHandle;
  take: QuickJSHandle;
  describe: QuickJSHandle;
  probe: QuickJSHandle;
  setShared: QuickJSHandle;
  install: QuickJSHandle;
}

class HostFailure extends Error {}

class Instance {
  ctx: QuickJSContext | null = null;
  private ctxPtr = 0;
  private undefinedPtr = 0;
  private fns: PreludeFunctions | null = null;
  private runPtr = 0;
  private argv = 0;
  private sharedPtr = 0;
  private sharedBytes = 0;
  // Interned strings (value -> id); the prelude holds the id -> value table.
  private readonly ids = new Map<string, number>();
  private readonly fresh: string[] = [];
  private resetStrings = false;
  private rtPtr = 0;
  private usageKey: QuickJSHandle | null = null;
  deadline = 0;
  interrupted = false;
  /** The interrupt handler stopped the code because the wasm heap grew by more than the limit. */
  memoryInterrupted = false;
  /** wasm memory size when the current call started. */
  heapAtStart = 0;
  /** wasm memory size when the current condition call started (helper calls do not move it). */
  private heapAtCallStart = 0;
  /** Script run time since the last memory measurement, its time, and the current interval. */
  private sinceMemoryCheckMs = 0;
  private lastMemoryCheckAt = 0;
  private memoryCheckIntervalMs = MEMORY_CHECK_MIN_INTERVAL_MS;
  private measuring = false;
  /** V8 threw out of the wasm code: QuickJS state is inconsistent, never touch it again. */
  poisoned = false;
  hostFailureMessage = '';
  /** Exception pointer after invoke() returned ESCAPED. */
  escaped = 0;
  private disposed = false;

  private constructor(
    private readonly host: QuickJSHost,
    readonly rt: QuickJSRuntime,
    private readonly filename: string,
    readonly limits: Required<SandboxLimits>,
  ) {}

  static create(
    host: QuickJSHost,
    source: string,
    filename: string,
    limits: Required<SandboxLimits>,
  ): { instance: Instance; logs: string[] } {
    const rt = host.module.newRuntime();
    const instance = new Instance(host, rt, filename, limits);
    try {
      const logs = instance.init(source);
      return { instance, logs };
    } catch (error) {
      disposeQuietly(instance);
      if (error instanceof HostFailure) throw new ScriptCompileError(filename, 1, 1, error.message, 'stack');
      throw error;
    }
  }

  private init(source: string): string[] {
    const { rt, host } = this;
    rt.setMemoryLimit(this.limits.memoryLimit);
    rt.setMaxStackSize(COMPILE_STACK);
    const memory = host.memory;
    rt.setInterruptHandler(() => {
      const now = performance.now();
      if (now > this.deadline) {
        this.interrupted = true;
        return true;
      }
      // QuickJS's own limit misses most allocations in this build (see the note at the top): stop
      // a call that has grown the shared wasm heap by more than the script's whole limit, and
      // measure a long-running call from time to time.
      if (memory.buffer.byteLength - this.heapAtStart > this.limits.memoryLimit) {
        this.memoryInterrupted = true;
        return true;
      }
      if (
        this.usageKey !== null && !this.measuring &&
        now - this.lastMemoryCheckAt >= this.memoryCheckIntervalMs && this.memoryUsed(true) > this.limits.memoryLimit
      ) {
        this.memoryInterrupted = true;
        return true;
      }
      return false;
    });
    this.rtPtr = host.runtimePointer(rt);
    const ctx = rt.newContext();
    this.ctx = ctx;
    this.ctxPtr = host.contextPointer(ctx);
    this.undefinedPtr = ctx.undefined.value as unknown as number;
    this.argv = host.emscripten._malloc(16);
    if (!this.argv) throw new Error('QuickJS sandbox: out of wasm memory');

    // The prelude (trusted; its failure is an internal error, not the script's).
    this.arm(performance.now() + PRELUDE_BUDGET_MS);
    const prelude = this.guard(() => ctx.evalCode(preludeSource(this.filename, Math.min(PROBE_BYTES, Math.floor(this.limits.memoryLimit / 8))), PRELUDE_FILENAME, { type: 'global' }));
    if (prelude.error) {
      let detail: unknown;
      try {
        detail = ctx.dump(prelude.error);
      } finally {
        if (prelude.error.alive) prelude.error.dispose();
      }
      throw new Error(`QuickJS sandbox: prelude failed: ${JSON.stringify(detail)}`);
    }
    const list = prelude.value;
    try {
      const at = (i: number): QuickJSHandle => ctx.getProp(list, i);
      this.fns = { run: at(0), take: at(1), describe: at(2), probe: at(3), setShared: at(4), install: at(5) };
    } finally {
      list.dispose();
    }
    this.runPtr = this.fns.run.value as unknown as number;

    // The user's module: parsed, and its top-level code run, under the compile stack and budget.
    this.usageKey = ctx.newString('memory_used_size');
    this.arm(performance.now() + this.limits.budgetMs + PARSE_ALLOWANCE_MS_PER_KIB * Math.ceil(source.length / KiB));
    const evaluated = this.guard(() => ctx.evalCode(source, this.filename, { type: 'module' }), true);
    if (evaluated.error) {
      const interrupted = this.interrupted;
      const memoryInterrupted = this.memoryInterrupted;
      const info = this.describeHandle(evaluated.error);
      evaluated.error.dispose();
      throw this.compileError(memoryInterrupted ? { k: ErrorClass.memory, m: 'out of memory' } : info, interrupted, source);
    }
    const namespace = evaluated.value;
    let installed = 0;
    try {
      const state = ctx.getPromiseState(namespace);
      if (!(state.type === 'fulfilled' && state.notAPromise)) {
        if (state.type === 'fulfilled') state.value.dispose();
        else if (state.type === 'rejected') state.error.dispose();
        throw new ScriptCompileError(
          this.filename, 1, 1,
          'top-level await is not supported in condition scripts', 'module', this.takeLogs(),
        );
      }
      const fn = ctx.getProp(namespace, 'default');
      try {
        this.arm(performance.now() + HELPER_BUDGET_MS);
        installed = this.callNumber(this.fns.install, [fn.value as unknown as number]);
      } finally {
        fn.dispose();
      }
    } finally {
      namespace.dispose();
    }
    if (installed !== 1) {
      throw new ScriptCompileError(
        this.filename, 1, 1,
        'default export is not a function: the module must `export default` the condition function (req, ctx) => verdict',
        'module', this.takeLogs(),
      );
    }
    const used = this.memoryUsed();
    if (used > this.limits.memoryLimit) {
      throw new ScriptCompileError(
        this.filename, 1, 1,
        `top-level code left ${formatBytes(used)} in use, over the memory limit of ${formatBytes(this.limits.memoryLimit)}`,
        'memory', this.takeLogs(),
      );
    }
    rt.setMaxStackSize(this.limits.maxStackSize);
    try {
      this.growShared(INITIAL_SHARED_BYTES);
    } catch (error) {
      if (!(error instanceof SharedBufferError)) throw error;
      throw new ScriptCompileError(this.filename, 1, 1, error.message, 'memory', this.takeLogs());
    }
    return this.takeLogs();
  }

  private compileError(info: ErrorInfo | undefined, interrupted: boolean, source: string): ScriptCompileError {
    const logs = this.takeLogs();
    let message = info?.m ?? 'out of memory';
    let line = info?.l ?? 1;
    let column = info?.c ?? 1;
    let code: CompileErrorCode;
    if (interrupted || info?.k === ErrorClass.timeout) {
      code = 'timeout';
      message = `top-level code exceeded its time budget of ${this.limits.budgetMs} ms`;
    } else if (!info || info.k === ErrorClass.memory) {
      code = 'memory';
      message = `${message} (memory limit ${formatBytes(this.limits.memoryLimit)})`;
    } else if (info.k === ErrorClass.stack) {
      code = 'stack';
      message = `${message} (nesting too deep, or recursion in top-level code deeper than the ${formatBytes(COMPILE_STACK)} compile-time stack allows)`;
    } else if (message.startsWith('SyntaxError')) {
      code = 'syntax';
    } else {
      code = 'throw';
      const blocked = /^ReferenceError: could not load module '(.*)'$/.exec(message);
      if (blocked) {
        code = 'module';
        message = `import of '${blocked[1]}' is not allowed: condition scripts cannot import modules`;
        if (!info?.l) ({ line, column } = positionOf(source, blocked[1]));
      }
    }
    if (info?.l && !info.c) column = 1;
    return new ScriptCompileError(this.filename, line, column, message, code, logs);
  }

  // --- the hot path ----------------------------------------------------------------------

  /** Writes `req` into the shared buffer and calls run(): a result code, ESCAPED or HOST_FAILURE. */
  invoke(req: ConditionRequest, deadline: number, sqosJson?: string | null): number {
    this.encode(req, sqosJson);
    const { ffi } = this.host;
    const ctxPtr = this.ctxPtr;
    this.arm(deadline);
    this.heapAtCallStart = this.heapAtStart;
    let value: number;
    try {
      value = ffi.QTS_Call(ctxPtr, this.runPtr, this.undefinedPtr, 0, 0);
    } catch (error) {
      this.hostFailed(error);
      return HOST_FAILURE;
    }
    const exception = ffi.QTS_ResolveException(ctxPtr, value);
    if (exception !== 0) {
      ffi.QTS_FreeValuePointer(ctxPtr, value);
      this.escaped = exception;
      return ESCAPED;
    }
    const code = ffi.QTS_GetFloat64(ctxPtr, value);
    ffi.QTS_FreeValuePointer(ctxPtr, value);
    return code;
  }

  private sid(value: unknown): number {
    const s = typeof value === 'string' ? value : String(value);
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(s, id);
      this.fresh.push(s);
    }
    return id;
  }

  private encode(req: ConditionRequest, serializedSqos?: string | null): void {
    // At most 7 new strings per request: make room first so that ids stay valid within one call.
    if (this.ids.size > MAX_INTERNED - 8) {
      this.ids.clear();
      this.resetStrings = true;
    }
    this.fresh.length = 0;
    const sqosJson = serializedSqos !== undefined ? serializedSqos
      : req.sqos === null || req.sqos === undefined ? null : JSON.stringify(req.sqos);
    const data = req.callerData instanceof Uint8Array ? req.callerData : null;
    const dataLength = data ? data.length : 0;
    // A bigger buffer starts an empty string table, so make room before interning: for the data
    // and for the worst case of fresh strings.
    const worst = HEADER_BYTES + MAX_FRESH_STRING_BYTES + (sqosJson === null ? 0 : 2 * sqosJson.length) + dataLength;
    if (worst > this.sharedBytes) this.growShared(worst);
    const { caller, callee, listener, queue } = req;
    const callerFamily = this.sid(caller.family);
    const callerAddress = this.sid(caller.address);
    const calleeFamily = this.sid(callee.family);
    const calleeAddress = this.sid(callee.address);
    const source = this.sid(req.callerDataSource);
    const listenerAddress = this.sid(listener.address);
    const discipline = this.sid(listener.discipline);

    let bytes = HEADER_BYTES;
    const fresh = this.fresh;
    for (let i = 0; i < fresh.length; i++) bytes += 4 + 2 * Math.min(fresh[i]!.length, MAX_INTERNED_LENGTH);
    const sqosOffset = bytes;
    if (sqosJson !== null) bytes += 2 * sqosJson.length;
    const dataOffset = bytes;

    refreshHeap(this.host.memory);
    const base = this.sharedPtr;
    const f = heapF64;
    const h = base >> 3;
    f[h + Slot.id] = req.id;
    f[h + Slot.callerFamily] = callerFamily;
    f[h + Slot.callerAddress] = callerAddress;
    f[h + Slot.callerPort] = caller.port;
    f[h + Slot.calleeFamily] = calleeFamily;
    f[h + Slot.calleeAddress] = calleeAddress;
    f[h + Slot.calleePort] = callee.port;
    f[h + Slot.callerDataSource] = source;
    f[h + Slot.attempt] = req.attempt;
    f[h + Slot.queueKernel] = queue.kernel === null ? NaN : queue.kernel;
    f[h + Slot.queueHeld] = queue.held;
    f[h + Slot.queueDeferred] = queue.deferred;
    f[h + Slot.listenerId] = listener.id;
    f[h + Slot.listenerAddress] = listenerAddress;
    f[h + Slot.listenerPort] = listener.port;
    f[h + Slot.listenerDiscipline] = discipline;
    f[h + Slot.callbackData] = req.callbackData;
    f[h + Slot.dataLength] = dataLength;
    f[h + Slot.dataOffset] = dataOffset;
    f[h + Slot.sqosLength] = sqosJson === null ? -1 : sqosJson.length;
    f[h + Slot.sqosOffset] = sqosOffset >> 1;
    f[h + Slot.newStringCount] = fresh.length;
    f[h + Slot.newStringOffset] = HEADER_BYTES >> 1;
    f[h + Slot.resetStrings] = this.resetStrings ? 1 : 0;
    this.resetStrings = false;
    if (fresh.length !== 0) {
      const u16 = heapU16;
      let at = (base + HEADER_BYTES) >> 1;
      for (let i = 0; i < fresh.length; i++) {
        const s = fresh[i]!;
        const n = Math.min(s.length, MAX_INTERNED_LENGTH);
        u16[at] = this.ids.get(s)!;
        u16[at + 1] = n;
        at += 2;
        for (let k = 0; k < n; k++) u16[at + k] = s.charCodeAt(k);
        at += n;
      }
    }
    if (sqosJson !== null) heapBytes.write(sqosJson, base + sqosOffset, 2 * sqosJson.length, 'utf16le');
    if (data && dataLength !== 0) heapU8.set(data, base + dataOffset);
  }

  /** Gives the prelude a (bigger) buffer in the wasm heap that both sides can address. */
  private growShared(needed: number): void {
    if (needed > MAX_SHARED_BYTES) {
      throw new SharedBufferError(`request too large for the sandbox (${needed} bytes, at most ${MAX_SHARED_BYTES})`);
    }
    let bytes = Math.max(INITIAL_SHARED_BYTES, this.sharedBytes * 2);
    while (bytes < needed) bytes *= 2;
    this.arm(performance.now() + HELPER_BUDGET_MS);
    const { ffi, emscripten } = this.host;
    const pointer = emscripten._malloc(bytes);
    if (!pointer) throw new SharedBufferError('out of wasm memory for the request buffer');
    // QuickJS owns the block from here on (freed with the ArrayBuffer).
    const buffer = ffi.QTS_NewArrayBuffer(this.ctxPtr, pointer, bytes);
    const exception = ffi.QTS_ResolveException(this.ctxPtr, buffer);
    if (exception !== 0) {
      ffi.QTS_FreeValuePointer(this.ctxPtr, exception);
      ffi.QTS_FreeValuePointer(this.ctxPtr, buffer);
      throw new SharedBufferError('QuickJS could not allocate the request buffer');
    }
    let ok: number;
    try {
      ok = this.callNumber(this.fns!.setShared, [buffer]);
    } finally {
      ffi.QTS_FreeValuePointer(this.ctxPtr, buffer);
    }
    if (ok !== 1) throw new SharedBufferError('QuickJS could not map the request buffer (out of memory?)');
    this.sharedPtr = pointer;
    this.sharedBytes = bytes;
    // The new block is empty: send every string again.
    this.ids.clear();
    this.resetStrings = true;
  }

  // --- slow-path helpers ---------------------------------------------------------------------

  /**
   * Calls a prelude function with raw value pointers. Returns the result pointer (caller frees),
   * or 0 when QuickJS threw (the exception is freed). Throws HostFailure if V8 threw.
   */
  private callRaw(fn: QuickJSHandle, args: number[]): number {
    const { ffi, memory } = this.host;
    refreshHeap(memory);
    for (let i = 0; i < args.length; i++) heapI32[(this.argv >> 2) + i] = args[i]!;
    let value: number;
    try {
      value = ffi.QTS_Call(this.ctxPtr, fn.value as unknown as number, this.undefinedPtr, args.length, this.argv);
    } catch (error) {
      this.hostFailed(error);
      throw new HostFailure(this.hostFailureMessage);
    }
    const exception = ffi.QTS_ResolveException(this.ctxPtr, value);
    if (exception !== 0) {
      ffi.QTS_FreeValuePointer(this.ctxPtr, exception);
      ffi.QTS_FreeValuePointer(this.ctxPtr, value);
      return 0;
    }
    return value;
  }

  private callNumber(fn: QuickJSHandle, args: number[]): number {
    const value = this.callRaw(fn, args);
    if (value === 0) return NaN;
    const n = this.host.ffi.QTS_GetFloat64(this.ctxPtr, value);
    this.host.ffi.QTS_FreeValuePointer(this.ctxPtr, value);
    return n;
  }

  private callString(fn: QuickJSHandle, args: number[]): string | null {
    const value = this.callRaw(fn, args);
    if (value === 0) return null;
    const { ffi, memory } = this.host;
    try {
      const chars = ffi.QTS_GetString(this.ctxPtr, value);
      if (!chars) return null;
      refreshHeap(memory);
      const end = heapU8.indexOf(0, chars);
      const text = Buffer.from(heapU8.buffer, chars, (end < 0 ? heapU8.length : end) - chars).toString('utf8');
      ffi.QTS_FreeCString(this.ctxPtr, chars);
      return text;
    } finally {
      ffi.QTS_FreeValuePointer(this.ctxPtr, value);
    }
  }

  /** Logs and extras the prelude holds (fresh helper budget). */
  take(): Extras | null {
    this.arm(performance.now() + HELPER_BUDGET_MS);
    return parseExtras(this.callString(this.fns!.take, []));
  }

  takeLogs(): string[] {
    try {
      return logsOf(this.take());
    } catch (error) {
      if (error instanceof HostFailure) return [];
      throw error;
    }
  }

  private describePointer(pointer: number): ErrorInfo | undefined {
    this.arm(performance.now() + HELPER_BUDGET_MS);
    const json = this.callString(this.fns!.describe, [pointer]);
    if (json === null) return undefined;
    try {
      return parseErrorInfo(JSON.parse(json));
    } catch {
      return undefined;
    }
  }

  private describeHandle(handle: QuickJSHandle): ErrorInfo | undefined {
    if (!this.fns) return undefined;
    try {
      return this.describePointer(handle.value as unknown as number);
    } catch (error) {
      if (error instanceof HostFailure) return undefined;
      throw error;
    }
  }

  /** Describes (and frees) the exception left by invoke(). */
  describeEscaped(): ErrorInfo | undefined {
    const pointer = this.escaped;
    this.escaped = 0;
    try {
      return this.describePointer(pointer);
    } finally {
      if (!this.poisoned) this.host.ffi.QTS_FreeValuePointer(this.ctxPtr, pointer);
    }
  }

  /** After an out-of-memory error: can the instance still allocate a little? */
  probe(): boolean {
    this.arm(performance.now() + HELPER_BUDGET_MS);
    return this.callNumber(this.fns!.probe, []) > 0;
  }

  /**
   * Runs promise jobs the call queued, within what is left of its budget: null when there were
   * none, '' when they all ran, or a note for the log when the budget stopped them (the rest run
   * after the next call).
   */
  drainJobs(deadline: number): string | null {
    if (!this.rt.hasPendingJob()) return null;
    this.arm(deadline);
    while (this.rt.hasPendingJob()) {
      if (performance.now() > deadline) break;
      const result = this.guard(() => this.rt.executePendingJobs(JOBS_PER_BATCH));
      result.dispose();
      if (this.interrupted || this.memoryInterrupted) break;
    }
    if (!this.rt.hasPendingJob()) return '';
    return this.memoryInterrupted
      ? '[sandbox] promise jobs were stopped: they grew the heap past the memory limit'
      : '[sandbox] promise jobs were stopped: the time budget ran out';
  }

  /** Sets the deadline (and the heap baseline) for the next call into QuickJS. */
  arm(deadline: number): void {
    this.deadline = deadline;
    this.interrupted = false;
    this.memoryInterrupted = false;
    this.heapAtStart = this.host.memory.buffer.byteLength;
  }

  /**
   * Whether the script's memory should be measured after a call that ran `elapsedMs`: when the
   * call grew the wasm heap, or after every few milliseconds of run time (a call can only
   * allocate so much per millisecond).
   */
  dueForMemoryCheck(elapsedMs: number): boolean {
    this.sinceMemoryCheckMs += elapsedMs;
    return this.sinceMemoryCheckMs >= this.memoryCheckIntervalMs || this.host.memory.buffer.byteLength !== this.heapAtCallStart;
  }

  /**
   * Bytes the runtime uses (JS_ComputeMemoryUsage: walks the heap, 30 µs when small). `nested`:
   * called from the interrupt handler, i.e. with QuickJS frames active below.
   */
  memoryUsed(nested = false): number {
    const started = performance.now();
    const { ffi } = this.host;
    const ctxPtr = this.ctxPtr;
    let usage: number;
    this.measuring = true;
    try {
      usage = ffi.QTS_RuntimeComputeMemoryUsage(this.rtPtr, ctxPtr);
    } catch (error) {
      // Nested: the wasm frames below restore the shadow stack as they return; just stop the call.
      if (nested) return Infinity;
      this.hostFailed(error);
      throw new HostFailure(this.hostFailureMessage);
    } finally {
      this.measuring = false;
    }
    let used = NaN;
    if (usage !== 0 && ffi.QTS_ResolveException(ctxPtr, usage) === 0) {
      const value = ffi.QTS_GetProp(ctxPtr, usage, this.usageKey!.value as unknown as number);
      if (value !== 0 && ffi.QTS_ResolveException(ctxPtr, value) === 0) used = ffi.QTS_GetFloat64(ctxPtr, value);
      if (value !== 0) ffi.QTS_FreeValuePointer(ctxPtr, value);
    }
    if (usage !== 0) ffi.QTS_FreeValuePointer(ctxPtr, usage);
    const finished = performance.now();
    const cost = finished - started;
    this.lastMemoryCheckAt = finished;
    this.sinceMemoryCheckMs = 0;
    this.memoryCheckIntervalMs = Math.max(MEMORY_CHECK_MIN_INTERVAL_MS, cost * MEMORY_CHECK_COST_RATIO);
    // Could not even measure: treat as exhausted.
    return Number.isFinite(used) ? used : Infinity;
  }

  // --- failure and teardown ------------------------------------------------------------------

  /** Runs a wrapper call; a V8 exception out of the wasm code poisons the instance. */
  private guard<T>(body: () => T, compile = false): T {
    try {
      return body();
    } catch (error) {
      if (error instanceof ScriptCompileError || error instanceof HostFailure) throw error;
      this.hostFailed(error);
      if (compile) {
        throw new ScriptCompileError(
          this.filename, 1, 1,
          `${this.hostFailureMessage} (nesting too deep for the parser?)`, 'stack',
        );
      }
      throw new HostFailure(this.hostFailureMessage);
    }
  }

  private hostFailed(error: unknown): void {
    this.poisoned = true;
    const { shadowStack, shadowStackTop } = this.host;
    if (shadowStack) shadowStack.restore(shadowStackTop);
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.hostFailureMessage =
      error instanceof RangeError
        ? `host stack exhausted inside QuickJS (${detail})`
        : `QuickJS engine failure (${detail})`;
  }

  /** Drops a poisoned instance without calling into QuickJS (its memory is lost). */
  abandon(): void {
    this.disposed = true;
    this.fns = null;
    this.usageKey = null;
    this.ctx = null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.poisoned) return this.abandon();
    if (this.fns) {
      for (const handle of Object.values(this.fns)) handle.dispose();
      this.fns = null;
    }
    this.usageKey?.dispose();
    this.usageKey = null;
    this.ctx?.dispose();
    this.ctx = null;
    this.rt.dispose();
    if (this.argv) this.host.emscripten._free(this.argv);
    this.argv = 0;
  }
}

class SharedBufferError extends Error {}

/**
 * Frees an instance; a poisoned one is only dropped. QuickJS aborts on a runtime that still has
 * live objects (a leaked handle, i.e. a bug here): that is reported as a warning rather than
 * thrown at the engine, and the instance is dropped.
 */
function disposeQuietly(instance: Instance): void {
  if (instance.poisoned) {
    instance.abandon();
    return;
  }
  try {
    instance.dispose();
  } catch (error) {
    instance.abandon();
    process.emitWarning(`QuickJS runtime could not be freed: ${error instanceof Error ? error.message : String(error)}`, 'SandboxWarning');
  }
}

/** Line/column of the first quoted occurrence of `specifier` (for blocked imports). */
function positionOf(source: string, specifier: string): { line: number; column: number } {
  let at = -1;
  for (const quote of ["'", '"']) {
    const i = source.indexOf(quote + specifier + quote);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at < 0) return { line: 1, column: 1 };
  const before = source.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - (before.lastIndexOf('\n') + 1) + 1 };
}

// ---------------------------------------------------------------------------------------------
// The script as the engine sees it: survives instance rebuilds

class QuickJSConditionScript implements ConditionScript {
  private instance: Instance | null;
  private brokenMessage = '';
  private restartCount = 0;
  private isDisposed = false;

  constructor(
    private readonly host: QuickJSHost,
    private readonly source: string,
    readonly filename: string,
    readonly limits: Readonly<Required<SandboxLimits>>,
    instance: Instance,
    readonly compileLogs: readonly string[],
  ) {
    this.instance = instance;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  run(req: ConditionRequest, opts: ScriptRunOptions): ScriptCallResult {
    const t0 = performance.now();
    const { budgetMs, fallback } = opts;
    if (typeof budgetMs !== 'number' || !(budgetMs > 0) || !Number.isFinite(budgetMs)) {
      throw new RangeError(`budgetMs must be a positive number, got ${budgetMs}`);
    }
    if (!VERDICTS.includes(fallback)) throw new TypeError(`fallback must be accept, reject or defer, got ${String(fallback)}`);
    if (this.isDisposed) throw new Error(`condition script ${this.filename} has been disposed`);

    const instance = this.instance;
    if (!instance) {
      return finish(t0, fallbackResult(fallback, { code: 'throw', message: this.brokenMessage }, []));
    }
    let result: ScriptCallResult;
    try {
      result = this.call(instance, req, t0, budgetMs, fallback, opts.sqosJson);
      // The instance may have been rebuilt by call(): then there is nothing left to check.
      if (this.instance === instance && instance.poisoned) {
        this.restart(result);
      } else if (this.instance === instance && instance.dueForMemoryCheck(performance.now() - t0)) {
        const used = instance.memoryUsed();
        if (used > this.limits.memoryLimit) {
          const usage = `the script instance uses ${formatBytes(used)}, over its memory limit of ${formatBytes(this.limits.memoryLimit)}`;
          if (result.error?.code === 'memory') result.error.message += `; ${usage}`;
          else result = fallbackResult(fallback, { code: 'memory', message: usage }, result.logs);
          this.restart(result, 'it used more memory than its limit');
        }
      }
    } catch (error) {
      // Only sandbox failures get here (the script's own errors are results): a request the
      // buffer cannot take, V8 throwing out of QuickJS, or a malformed `req`.
      const message = error instanceof Error ? error.message : String(error);
      const code: ScriptErrorCode =
        error instanceof SharedBufferError ? 'memory'
          : instance.poisoned && instance.hostFailureMessage.startsWith('host stack') ? 'stack'
            : 'throw';
      result = fallbackResult(fallback, { code, message: instance.poisoned ? message : `sandbox: ${message}` }, []);
      if (instance.poisoned && this.instance === instance) this.restart(result);
    }
    return finish(t0, result);
  }

  private call(
    instance: Instance, req: ConditionRequest, t0: number, budgetMs: number, fallback: Verdict, sqosJson?: string | null,
  ): ScriptCallResult {
    const deadline = t0 + budgetMs;
    const code = instance.invoke(req, deadline, sqosJson);

    if (code === HOST_FAILURE) {
      const result = fallbackResult(fallback, {
        code: instance.hostFailureMessage.startsWith('host stack') ? 'stack' : 'throw',
        message: instance.hostFailureMessage,
      }, []);
      this.restart(result);
      return result;
    }

    if (code === ESCAPED) {
      // An uncatchable interrupt, or the prelude's catch could not run (memory).
      const { interrupted, memoryInterrupted } = instance;
      const info = instance.describeEscaped();
      const jobNote = instance.drainJobs(deadline);
      const logs = instance.takeLogs();
      if (jobNote) logs.push(jobNote);
      const kind = memoryInterrupted ? ErrorClass.memory : interrupted ? ErrorClass.timeout : info?.k ?? ErrorClass.memory;
      const result = this.failure(
        fallback, kind,
        memoryInterrupted ? { k: ErrorClass.memory, m: 'the call took more memory than the limit allows and was stopped' } : info,
        logs, budgetMs,
      );
      if (kind === ErrorClass.memory) this.checkMemory(instance, result);
      return result;
    }

    const jobNote = instance.drainJobs(deadline);
    if (!(Number.isInteger(code) && code >= 0 && code < 128)) {
      return fallbackResult(fallback, {
        code: 'invalid-verdict', message: 'sandbox protocol error (did the script replace built-ins?)',
      }, instance.takeLogs());
    }
    const extras = (code & Result.extras) !== 0 || jobNote !== null ? instance.take() : null;
    const logs = logsOf(extras);
    if (jobNote) logs.push(jobNote);
    const kind = code >> Result.errorShift;
    if (kind !== ErrorClass.none) {
      const result = this.failure(fallback, kind, extras?.e, logs, budgetMs);
      if (kind === ErrorClass.memory) this.checkMemory(instance, result);
      return result;
    }

    const result: ScriptCallResult = {
      verdict: VERDICTS[code & Result.verdictMask] ?? fallback,
      ask: (code & Result.ask) !== 0,
      by: 'script',
      logs,
      conditionUs: 0,
    };
    if (extras?.cd !== undefined) {
      const bytes = Buffer.from(extras.cd, extras.enc);
      if (bytes.length > MAX_CALLEE_DATA) {
        return fallbackResult(fallback, {
          code: 'invalid-verdict', message: `calleeData is ${bytes.length} bytes, at most ${MAX_CALLEE_DATA} are allowed`,
        }, logs);
      }
      result.calleeData = new Uint8Array(bytes);
    }
    if (extras?.g !== undefined) result.group = extras.g;
    return result;
  }

  private failure(
    fallback: Verdict, kind: number, info: ErrorInfo | undefined, logs: string[], budgetMs: number,
  ): ScriptCallResult {
    const code = ERROR_CODES[kind] ?? 'throw';
    let message = info?.m ?? (code === 'memory' ? 'out of memory' : 'the script failed (no details available)');
    if (code === 'timeout') message = `time budget of ${budgetMs} ms exhausted (${message})`;
    else if (code === 'memory') message = `${message} (memory limit ${formatBytes(this.limits.memoryLimit)})`;
    else if (code === 'stack') message = `${message} (stack limit ${formatBytes(this.limits.maxStackSize)})`;
    const error: ScriptError = { code, message };
    if (info?.l !== undefined) {
      error.line = info.l;
      error.column = info.c ?? 1;
    }
    return fallbackResult(fallback, error, logs);
  }

  /** After 'memory': keep the instance if it can still allocate, else rebuild it. */
  private checkMemory(instance: Instance, result: ScriptCallResult): void {
    let healthy = false;
    try {
      healthy = instance.probe() && instance.memoryUsed() <= this.limits.memoryLimit;
    } catch (error) {
      if (!(error instanceof HostFailure)) throw error;
    }
    if (!healthy) this.restart(result, 'its memory stayed exhausted');
  }

  private restart(result: ScriptCallResult, why?: string): void {
    const old = this.instance;
    this.instance = null;
    if (old) disposeQuietly(old);
    const reason = why ?? 'its QuickJS state could not be trusted any more';
    try {
      this.instance = Instance.create(this.host, this.source, this.filename, this.limits).instance;
      this.restartCount += 1;
      result.restarted = true;
      if (result.error) result.error.message += `; the script instance was rebuilt because ${reason} (ctx.state was reset)`;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.brokenMessage = `the script instance could not be rebuilt (${detail}); every call gives the fallback verdict until the script is replaced`;
      if (result.error) result.error.message += `; ${this.brokenMessage}`;
    }
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    const instance = this.instance;
    this.instance = null;
    if (instance) disposeQuietly(instance);
  }
}

function fallbackResult(fallback: Verdict, error: ScriptError, logs: string[]): ScriptCallResult {
  return { verdict: fallback, ask: false, by: 'fallback', error, logs, conditionUs: 0 };
}

function finish(t0: number, result: ScriptCallResult): ScriptCallResult {
  result.conditionUs = (performance.now() - t0) * 1000;
  return result;
}
