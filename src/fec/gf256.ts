/**
 * Arithmetic in GF(2^8) with the polynomial 0x11D (x^8+x^4+x^3+x^2+1) and generator 2, the field of
 * the Reed-Solomon code kcp-go's FEC uses (klauspost/reedsolomon's default;
 * docs/protocol.md#reed-solomon).
 * @module
 */

/** EXP[i] = 2^i, doubled in length so EXP[LOG[a] + LOG[b]] needs no modulo. */
export const EXP = new Uint8Array(512);
/** LOG[a] for a ≠ 0 (LOG[0] is unused). */
export const LOG = new Uint8Array(256);
/** MUL[a * 256 + b] = a·b: one 256-byte row per coefficient for the coding loops. */
export const MUL = new Uint8Array(65536);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
  for (let a = 1; a < 256; a++) for (let b = 1; b < 256; b++) MUL[a * 256 + b] = EXP[LOG[a]! + LOG[b]!]!;
}

export function gfMul(a: number, b: number): number {
  return MUL[(a << 8) | b]!;
}

/** a^n with 0^0 = 1, as the Vandermonde construction needs. */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('gf256: 0 has no inverse');
  return EXP[255 - LOG[a]!]!;
}
