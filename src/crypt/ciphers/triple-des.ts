/**
 * DES and Triple DES (EDE, three keys) encryption as `BlockCipher`s, from FIPS 46-3 with its
 * tables numbered as the standard numbers them (bit 1 = most significant). kcp-go uses Go's
 * crypto/des with a 24-byte key. `rxkcp/node` prefers OpenSSL's des-ede3 (measured 0.88x kcp-go);
 * this portable version is for runtimes without node:crypto.
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { readU32BE, writeU32BE } from '../../wire/bytes.js';
import { DES_E, DES_FP, DES_IP, DES_P, DES_PC1, DES_PC2, DES_S } from './tables.js';

const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/** SP[box·64 + six bits] = P(S-box output in its nibble): the round function's table form. */
const SP = new Uint32Array(8 * 64);
for (let box = 0; box < 8; box++) {
  for (let b = 0; b < 64; b++) {
    const row = ((b >> 4) & 2) | (b & 1);
    const col = (b >> 1) & 15;
    const s = DES_S[box * 64 + row * 16 + col]! << (28 - 4 * box); // S output at bits 4·box+1..4·box+4
    let p = 0;
    for (let i = 0; i < 32; i++) if (s & (1 << (32 - DES_P[i]!))) p |= 1 << (31 - i);
    SP[box * 64 + b] = p >>> 0;
  }
}

/** Bit `n` (1 = most significant) of the 64-bit value hi:lo. */
const bit64 = (hi: number, lo: number, n: number) => (n <= 32 ? (hi >>> (32 - n)) & 1 : (lo >>> (64 - n)) & 1);

/** Applies a 64-entry permutation to hi:lo; returns [hi, lo]. */
function permute64(hi: number, lo: number, table: Uint8Array, out: Uint32Array): void {
  let h = 0;
  let l = 0;
  for (let i = 0; i < 32; i++) h = (h << 1) | bit64(hi, lo, table[i]!);
  for (let i = 32; i < 64; i++) l = (l << 1) | bit64(hi, lo, table[i]!);
  out[0] = h;
  out[1] = l;
}

/** Single DES with a key schedule of 16 rounds × 8 six-bit subkey chunks. */
class Des {
  readonly sub = new Uint8Array(16 * 8);
  private readonly t = new Uint32Array(2);

  constructor(key: Uint8Array, o: number) {
    const hi = readU32BE(key, o);
    const lo = readU32BE(key, o + 4);
    // PC-1 into two 28-bit halves C and D
    let c = 0;
    let d = 0;
    for (let i = 0; i < 28; i++) c = (c << 1) | bit64(hi, lo, DES_PC1[i]!);
    for (let i = 28; i < 56; i++) d = (d << 1) | bit64(hi, lo, DES_PC1[i]!);
    for (let r = 0; r < 16; r++) {
      const s = SHIFTS[r]!;
      c = ((c << s) | (c >>> (28 - s))) & 0x0fffffff;
      d = ((d << s) | (d >>> (28 - s))) & 0x0fffffff;
      // PC-2 picks 48 of the 56 bits C‖D (bit 1 = top bit of C)
      for (let chunk = 0; chunk < 8; chunk++) {
        let v = 0;
        for (let j = 0; j < 6; j++) {
          const n = DES_PC2[chunk * 6 + j]!;
          v = (v << 1) | (n <= 28 ? (c >>> (28 - n)) & 1 : (d >>> (56 - n)) & 1);
        }
        this.sub[r * 8 + chunk] = v;
      }
    }
    void DES_E; // E is folded into the round as rotations (each 6-bit chunk is 6 adjacent bits of R)
  }

  /** Runs the 16 rounds on the permuted halves, forward or with the subkeys reversed. */
  crypt(io: Uint32Array, decrypt: boolean): void {
    permute64(io[0]!, io[1]!, DES_IP, this.t);
    let l = this.t[0]!;
    let r = this.t[1]!;
    const sub = this.sub;
    for (let round = 0; round < 16; round++) {
      const k = (decrypt ? 15 - round : round) * 8;
      let f = 0;
      for (let box = 0; box < 8; box++) {
        // E: chunk `box` is bits 4·box .. 4·box+5 of R (1-based, bit 0 meaning bit 32)
        const rot = (4 * box + 31) % 32;
        const six = (((r << rot) | (r >>> ((32 - rot) & 31))) >>> 26) & 63;
        f ^= SP[box * 64 + (six ^ sub[k + box]!)]!;
      }
      const next = l ^ f;
      l = r;
      r = next;
    }
    permute64(r, l, DES_FP, io); // the halves swap before the final permutation
  }
}

export class TripleDes implements BlockCipher {
  readonly blockSize = 8;
  private readonly k1: Des;
  private readonly k2: Des;
  private readonly k3: Des;
  private readonly io = new Uint32Array(2);

  constructor(key: Uint8Array) {
    if (key.length !== 24) throw new RangeError(`3des: key must be 24 bytes, got ${key.length}`);
    this.k1 = new Des(key, 0);
    this.k2 = new Des(key, 8);
    this.k3 = new Des(key, 16);
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const io = this.io;
    io[0] = readU32BE(src, so);
    io[1] = readU32BE(src, so + 4);
    this.k1.crypt(io, false); // encrypt, decrypt, encrypt (EDE)
    this.k2.crypt(io, true);
    this.k3.crypt(io, false);
    writeU32BE(dst, d, io[0]!);
    writeU32BE(dst, d + 4, io[1]!);
  }
}
