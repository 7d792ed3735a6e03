/**
 * The deterministic byte stream that interop transfers carry, shared with the Go peer
 * (`test/interop/kcppeer/main.go`, `patternByte`): whichever side writes, the other can check
 * every byte without the data being shipped alongside. Keep the two definitions equal.
 *
 * Byte number `i` of a stream (0-based offset, any integer 0 <= i < 2^53) is
 *
 *     patternByte(i) = (i*7 + floor(i / 2^8) + floor(i / 2^16) + floor(i / 2^24)) mod 256
 *
 * Neighbouring bytes differ by 7, so a lost, repeated or swapped byte shows; the higher terms
 * make the pattern repeat only every 2^32 bytes, so a lost or repeated 64 KiB block shows too.
 * Go computes it in uint64 arithmetic truncated to a byte; here `i*7` is reduced mod 256 first
 * so every intermediate value stays an exact integer.
 * @module
 */

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`pattern: offset must be a non-negative safe integer, got ${offset}`);
  }
}

/** The pattern byte at stream offset `i`. */
export function patternByte(i: number): number {
  return (
    ((i % 256) * 7 + Math.floor(i / 256) + Math.floor(i / 65536) + Math.floor(i / 16777216)) & 0xff
  );
}

/** Fills `out` with the pattern bytes for stream offsets `[offset, offset + out.length)`. */
export function fillPattern(out: Uint8Array, offset: number): Uint8Array {
  checkOffset(offset);
  let k = 0;
  while (k < out.length) {
    const i = offset + k;
    // Within one 256-byte block only the i*7 term changes.
    const high = (Math.floor(i / 256) + Math.floor(i / 65536) + Math.floor(i / 16777216)) & 0xff;
    let low = i % 256;
    const end = Math.min(out.length, k + 256 - low);
    for (; k < end; k++, low++) out[k] = (low * 7 + high) & 0xff;
  }
  return out;
}

/** A fresh array of `length` pattern bytes starting at stream offset `offset`. */
export function patternBytes(offset: number, length: number): Uint8Array {
  return fillPattern(new Uint8Array(length), offset);
}

/**
 * Index into `data` of the first byte that differs from the pattern at stream offset `offset`,
 * or -1 when all of `data` matches.
 */
export function findPatternMismatch(data: Uint8Array, offset: number): number {
  checkOffset(offset);
  let k = 0;
  while (k < data.length) {
    const i = offset + k;
    // as in fillPattern: one division per 256-byte block, not per byte
    const high = (Math.floor(i / 256) + Math.floor(i / 65536) + Math.floor(i / 16777216)) & 0xff;
    let low = i % 256;
    const end = Math.min(data.length, k + 256 - low);
    for (; k < end; k++, low++) if (data[k] !== ((low * 7 + high) & 0xff)) return k;
  }
  return -1;
}

/**
 * Checks a received stream chunk by chunk. `offset` counts the bytes verified so far; after the
 * first mismatch `error` describes it and every later chunk is rejected.
 */
export class PatternVerifier {
  /** Bytes verified so far (the stream offset of the next expected byte). */
  offset: number;
  /** Set at the first mismatch. */
  error: string | null = null;

  constructor(startOffset = 0) {
    checkOffset(startOffset);
    this.offset = startOffset;
  }

  /** Verifies the next chunk of the stream; returns false (and sets `error`) on a mismatch. */
  push(chunk: Uint8Array): boolean {
    if (this.error !== null) return false;
    const at = findPatternMismatch(chunk, this.offset);
    if (at >= 0) {
      const i = this.offset + at;
      const got = chunk[at].toString(16);
      const want = patternByte(i).toString(16);
      this.error = `pattern mismatch at offset ${i}: got 0x${got}, want 0x${want}`;
      this.offset = i;
      return false;
    }
    this.offset += chunk.length;
    return true;
  }
}
