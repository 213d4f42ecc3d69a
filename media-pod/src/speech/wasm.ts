/**
 * The slice of the WebAssembly JS API this folder uses. The project compiles without the DOM
 * lib and @types/node 20 does not declare `WebAssembly`, so the global is typed here locally
 * (module-scoped, so it cannot clash if a lib that declares it is added later).
 */

/** A compiled module (opaque; structured-cloneable into worker threads). */
export interface WasmModule { readonly [Symbol.toStringTag]: string }
export interface WasmMemory { readonly buffer: ArrayBuffer }
export interface WasmInstance { readonly exports: Record<string, unknown> }

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: abstract new (...args: never[]) => WasmMemory;
}

export const Wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export function isWasmModule(x: unknown): x is WasmModule {
  return x instanceof (Wasm.Module as unknown as abstract new () => object);
}
