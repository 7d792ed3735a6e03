/**
 * The snappy block format: a uvarint of the decoded length, then literal and copy elements.
 * The encoder makes the same choices as Go's `github.com/golang/snappy` (a 4-byte hash of the
 * input into a table of 256..16384 uint16 positions, lookups that skip ahead faster the longer
 * nothing matches, copies split at 64/60 bytes), so it produces the bytes Go's `snappy.Encode`
 * does for the same input; the decoder accepts any valid block, including the 4-byte-offset copy
 * no current encoder emits.
 *
 *   tag & 3 == 0  literal: length-1 in tag>>2 (< 60) or in the next 1..4 bytes (60..63)
 *   tag & 3 == 1  copy: length 4..11 in bits 2..4, offset bits 8..10 in bits 5..7, low byte next
 *   tag & 3 == 2  copy: length 1..64 in tag>>2, 16-bit little-endian offset next
 *   tag & 3 == 3  copy: length 1..64 in tag>>2, 32-bit little-endian offset next
 * @module
 */
import { KcpError } from '../errors.js';

/** Largest input the encoder compresses as one block (offsets fit 16 bits); also the framing format's chunk limit. */
export const MAX_BLOCK_SIZE = 65536;
/** Bytes at the end of a block never searched for matches, so the literal fast path may read ahead. */
const INPUT_MARGIN = 15;
/** Blocks shorter than this are emitted as one literal. */
const MIN_NON_LITERAL_BLOCK_SIZE = 1 + 1 + INPUT_MARGIN;
const MAX_TABLE_SIZE = 1 << 14;

/** Worst-case size of `snappyEncode(n bytes)`, as Go's `MaxEncodedLen`. */
export function maxEncodedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** The hash table, reused by every block (the encoder never yields mid-block). */
const table = new Uint16Array(MAX_TABLE_SIZE);

function load32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function emitLiteral(dst: Uint8Array, d: number, src: Uint8Array, start: number, end: number): number {
  const len = end - start;
  const n = len - 1;
  if (n < 60) dst[d++] = n << 2;
  else if (n < 256) {
    dst[d++] = 60 << 2;
    dst[d++] = n;
  } else {
    dst[d++] = 61 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = n >>> 8;
  }
  if (len > 24) dst.set(src.subarray(start, end), d);
  else for (let i = 0; i < len; i++) dst[d + i] = src[start + i]!;
  return d + len;
}

