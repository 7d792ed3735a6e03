/**
 * Twofish encryption as a `BlockCipher` (Schneier et al. 1998): 128-bit blocks, 16/24/32-byte
 * keys, little-endian words, key-dependent S-boxes folded with the MDS matrix into four lookup
 * tables at key setup. kcp-go uses x/crypto/twofish with a 32-byte key; OpenSSL has no Twofish.
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { TWOFISH_Q } from './tables.js';

const MDS_POLY = 0x169; // x^8 + x^6 + x^5 + x^3 + 1 (paper §4.2)
const RS_POLY = 0x14d; // x^8 + x^6 + x^3 + x^2 + 1 (paper §4.3)
// prettier-ignore
const RS = [
  [0x01, 0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e],
  [0xa4, 0x56, 0x82, 0xf3, 0x1e, 0xc6, 0x68, 0xe5],
  [0x02, 0xa1, 0xfc, 0xc1, 0x47, 0xae, 0x3d, 0x19],
  [0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e, 0x03],
];
const q0 = (x: number) => TWOFISH_Q[x]!;
const q1 = (x: number) => TWOFISH_Q[256 + x]!;

/** a·b in GF(2^8) modulo `poly`. */
function gfMul(a: number, b: number, poly: number): number {
  let r = 0;
  for (; a; a >>>= 1, b = b & 0x80 ? (b << 1) ^ poly : b << 1) if (a & 1) r ^= b;
  return r & 0xff;
}

/** Column `col` of MDS · [.. in ..]: the byte times the MDS matrix column, as a word. */
function mdsColumn(v: number, col: number): number {
  const m1 = v;
  const m5b = gfMul(v, 0x5b, MDS_POLY);
  const mef = gfMul(v, 0xef, MDS_POLY);
  const rows = [
    [m1, m5b, mef, mef],
    [mef, mef, m5b, m1],
    [m5b, mef, m1, mef],
    [m5b, m1, mef, m5b],
  ][col]!;
  return (rows[0]! | (rows[1]! << 8) | (rows[2]! << 16) | (rows[3]! << 24)) >>> 0;
}

/** The q-permutation sequence per byte lane and key-word depth (paper §4.3.5, figure 2). */
// prettier-ignore
const Q_ORDER: ((x: number) => number)[][] = [
  // lane:  k=4 (outermost)  k=3  then the two always applied, innermost last
  [q1, q1, q0, q0, q1],
  [q0, q1, q1, q0, q0],
  [q0, q0, q0, q1, q1],
  [q1, q0, q1, q1, q0],
];

/** h(X, L) of the paper for one byte lane: X through the q chain, XORed with key bytes L. */
function hLane(x: number, lane: number, words: number[][]): number {
  const k = words.length; // 2, 3 or 4 key words
  const order = Q_ORDER[lane]!;
  let y = x;
  if (k === 4) y = order[0]!(y) ^ words[3]![lane]!;
  if (k >= 3) y = order[1]!(y) ^ words[2]![lane]!;
  y = order[2]!(y) ^ words[1]![lane]!;
  y = order[3]!(y) ^ words[0]![lane]!;
  return order[4]!(y);
}

/** h of the paper for the word whose four bytes all equal `x`, as the subkey schedule uses it. */
function h(x: number, words: number[][]): number {
  let out = 0;
  for (let lane = 0; lane < 4; lane++) out ^= mdsColumn(hLane(x, lane, words), lane);
  return out >>> 0;
}

const rotl = (x: number, n: number) => ((x << n) | (x >>> (32 - n))) >>> 0;

export class Twofish implements BlockCipher {
  readonly blockSize = 16;
  private readonly k = new Uint32Array(40);
  private readonly s = new Uint32Array(4 * 256);

  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new RangeError(`twofish: key must be 16, 24 or 32 bytes, got ${key.length}`);
    }
    const n = key.length / 8;
    const word = (i: number) => [key[4 * i]!, key[4 * i + 1]!, key[4 * i + 2]!, key[4 * i + 3]!];
    const even = Array.from({ length: n }, (_, i) => word(2 * i)); // Me
    const odd = Array.from({ length: n }, (_, i) => word(2 * i + 1)); // Mo
    // S = RS · key, one 4-byte vector per 8 key bytes; used in reverse order for the S-boxes
    const sv: number[][] = [];
    for (let i = 0; i < n; i++) {
      sv.push(RS.map((row) => row.reduce((acc, c, j) => acc ^ gfMul(key[8 * i + j]!, c, RS_POLY), 0)));
    }
    sv.reverse();
    for (let i = 0; i < 20; i++) {
      const a = h(2 * i, even);
      const b = rotl(h(2 * i + 1, odd), 8);
      this.k[2 * i] = (a + b) >>> 0;
      this.k[2 * i + 1] = rotl((a + 2 * b) >>> 0, 9);
    }
    for (let x = 0; x < 256; x++) {
      for (let lane = 0; lane < 4; lane++) this.s[lane * 256 + x] = mdsColumn(hLane(x, lane, sv), lane);
    }
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const k = this.k;
    const s = this.s;
    const load = (o: number) => src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24);
    let a = load(so) ^ k[0]!;
    let b = load(so + 4) ^ k[1]!;
    let c = load(so + 8) ^ k[2]!;
    let e = load(so + 12) ^ k[3]!; // the paper's D
    for (let r = 0; r < 8; r++) {
      const base = 8 + 4 * r;
      let t2 = s[256 + (b & 0xff)]! ^ s[512 + ((b >>> 8) & 0xff)]! ^ s[768 + ((b >>> 16) & 0xff)]! ^ s[b >>> 24]!;
      let t1 = ((s[a & 0xff]! ^ s[256 + ((a >>> 8) & 0xff)]! ^ s[512 + ((a >>> 16) & 0xff)]! ^ s[768 + (a >>> 24)]!) + t2) | 0;
      c = c ^ ((t1 + k[base]!) | 0);
      c = (c >>> 1) | (c << 31);
      e = ((e << 1) | (e >>> 31)) ^ ((t2 + t1 + k[base + 1]!) | 0);
      t2 = s[256 + (e & 0xff)]! ^ s[512 + ((e >>> 8) & 0xff)]! ^ s[768 + ((e >>> 16) & 0xff)]! ^ s[e >>> 24]!;
      t1 = ((s[c & 0xff]! ^ s[256 + ((c >>> 8) & 0xff)]! ^ s[512 + ((c >>> 16) & 0xff)]! ^ s[768 + (c >>> 24)]!) + t2) | 0;
      a = a ^ ((t1 + k[base + 2]!) | 0);
      a = (a >>> 1) | (a << 31);
      b = ((b << 1) | (b >>> 31)) ^ ((t2 + t1 + k[base + 3]!) | 0);
    }
    // undo the last swap, output whitening
    const out = [c ^ k[4]!, e ^ k[5]!, a ^ k[6]!, b ^ k[7]!];
    for (let w = 0; w < 4; w++) {
      const v = out[w]!;
      dst[d + 4 * w] = v;
      dst[d + 4 * w + 1] = v >>> 8;
      dst[d + 4 * w + 2] = v >>> 16;
      dst[d + 4 * w + 3] = v >>> 24;
    }
  }
}
