/**
 * The WebAssembly SIMD multiply-accumulate kernel (rs-kernel.wat) behind the Reed-Solomon codec,
 * with a fixed memory the codec copies shards into: 32-byte split-nibble tables for all 256
 * coefficients, then one 1504-byte slot per shard (256 of them). The memory never grows, so the
 * views on it stay valid. One instance serves the whole process (the work is synchronous).
 * Where WebAssembly SIMD is missing, `simdKernel()` returns null and the codec's TypeScript loops
 * do the work.
 * @module
 */
import { MUL } from './gf256.js';
import { instantiateKernel } from '../wasm.js';
import { rsKernelBase64 } from './rs-kernel-bytes.js';

/** Bytes per shard slot: 1500 rounded up to the 16-byte vector width. */
export const SLOT = 1504;
const TABLES = 256 * 32;

interface Exports {
  memory: { buffer: ArrayBuffer };
  mulSet(table: number, src: number, dst: number, n: number): void;
  mulAdd(table: number, src: number, dst: number, n: number): void;
}

export class SimdKernel {
  /** The kernel's memory: tables at 0, shard slots from `slot(0)`. */
  readonly heap: Uint8Array;

  constructor(private readonly exports: Exports) {
    this.heap = new Uint8Array(exports.memory.buffer);
    if (this.heap.length < TABLES + 256 * SLOT) throw new RangeError('rs-kernel: memory too small');
    for (let c = 0; c < 256; c++) {
      for (let i = 0; i < 16; i++) {
        this.heap[c * 32 + i] = MUL[(c << 8) | i]!;
        this.heap[c * 32 + 16 + i] = MUL[(c << 8) | (i << 4)]!;
      }
    }
  }

  /** Byte offset of shard slot `i` (0..255). */
  slot(i: number): number {
    return TABLES + i * SLOT;
  }

  /** slot `dst` = c · slot `src`, over `n` bytes rounded up to 16. */
  mulSet(c: number, src: number, dst: number, n: number): void {
    this.exports.mulSet(c * 32, this.slot(src), this.slot(dst), (n + 15) & ~15);
  }

  /** slot `dst` ^= c · slot `src`, over `n` bytes rounded up to 16. */
  mulAdd(c: number, src: number, dst: number, n: number): void {
    this.exports.mulAdd(c * 32, this.slot(src), this.slot(dst), (n + 15) & ~15);
  }
}

let kernel: SimdKernel | null | undefined;

/** The process's SIMD kernel, or null where WebAssembly SIMD is not available. */
export function simdKernel(): SimdKernel | null {
  if (kernel !== undefined) return kernel;
  const exports = instantiateKernel<Exports>(rsKernelBase64);
  kernel = exports === null ? null : new SimdKernel(exports); // null: no SIMD here, the TypeScript loops take over
  return kernel;
}
