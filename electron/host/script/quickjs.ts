// Loads the QuickJS WebAssembly module once per process and exposes the few low-level entry
// points the sandbox's hot path uses directly (the wrapper classes allocate several objects per
// call, which costs more than the call itself).
//
// Everything here depends on quickjs-emscripten-core / @jitl/quickjs-wasmfile-release-sync
// 0.32.0 (pinned exactly in package.json). The checks in `verifyRaw` fail loudly at load time if
// an upgrade changes the internals used here, rather than misbehaving on the accept path.

import * as fs from 'node:fs';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSRuntime,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';

/** The FFI functions used with raw pointers (all pointers are numbers in wasm32). */
export interface RawFfi {
  QTS_Call(ctx: number, fn: number, thisVal: number, argc: number, argv: number): number;
  QTS_RuntimeComputeMemoryUsage(rt: number, ctx: number): number;
  QTS_GetProp(ctx: number, object: number, key: number): number;
  QTS_ResolveException(ctx: number, maybeException: number): number;
  QTS_GetFloat64(ctx: number, value: number): number;
  QTS_FreeValuePointer(ctx: number, value: number): void;
  QTS_NewArrayBuffer(ctx: number, buffer: number, length: number): number;
  QTS_GetString(ctx: number, value: number): number;
  QTS_FreeCString(ctx: number, str: number): void;
}

