import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileKernel, KERNELS, renderBytesModule } from '../scripts/build-wasm-kernels.js';
import { salsa20KernelBase64 } from '../src/crypt/salsa20-kernel-bytes.js';
import { Salsa20Crypt } from '../src/crypt/stream-crypts.js';
import { Prng } from '../src/prng.js';

describe('WebAssembly Salsa20 kernel', () => {
  it('the embedded module is exactly what salsa20-kernel.wat compiles to', async () => {
    const bytes = await compileKernel(KERNELS.salsa20);
    expect(Buffer.from(bytes).toString('base64')).toBe(salsa20KernelBase64);
    expect(renderBytesModule(KERNELS.salsa20, bytes)).toContain(salsa20KernelBase64);
  });

  it('loads on this Node, and useKernel: false really takes the portable path', () => {
    expect(new Salsa20Crypt(new Uint8Array(32))['kernel']).toBeTruthy();
    expect(new Salsa20Crypt(new Uint8Array(32), false)['kernel']).toBeNull();
  });

  it('encrypts exactly as the portable path, for random keys, nonces and every length class', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 0x7fffffff }), fc.boolean(), (len, seed, inPlace) => {
        const prng = new Prng(seed);
        const key = prng.bytes(32);
        const src = prng.bytes(len);
        const want = new Uint8Array(len);
        new Salsa20Crypt(key, false).encrypt(want, src);
        const wasm = new Salsa20Crypt(key);
        const got = inPlace ? src.slice() : new Uint8Array(len);
        wasm.encrypt(got, inPlace ? got : src);
        expect(got).toEqual(want);
        if (len > 8) expect(got.subarray(8)).not.toEqual(src.subarray(8)); // it did encrypt
        // and decrypts back
        wasm.decrypt(got, got);
        expect(got).toEqual(src);
      }),
      { numRuns: 400, seed: 20 }
    );
  });

  it('block edges, interleaved keys and inputs beyond the kernel memory', () => {
    const prng = new Prng(7);
    const a = new Salsa20Crypt(prng.bytes(32));
    const b = new Salsa20Crypt(prng.bytes(20)); // short keys are zero-padded
    const refA = new Salsa20Crypt(a['key'], false);
    const refB = new Salsa20Crypt(b['key'], false);
    for (const len of [9, 71, 72, 73, 135, 136, 137, 1500, 70_000]) {
      for (const [c, ref] of [[a, refA], [b, refB], [a, refA]] as const) {
        const src = prng.bytes(len);
        const got = new Uint8Array(len);
        const want = new Uint8Array(len);
        c.encrypt(got, src);
        ref.encrypt(want, src);
        expect(got, `len ${len}`).toEqual(want);
      }
    }
  });
});
