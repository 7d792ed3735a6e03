/**
 * CAST-128 (CAST5) encryption as a `BlockCipher` (RFC 2144): 64-bit blocks, a 128-bit key, 16
 * rounds of the three round-function types, big-endian words. kcp-go uses x/crypto/cast5 with a
 * 16-byte key; node:crypto has it only behind --openssl-legacy-provider.
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { readU32BE, writeU32BE } from '../../wire/bytes.js';
import { CAST5_S } from './tables.js';

const S = (box: number, i: number) => CAST5_S[box * 256 + i]!;

/**
 * The key schedule of RFC 2144 §2.4, as data. The 32 bytes x0..xF, z0..zF are addressed 0..31
 * (x first). Each step of a round either recomputes a word of z (or x) from the other half:
 * `[target word, source word, b1, b2, b3, b4, b5]` = target = source ^ S5[b1] ^ S6[b2] ^ S7[b3] ^
 * S8[b4] ^ S(5+extra)[b5], with the extra box 7, 8, 5, 6 for the four lines; or derives a subkey:
 * `[b1, b2, b3, b4, b5]` = S5[b1] ^ S6[b2] ^ S7[b3] ^ S8[b4] ^ S(5+line)[b5].
 */
// prettier-ignore
const ROUNDS: [number[][], number[][]][] = [
  [[[4, 0, 0xd, 0xf, 0xc, 0xe, 0x8], [5, 2, 16, 18, 17, 19, 0xa], [6, 3, 23, 22, 21, 20, 9], [7, 1, 26, 25, 27, 24, 0xb]],
   [[24, 25, 23, 22, 18], [26, 27, 21, 20, 22], [28, 29, 19, 18, 25], [30, 31, 17, 16, 28]]],
  [[[0, 6, 21, 23, 20, 22, 16], [1, 4, 0, 2, 1, 3, 18], [2, 5, 7, 6, 5, 4, 17], [3, 7, 0xa, 9, 0xb, 8, 19]],
   [[3, 2, 0xc, 0xd, 8], [1, 0, 0xe, 0xf, 0xd], [7, 6, 8, 9, 3], [5, 4, 0xa, 0xb, 7]]],
  [[[4, 0, 0xd, 0xf, 0xc, 0xe, 8], [5, 2, 16, 18, 17, 19, 0xa], [6, 3, 23, 22, 21, 20, 9], [7, 1, 26, 25, 27, 24, 0xb]],
   [[19, 18, 28, 29, 25], [17, 16, 30, 31, 28], [23, 22, 24, 25, 18], [21, 20, 26, 27, 22]]],
  [[[0, 6, 21, 23, 20, 22, 16], [1, 4, 0, 2, 1, 3, 18], [2, 5, 7, 6, 5, 4, 17], [3, 7, 0xa, 9, 0xb, 8, 19]],
   [[8, 9, 7, 6, 3], [0xa, 0xb, 5, 4, 7], [0xc, 0xd, 3, 2, 8], [0xe, 0xf, 1, 0, 0xd]]],
];
const EXTRA_BOX = [6, 7, 4, 5]; // S7, S8, S5, S6 for the four lines of a z/x step

export class Cast5 implements BlockCipher {
  readonly blockSize = 8;
  private readonly km = new Uint32Array(16);
  private readonly kr = new Uint8Array(16);

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`cast5: key must be 16 bytes, got ${key.length}`);
    const t = new Uint32Array(8);
    for (let i = 0; i < 4; i++) t[i] = readU32BE(key, 4 * i);
    const byte = (n: number) => (t[n >> 2]! >>> (24 - 8 * (n & 3))) & 0xff;
    const k: number[] = [];
    for (let half = 0; half < 2; half++) {
      for (const [steps, subkeys] of ROUNDS) {
        steps.forEach((a, line) => {
          t[a[0]!] = t[a[1]!]! ^ S(4, byte(a[2]!)) ^ S(5, byte(a[3]!)) ^ S(6, byte(a[4]!)) ^ S(7, byte(a[5]!)) ^ S(EXTRA_BOX[line]!, byte(a[6]!));
        });
        subkeys.forEach((b, line) => {
          k.push((S(4, byte(b[0]!)) ^ S(5, byte(b[1]!)) ^ S(6, byte(b[2]!)) ^ S(7, byte(b[3]!)) ^ S(4 + line, byte(b[4]!))) >>> 0);
        });
      }
    }
    for (let i = 0; i < 16; i++) {
      this.km[i] = k[i]!;
      this.kr[i] = k[16 + i]! & 0x1f;
    }
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    let l = readU32BE(src, so) | 0;
    let r = readU32BE(src, so + 4) | 0;
    const km = this.km;
    const kr = this.kr;
    for (let i = 0; i < 16; i++) {
      const m = km[i]!;
      const rot = kr[i]!;
      let x: number;
      let f: number;
      // round types 1, 2, 3 repeat (RFC 2144 §2.2)
      switch (i % 3) {
        case 0:
          x = (m + r) | 0;
          x = (x << rot) | (x >>> ((32 - rot) & 31));
          f = (((S(0, x >>> 24) ^ S(1, (x >>> 16) & 0xff)) - S(2, (x >>> 8) & 0xff)) + S(3, x & 0xff)) | 0;
          break;
        case 1:
          x = m ^ r;
          x = (x << rot) | (x >>> ((32 - rot) & 31));
          f = (((S(0, x >>> 24) - S(1, (x >>> 16) & 0xff)) + S(2, (x >>> 8) & 0xff)) ^ S(3, x & 0xff)) | 0;
          break;
        default:
          x = (m - r) | 0;
          x = (x << rot) | (x >>> ((32 - rot) & 31));
          f = (((S(0, x >>> 24) + S(1, (x >>> 16) & 0xff)) ^ S(2, (x >>> 8) & 0xff)) - S(3, x & 0xff)) | 0;
      }
      const next = l ^ f;
      l = r;
      r = next;
    }
    writeU32BE(dst, d, r);
    writeU32BE(dst, d + 4, l);
  }
}
