/**
 * Instantiating rxkcp's embedded WebAssembly kernels (the Reed-Solomon SIMD kernel, the Salsa20
 * kernel): synchronously, from base64, with no imports. Returns null where WebAssembly (or a
 * feature a kernel uses) is missing, so callers fall back to their TypeScript paths.
 * @module
 */

/** The part of the WebAssembly JS API used here (not in the ES2022 lib typings). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The exports of the module in `base64`, or null when this runtime cannot run it. */
export function instantiateKernel<T>(base64: string): T | null {
  try {
    const bytes = decodeBase64(base64);
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (wasm === undefined || !wasm.validate(bytes)) return null;
    return new wasm.Instance(new wasm.Module(bytes), {}).exports as T;
  } catch {
    return null;
  }
}
