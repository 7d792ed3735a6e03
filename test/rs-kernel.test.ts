import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileKernel, KERNELS, renderBytesModule } from '../scripts/build-wasm-kernels.js';
import { ReedSolomon } from '../src/fec/reed-solomon.js';
import { rsKernelBase64 } from '../src/fec/rs-kernel-bytes.js';
import { simdKernel } from '../src/fec/rs-kernel.js';
import { Prng } from '../src/prng.js';
import { checkProperty } from './helpers/properties.js';

describe('WebAssembly SIMD Reed-Solomon kernel', () => {
  it('the embedded module is exactly what rs-kernel.wat compiles to', async () => {
    const bytes = await compileKernel(KERNELS.rs);
    expect(Buffer.from(bytes).toString('base64')).toBe(rsKernelBase64);
    expect(renderBytesModule(KERNELS.rs, bytes)).toContain(rsKernelBase64);
  });

  it('loads on this Node (WebAssembly SIMD available)', () => {
    expect(simdKernel()).not.toBeNull();
    expect(new ReedSolomon(10, 3).kernel).not.toBeNull();
    expect(new ReedSolomon(10, 3, false).kernel).toBeNull();
  });

  it('encodes and reconstructs exactly as the TypeScript loops, for random geometries and lengths', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 1500 }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        (ds, ps, len, seed) => {
          const prng = new Prng(seed);
          const simd = new ReedSolomon(ds, ps);
          const plain = new ReedSolomon(ds, ps, false);
          const data = Array.from({ length: ds }, () => prng.bytes(len));
          const p1 = Array.from({ length: ps }, () => new Uint8Array(len));
          const p2 = Array.from({ length: ps }, () => new Uint8Array(len));
          simd.encode(data, p1, len);
          plain.encode(data, p2, len);
          if (p1.some((p, j) => Buffer.compare(Buffer.from(p), Buffer.from(p2[j]!)) !== 0)) return false;
          const shards: (Uint8Array | null)[] = [...data, ...p1];
          for (let k = 0; k < ps; k++) shards[prng.int(0, ds + ps - 1)] = null;
          const copy = [...shards];
          simd.reconstructData(shards, len);
          plain.reconstructData(copy, len);
          return data.every((d, i) => Buffer.compare(Buffer.from(shards[i]!), Buffer.from(d)) === 0 && Buffer.compare(Buffer.from(copy[i]!), Buffer.from(d)) === 0);
        }
      ),
      { numRuns: 150, seed: 16 }
    );
  });
});
