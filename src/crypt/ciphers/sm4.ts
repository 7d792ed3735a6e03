/**
 * SM4 encryption as a `BlockCipher` (GB/T 32907-2016): 128-bit blocks and keys, 32 rounds of the
 * nonlinear τ (S-box) and linear L transforms, big-endian words. The portable counterpart of
 * OpenSSL's sm4 that `rxkcp/node` uses.
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { readU32BE, writeU32BE } from '../../wire/bytes.js';
import { SM4_CK, SM4_FK, SM4_SBOX } from './tables.js';

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));
const tau = (a: number) =>
  (SM4_SBOX[a >>> 24]! << 24) | (SM4_SBOX[(a >>> 16) & 0xff]! << 16) | (SM4_SBOX[(a >>> 8) & 0xff]! << 8) | SM4_SBOX[a & 0xff]!;

/** T for encryption rounds: L(τ(a)). */
const T = new Uint32Array(4 * 256); // τ+L folded per byte lane
for (let b = 0; b < 256; b++) {
  for (let lane = 0; lane < 4; lane++) {
    const x = SM4_SBOX[b]! << (24 - 8 * lane);
    T[lane * 256 + b] = x ^ rotl(x, 2) ^ rotl(x, 10) ^ rotl(x, 18) ^ rotl(x, 24);
  }
}

export class Sm4 implements BlockCipher {
  readonly blockSize = 16;
  private readonly rk = new Int32Array(32);

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`sm4: key must be 16 bytes, got ${key.length}`);
    const k = [0, 4, 8, 12].map((o, i) => (readU32BE(key, o) ^ SM4_FK[i]!) | 0);
    for (let i = 0; i < 32; i++) {
      const t = tau(k[i + 1]! ^ k[i + 2]! ^ k[i + 3]! ^ SM4_CK[i]!);
      k.push(k[i]! ^ t ^ rotl(t, 13) ^ rotl(t, 23));
      this.rk[i] = k[i + 4]!;
    }
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    let x0 = readU32BE(src, so) | 0;
    let x1 = readU32BE(src, so + 4) | 0;
    let x2 = readU32BE(src, so + 8) | 0;
    let x3 = readU32BE(src, so + 12) | 0;
    const rk = this.rk;
    for (let i = 0; i < 32; i++) {
      const a = x1 ^ x2 ^ x3 ^ rk[i]!;
      const t = T[a >>> 24]! ^ T[256 + ((a >>> 16) & 0xff)]! ^ T[512 + ((a >>> 8) & 0xff)]! ^ T[768 + (a & 0xff)]!;
      const x4 = x0 ^ t;
      x0 = x1;
      x1 = x2;
      x2 = x3;
      x3 = x4;
    }
    // output is the last four words in reverse order
    writeU32BE(dst, d, x3);
    writeU32BE(dst, d + 4, x2);
    writeU32BE(dst, d + 8, x1);
    writeU32BE(dst, d + 12, x0);
  }
}
