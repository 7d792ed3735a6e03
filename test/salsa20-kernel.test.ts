import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileKernel, KERNELS, renderBytesModule } from '../scripts/build-wasm-kernels.js';
import { salsa20KernelBase64 } from '../src/crypt/salsa20-kernel-bytes.js';
import { Salsa20Crypt } from '../src/crypt/stream-crypts.js';
import { Prng } from '../src/prng.js';
import { instantiateKernel } from '../src/wasm.js';
import { checkProperty } from './helpers/properties.js';

/** Salsa20/20 block function straight from the specification, with a 64-bit block counter. */
function referenceBlock(input: Uint32Array): Uint32Array {
  const x = input.slice();
  const r = (v: number, n: number) => (v << n) | (v >>> (32 - n));
  const qr = (a: number, b: number, c: number, d: number) => {
    x[b]! ^= r((x[a]! + x[d]!) | 0, 7);
    x[c]! ^= r((x[b]! + x[a]!) | 0, 9);
    x[d]! ^= r((x[c]! + x[b]!) | 0, 13);
    x[a]! ^= r((x[d]! + x[c]!) | 0, 18);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12), qr(5, 9, 13, 1), qr(10, 14, 2, 6), qr(15, 3, 7, 11);
    qr(0, 1, 2, 3), qr(5, 6, 7, 4), qr(10, 11, 8, 9), qr(15, 12, 13, 14);
  }
  return x.map((v, i) => (v + input[i]!) >>> 0);
}

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
    checkProperty(
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
        // it did encrypt: 16 bytes past the nonce all equal to the plaintext by chance is 2^-128
        // (a shorter tail matches by chance too often: one byte does 1 time in 256)
        if (len >= 8 + 16) expect(got.subarray(8)).not.toEqual(src.subarray(8));
        // and decrypts back
        wasm.decrypt(got, got);
        expect(got).toEqual(src);
      }),
      { numRuns: 400, seed: 20 }
    );
  });

  it('the kernel carries its 64-bit block counter across the 2^32 boundary, in the 4-block and 1-block paths', () => {
    const k = instantiateKernel<{ memory: { buffer: ArrayBuffer }; xor(len: number): void }>(salsa20KernelBase64)!;
    const heap = new Uint8Array(k.memory.buffer);
    const words = new DataView(k.memory.buffer);
    const prng = new Prng(3);
    for (const [lo, len] of [[0xfffffffe, 640], [0xffffffff, 64 * 5 + 13], [0xfffffffd, 256], [0xfffffffc, 1500]] as const) {
      const input = new Uint32Array(16);
      for (let i = 0; i < 16; i++) input[i] = prng.int(0, 0xffffffff) >>> 0;
      input[8] = lo;
      input[9] = 0x12345678;
      for (let i = 0; i < 16; i++) words.setUint32(4 * i, input[i]!, true);
      const data = prng.bytes(len);
      heap.set(data, 128);
      k.xor(len);
      const want = data.slice();
      for (let b = 0; b * 64 < len; b++) {
        const block = input.slice();
        const counter = BigInt(lo) + BigInt(b) + (BigInt(input[9]!) << 32n);
        block[8] = Number(counter & 0xffffffffn);
        block[9] = Number((counter >> 32n) & 0xffffffffn);
        const ks = referenceBlock(block);
        for (let j = 0; j < 64 && b * 64 + j < len; j++) want[b * 64 + j]! ^= (ks[j >> 2]! >>> (8 * (j & 3))) & 0xff;
      }
      expect(heap.slice(128, 128 + len), `counter ${lo.toString(16)}, ${len} bytes`).toEqual(want);
    }
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