function emitCopy(dst: Uint8Array, d: number, offset: number, length: number): number {
  // 68 and 60 rather than 64: a 67-byte copy is cheaper as 60 + 7 (3 + 2 bytes) than as 64 + 3 (3 + 3)
  while (length >= 68) {
    dst[d++] = (63 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 64;
  }
  if (length > 64) {
    dst[d++] = (59 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 60;
  }
  if (length >= 12 || offset >= 2048) {
    dst[d++] = ((length - 1) << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    return d;
  }
  dst[d++] = ((offset >>> 8) << 5) | ((length - 4) << 2) | 1;
  dst[d++] = offset & 0xff;
  return d;
}

/**
 * Encodes `src` (MIN_NON_LITERAL_BLOCK_SIZE..MAX_BLOCK_SIZE bytes) as elements into `dst` from
 * `d`, which must have room for `maxEncodedLength(src.length)`. Returns the new end.
 */
function encodeBlock(dst: Uint8Array, d: number, src: Uint8Array): number {
  const len = src.length;
  let shift = 32 - 8;
  let tableSize = 1 << 8;
  for (; tableSize < MAX_TABLE_SIZE && tableSize < len; tableSize *= 2) shift--;
  table.fill(0, 0, tableSize);
  const sLimit = len - INPUT_MARGIN;
  let nextEmit = 0;
  let s = 1;
  let nextHash = Math.imul(load32(src, s), 0x1e35a7bd) >>> shift;

  for (;;) {
    // look for a 4-byte match, moving one byte per lookup for the first 32 misses, then two, ...
    let skip = 32;
    let nextS = s;
    let candidate = 0;
    for (;;) {
      s = nextS;
      const step = skip >> 5;
      nextS = s + step;
      skip += step;
      if (nextS > sLimit) return nextEmit < len ? emitLiteral(dst, d, src, nextEmit, len) : d;
      candidate = table[nextHash]!;
      table[nextHash] = s;
      nextHash = Math.imul(load32(src, nextS), 0x1e35a7bd) >>> shift;
      if (load32(src, s) === load32(src, candidate)) break;
    }
    d = emitLiteral(dst, d, src, nextEmit, s);

    // copy, and as long as the bytes right after a copy match again, copy again
    for (;;) {
      const base = s;
      s += 4;
      for (let i = candidate + 4; s < len && src[i] === src[s]; i++, s++);
      d = emitCopy(dst, d, base - candidate, s - base);
      nextEmit = s;
      if (s >= sLimit) return nextEmit < len ? emitLiteral(dst, d, src, nextEmit, len) : d;
      // index s-1 and s, and see whether s starts another match
      const prev = load32(src, s - 1);
      table[Math.imul(prev, 0x1e35a7bd) >>> shift] = s - 1;
      const cur = load32(src, s);
      const currHash = Math.imul(cur, 0x1e35a7bd) >>> shift;
      candidate = table[currHash]!;
      table[currHash] = s;
      if (cur !== load32(src, candidate)) {
        nextHash = Math.imul(load32(src, s + 1), 0x1e35a7bd) >>> shift;
        s++;
        break;
      }
    }
  }
}

function putUvarint(dst: Uint8Array, d: number, v: number): number {
  while (v >= 0x80) {
    dst[d++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  dst[d++] = v;
  return d;
}

/**
 * Writes the block encoding of `src` (length prefix included) into `dst` from `d`; `dst` must
 * have `maxEncodedLength(src.length)` bytes free. Returns the new end.
 */
export function snappyEncodeInto(dst: Uint8Array, d: number, src: Uint8Array): number {
  d = putUvarint(dst, d, src.length);
  for (let p = 0; p < src.length; p += MAX_BLOCK_SIZE) {
    const block = src.subarray(p, Math.min(src.length, p + MAX_BLOCK_SIZE));
    d = block.length < MIN_NON_LITERAL_BLOCK_SIZE ? emitLiteral(dst, d, block, 0, block.length) : encodeBlock(dst, d, block);
  }
  return d;
}

/** The snappy block encoding of `src`, as Go's `snappy.Encode`. */
export function snappyEncode(src: Uint8Array): Uint8Array {
  if (src.length > 0xffffffff - 32) throw new RangeError('snappyEncode: input too large');
  const dst = new Uint8Array(maxEncodedLength(src.length));
  return dst.slice(0, snappyEncodeInto(dst, 0, src));
}

/**
 * The decoded length a block declares and the size of that prefix, or null when the prefix is
 * malformed (truncated, or above 2^32-1 as Go refuses).
 */
export function snappyDecodedLength(src: Uint8Array, start = 0, end = src.length): { length: number; header: number } | null {
  let v = 0;
  let mul = 1;
  for (let i = start; i < end && i - start < 10; i++) {
    const b = src[i]!;
    v += (b & 0x7f) * mul;
    if (v > 0xffffffff) return null;
    if (b < 0x80) return { length: v, header: i - start + 1 };
    mul *= 128;
  }
  return null;
}

/**
 * Decodes the elements in `src[s..end)` into `dst[0..dLen)`. Returns true when they fill exactly
 * `dLen` bytes with every copy inside what was already written, false on any corruption.
 */
export function decodeElements(src: Uint8Array, s: number, end: number, dst: Uint8Array, dLen: number): boolean {
  let d = 0;
  while (s < end) {
    const tag = src[s]!;
    let length: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        let x = tag >>> 2;
        if (x < 60) s++;
        else {
          const extra = x - 59; // 1..4 length bytes
          if (s + 1 + extra > end) return false;
          x = src[s + 1]!;
          if (extra > 1) x |= src[s + 2]! << 8;
          if (extra > 2) x |= src[s + 3]! << 16;
          if (extra > 3) x = (x | (src[s + 4]! << 24)) >>> 0;
          s += 1 + extra;
        }
        length = x + 1;
        if (length > dLen - d || length > end - s) return false;
        if (length > 24) dst.set(src.subarray(s, s + length), d);
        else for (let i = 0; i < length; i++) dst[d + i] = src[s + i]!;
        d += length;
        s += length;
        continue;
      }
      case 1:
        if (s + 2 > end) return false;
        length = 4 + ((tag >>> 2) & 7);
        offset = ((tag & 0xe0) << 3) | src[s + 1]!;
        s += 2;
        break;
      case 2:
        if (s + 3 > end) return false;
        length = 1 + (tag >>> 2);
        offset = src[s + 1]! | (src[s + 2]! << 8);
        s += 3;
        break;
      default:
        if (s + 5 > end) return false;
        length = 1 + (tag >>> 2);
        offset = (src[s + 1]! | (src[s + 2]! << 8) | (src[s + 3]! << 16) | (src[s + 4]! << 24)) >>> 0;
        s += 5;
    }
    if (offset <= 0 || d < offset || length > dLen - d) return false;
    if (offset >= length && length > 16) dst.copyWithin(d, d - offset, d - offset + length);
    else for (let i = 0; i < length; i++) dst[d + i] = dst[d - offset + i]!;
    d += length;
  }
  return d === dLen;
}

/** Decodes a whole snappy block (Go's `snappy.Decode`); throws `KcpError` 'SNAPPY_CORRUPT' on bad input. */
export function snappyDecode(src: Uint8Array): Uint8Array {
  const h = snappyDecodedLength(src);
  if (h === null) throw new KcpError('SNAPPY_CORRUPT', 'snappy: corrupt block length');
  const dst = new Uint8Array(h.length);
  if (!decodeElements(src, h.header, src.length, dst, h.length)) throw new KcpError('SNAPPY_CORRUPT', 'snappy: corrupt block');
  return dst;
}
