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

/**
 * Walks stream offsets `[offset, offset + length)` one 256-byte pattern block at a time (within a
 * block only the i*7 term changes): `visit(k, end, low, high)` covers indexes k..end-1 of the
 * range, whose bytes are `(low * 7 + high) & 0xff` with `low` counting up from the given value.
 * A visit returning false stops the walk.
 */
function eachBlock(offset: number, length: number, visit: (k: number, end: number, low: number, high: number) => boolean | void): void {
  checkOffset(offset);
  for (let k = 0; k < length; ) {
    const i = offset + k;
    const high = (Math.floor(i / 256) + Math.floor(i / 65536) + Math.floor(i / 16777216)) & 0xff;
    const low = i % 256;
    const end = Math.min(length, k + 256 - low);
    if (visit(k, end, low, high) === false) return;
    k = end;
  }
}

/** Fills `out` with the pattern bytes for stream offsets `[offset, offset + out.length)`. */
export function fillPattern(out: Uint8Array, offset: number): Uint8Array {
  eachBlock(offset, out.length, (k, end, low, high) => {
    for (; k < end; k++, low++) out[k] = (low * 7 + high) & 0xff;
  });
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
  let at = -1;
  eachBlock(offset, data.length, (k, end, low, high) => {
    for (; k < end; k++, low++) {
      if (data[k] !== ((low * 7 + high) & 0xff)) return ((at = k), false);
    }
  });
  return at;
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
