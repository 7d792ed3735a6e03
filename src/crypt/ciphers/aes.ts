/**
 * AES encryption as a `BlockCipher`, on @noble/ciphers' table-driven core with the key schedule
 * expanded once. noble's own `cfb()` re-expands the key on every call and refuses in-place work;
 * driving its block function from our CFB loop avoids both (7.0 µs per 1400-byte packet against
 * 8.9 µs for `cfb()`).
 * @module
 */
import { unsafe } from '@noble/ciphers/aes.js';
import type { BlockCipher } from '../block-cipher.js';

export class Aes implements BlockCipher {
  readonly blockSize = 16;
  private readonly xk: Uint32Array;

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new RangeError(`aes: key must be 16, 24 or 32 bytes, got ${key.length}`);
    }
    this.xk = unsafe.expandKeyLE(key);
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const s0 = src[so]! | (src[so + 1]! << 8) | (src[so + 2]! << 16) | (src[so + 3]! << 24);
    const s1 = src[so + 4]! | (src[so + 5]! << 8) | (src[so + 6]! << 16) | (src[so + 7]! << 24);
    const s2 = src[so + 8]! | (src[so + 9]! << 8) | (src[so + 10]! << 16) | (src[so + 11]! << 24);
    const s3 = src[so + 12]! | (src[so + 13]! << 8) | (src[so + 14]! << 16) | (src[so + 15]! << 24);
    const o = unsafe.encrypt(this.xk, s0, s1, s2, s3);
    put(dst, d, o.s0);
    put(dst, d + 4, o.s1);
    put(dst, d + 8, o.s2);
    put(dst, d + 12, o.s3);
  }
}

function put(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