// The root tsconfig has no DOM lib and @types/node 20 does not declare WebAssembly: the few
// pieces used here are typed locally.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
type WasmExports = Record<string, unknown>;
interface WasmInstance {
  readonly exports: WasmExports;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<WasmInstance>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface RawEmscriptenModule {
  _malloc(size: number): number;
  _free(ptr: number): void;
}

/**
 * Restores the wasm shadow-stack pointer. V8 throws its own RangeError when deep native recursion
 * inside QuickJS exhausts the *host* stack; wasm code does not unwind then, so the shadow-stack
 * pointer stays where the recursion left it. Without a reset every such event would leak up to
 * the QuickJS stack limit from the module's 5 MiB shadow stack.
 */
export interface ShadowStack {
  current(): number;
  restore(sp: number): void;
}

export interface QuickJSHost {
  readonly module: QuickJSWASMModule;
  readonly ffi: RawFfi;
  readonly emscripten: RawEmscriptenModule;
  readonly memory: WasmMemory;
  /** Maximum size of the wasm memory that every QuickJS runtime of the process shares, bytes. */
  readonly memoryCap: number;
  /** null when the pinned build's stack helpers could not be identified (then nothing is reset). */
  readonly shadowStack: ShadowStack | null;
  /** Shadow-stack pointer when no QuickJS code is running. */
  readonly shadowStackTop: number;
  contextPointer(context: QuickJSContext): number;
  runtimePointer(runtime: QuickJSRuntime): number;
}

export interface QuickJSLoadOptions {
  /**
   * Hard cap on the wasm memory shared by all scripts of the process (default 512 MiB). The
   * per-script memory limit is only enforced approximately (see sandbox.ts); this cap is what
   * bounds what scripts can take from the host. Only the first load's value counts.
   */
  memoryCap?: number;
}

export const DEFAULT_MEMORY_CAP = 512 * 1024 * 1024;
const WASM_PAGE = 65536;
/** The module's declared initial memory (INITIAL_MEMORY, 16 MiB). */
const INITIAL_PAGES = 256;

// Minified export names of emscripten's stack helpers in the pinned build
// (`_emscripten_stack_get_current` and `_emscripten_stack_restore`).
const PINNED_VARIANT_VERSION = '0.32.0';
const STACK_GET_CURRENT_EXPORT = 'Oa';
const STACK_RESTORE_EXPORT = 'Ma';

let loading: Promise<QuickJSHost> | undefined;
let loaded: QuickJSHost | undefined;

/** Loads the module once; later calls return the same promise. */
export function loadQuickJS(options: QuickJSLoadOptions = {}): Promise<QuickJSHost> {
  if (!loading) {
    const memoryCap = options.memoryCap ?? DEFAULT_MEMORY_CAP;
    if (!Number.isInteger(memoryCap) || memoryCap < 32 * 1024 * 1024 || memoryCap > 2048 * 1024 * 1024) {
      return Promise.reject(new RangeError(`memoryCap must be an integer from 32 MiB to 2 GiB (bytes), got ${memoryCap}`));
    }
    loading = load(memoryCap).then(
      (host) => {
        loaded = host;
        return host;
      },
      (error: unknown) => {
        loading = undefined; // allow a retry after e.g. a transient file error
        throw error;
      },
    );
  }
  return loading;
}

/** The module if `loadQuickJS()` has completed, else undefined. */
export function loadedQuickJS(): QuickJSHost | undefined {
  return loaded;
}

async function load(memoryCap: number): Promise<QuickJSHost> {
  const wasmPath = require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm');
  const wasmModule = await wasmApi.compile(await fs.promises.readFile(wasmPath));
  let instanceExports: WasmExports | undefined;
  let failInstantiate: (error: unknown) => void = () => undefined;
  const instantiateFailed = new Promise<never>((_, reject) => {
    failInstantiate = reject;
  });
  // Instantiate ourselves so that the instance's exports (the stack helpers) are reachable.
  const wasmMemory = new wasmApi.Memory({ initial: INITIAL_PAGES, maximum: Math.floor(memoryCap / WASM_PAGE) });
  const variant = newVariant(releaseSyncVariant, {
    wasmMemory: wasmMemory as never,
    emscriptenModule: {
      instantiateWasm(imports, onSuccess) {
        wasmApi.instantiate(wasmModule, imports as object).then((instance) => {
          instanceExports = instance.exports;
          onSuccess(instance as never);
        }, failInstantiate);
        return {} as never;
      },
    },
  });
  const module = await Promise.race([newQuickJSWASMModuleFromVariant(variant), instantiateFailed]);
  const ffi = module.getFFI() as unknown as RawFfi & { module?: RawEmscriptenModule };
  const emscripten = ffi.module;
  const memory: WasmMemory = module.getWasmMemory();
  if (!emscripten || typeof emscripten._malloc !== 'function' || typeof emscripten._free !== 'function') {
    throw new Error('quickjs-emscripten internals changed: FFI module has no _malloc/_free');
  }
  verifyRaw(ffi);
  const shadowStack = findShadowStack(instanceExports, memory);
  return {
    module,
    ffi,
    emscripten,
    memory,
    memoryCap,
    shadowStack,
    shadowStackTop: shadowStack ? shadowStack.current() : 0,
    contextPointer(context: QuickJSContext): number {
      const pointer = (context as unknown as { ctx?: { value?: unknown } }).ctx?.value;
      if (typeof pointer !== 'number' || pointer <= 0) {
        throw new Error('quickjs-emscripten internals changed: QuickJSContext has no ctx pointer');
      }
      return pointer;
    },
    runtimePointer(runtime: QuickJSRuntime): number {
      const pointer = (runtime as unknown as { rt?: { value?: unknown } }).rt?.value;
      if (typeof pointer !== 'number' || pointer <= 0) {
        throw new Error('quickjs-emscripten internals changed: QuickJSRuntime has no rt pointer');
      }
      return pointer;
    },
  };
}

function verifyRaw(ffi: RawFfi): void {
  const names: (keyof RawFfi)[] = [
    'QTS_Call',
    'QTS_RuntimeComputeMemoryUsage',
    'QTS_GetProp',
    'QTS_ResolveException',
    'QTS_GetFloat64',
    'QTS_FreeValuePointer',
    'QTS_NewArrayBuffer',
    'QTS_GetString',
    'QTS_FreeCString',
  ];
  for (const name of names) {
    if (typeof ffi[name] !== 'function') {
      throw new Error(`quickjs-emscripten internals changed: FFI has no ${name}`);
    }
  }
}

function findShadowStack(exportsObject: WasmExports | undefined, memory: WasmMemory): ShadowStack | null {
  try {
    const pkg = require('@jitl/quickjs-wasmfile-release-sync/package.json') as { version?: string };
    if (pkg.version !== PINNED_VARIANT_VERSION || !exportsObject) return null;
    const current = exportsObject[STACK_GET_CURRENT_EXPORT];
    const restore = exportsObject[STACK_RESTORE_EXPORT];
    if (typeof current !== 'function' || typeof restore !== 'function') return null;
    if (current.length !== 0 || restore.length !== 1) return null;
    const sp = (current as () => unknown)();
    if (typeof sp !== 'number' || sp <= 0 || sp % 16 !== 0 || sp > memory.buffer.byteLength) return null;
    return {
      current: current as () => number,
      restore: restore as (sp: number) => void,
    };
  } catch {
    return null;
  }
}
