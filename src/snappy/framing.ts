/**
 * The snappy framing format, as Go's `snappy.NewBufferedWriter` writes it and `snappy.NewReader`
 * reads it (kcptun's compressed stream):
 *
 *   chunk = type (1 byte) ‖ length (3 bytes LE) ‖ body (length bytes)
 *   0xff  stream identifier, body "sNaPpY"; must come first, may repeat
 *   0x00  compressed: masked CRC-32C (4 bytes LE) of the uncompressed data ‖ snappy block
 *   0x01  uncompressed: masked CRC-32C ‖ the data
 *   0x80..0xfe  skippable (0xfe padding); 0x02..0x7f reserved: the stream cannot be read
 *
 * Each chunk holds at most 64 KiB of data. The writer sends a chunk uncompressed when
 * compression would save less than an eighth.
 * @module
 */
import { KcpError } from '../errors.js';
import type { Sink } from '../sink.js';
import { decodeElements, MAX_BLOCK_SIZE, maxEncodedLength, snappyDecodedLength, snappyEncodeInto } from './block.js';
import { maskedCrc32c } from './crc32c.js';

export const CHUNK_COMPRESSED = 0x00;
export const CHUNK_UNCOMPRESSED = 0x01;
export const CHUNK_PADDING = 0xfe;
export const CHUNK_STREAM_IDENTIFIER = 0xff;
/** The stream identifier chunk: type 0xff, length 6, "sNaPpY". */
export const STREAM_IDENTIFIER = Uint8Array.of(0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59);
/** The largest chunk body a reader accepts (a worst-case compressed 64 KiB block plus its checksum), as Go's reader. */
export const MAX_CHUNK_LENGTH = maxEncodedLength(MAX_BLOCK_SIZE) + 4;

/**
 * Frames a stream of writes. `encode(data)` returns what Go's buffered writer emits for
 * `Write(data)` then `Flush()` (kcptun flushes after every write): the stream identifier before
 * the first chunk, then one chunk per 64 KiB.
 */
export class SnappyFrameEncoder {
  private started = false;

  encode(data: Uint8Array): Uint8Array {
    if (data.length === 0) return data;
    const chunks = Math.ceil(data.length / MAX_BLOCK_SIZE);
    const out = new Uint8Array(STREAM_IDENTIFIER.length + chunks * 8 + maxEncodedLength(data.length) + 16);
    let o = 0;
    if (!this.started) {
      out.set(STREAM_IDENTIFIER, 0);
      o = STREAM_IDENTIFIER.length;
      this.started = true;
    }
    for (let p = 0; p < data.length; p += MAX_BLOCK_SIZE) {
      const block = data.subarray(p, Math.min(data.length, p + MAX_BLOCK_SIZE));
      const crc = maskedCrc32c(block);
      const body = o + 8;
      const end = snappyEncodeInto(out, body, block);
      let type = CHUNK_COMPRESSED;
      let length = end - body;
      if (length >= block.length - (block.length >>> 3)) {
        type = CHUNK_UNCOMPRESSED;
        length = block.length;
        out.set(block, body);
      }
      const chunkLen = length + 4;
      out[o] = type;
      out[o + 1] = chunkLen & 0xff;
      out[o + 2] = (chunkLen >>> 8) & 0xff;
      out[o + 3] = chunkLen >>> 16;
      out[o + 4] = crc & 0xff;
      out[o + 5] = (crc >>> 8) & 0xff;
      out[o + 6] = (crc >>> 16) & 0xff;
      out[o + 7] = crc >>> 24;
      o = body + length;
    }
    return out.subarray(0, o);
  }
}

/** Framing counters. */
export interface SnappyFrameStats {
  /** Chunks decoded (compressed and uncompressed). */
  chunks: number;
  /** Bytes of data they held. */
  bytes: number;
}

/**
 * Reads the framing format from pieces of any size. `push` hands each chunk's data to `out` as
 * it completes (a new array or a view of the input, the receiver's to keep). A stream that does
 * not decode ends the decoder: `push` returns the `KcpError` ('SNAPPY_CORRUPT') then and on every
 * later call, and never throws.
 */
export class SnappyFrameDecoder {
  readonly stats: SnappyFrameStats = { chunks: 0, bytes: 0 };
  private seenIdentifier = false;
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  /** The body being gathered across pushes, or null between chunks. */
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private type = 0;
  private _error: KcpError | null = null;

  get error(): KcpError | null {
    return this._error;
  }

  /** True between chunks (nothing partial held). */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.body === null;
  }

  push(data: Uint8Array, out: Sink<Uint8Array>): KcpError | null {
    if (this._error) return this._error;
    let i = 0;
    const n = data.length;
    while (i < n) {
      if (this.body !== null) {
        // finish the chunk gathered so far
        const take = Math.min(n - i, this.body.length - this.bodyFill);
        this.body.set(data.subarray(i, i + take), this.bodyFill);
        this.bodyFill += take;
        i += take;
        if (this.bodyFill < this.body.length) return null;
        const body = this.body;
        this.body = null;
        if (!this.chunk(this.type, body, 0, body.length, out)) return this._error;
        continue;
      }
      let type: number;
      let length: number;
      if (this.headerFill === 0 && n - i >= 4) {
        type = data[i]!;
        length = data[i + 1]! | (data[i + 2]! << 8) | (data[i + 3]! << 16);
        i += 4;
      } else {
        while (this.headerFill < 4 && i < n) this.header[this.headerFill++] = data[i++]!;
        if (this.headerFill < 4) return null;
        this.headerFill = 0;
        type = this.header[0]!;
        length = this.header[1]! | (this.header[2]! << 8) | (this.header[3]! << 16);
      }
      if (!this.checkHeader(type, length)) return this._error;
      if (n - i >= length) {
        const start = i;
        i += length;
        if (!this.chunk(type, data, start, i, out)) return this._error;
      } else {
        this.type = type;
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
    }
    return null;
  }

  private fail(message: string): false {
    this._error = new KcpError('SNAPPY_CORRUPT', `snappy stream: ${message}`);
    this.body = null;
    return false;
  }

  private checkHeader(type: number, length: number): boolean {
    if (!this.seenIdentifier) {
      if (type !== CHUNK_STREAM_IDENTIFIER) return this.fail(`first chunk has type 0x${type.toString(16)}, not the stream identifier`);
      this.seenIdentifier = true;
    }
    if (length > MAX_CHUNK_LENGTH) return this.fail(`chunk of ${length} bytes is longer than any valid chunk`);
    switch (type) {
      case CHUNK_COMPRESSED:
      case CHUNK_UNCOMPRESSED:
        if (length < 4) return this.fail(`data chunk of ${length} bytes has no room for its checksum`);
        if (type === CHUNK_UNCOMPRESSED && length - 4 > MAX_BLOCK_SIZE) return this.fail(`uncompressed chunk holds ${length - 4} bytes, over 64 KiB`);
        return true;
      case CHUNK_STREAM_IDENTIFIER:
        return length === 6 || this.fail(`stream identifier of length ${length}`);
      default:
        return type >= 0x80 || this.fail(`reserved unskippable chunk type 0x${type.toString(16)}`);
    }
  }

  /** Handles a complete chunk body `b[s..e)`. */
  private chunk(type: number, b: Uint8Array, s: number, e: number, out: Sink<Uint8Array>): boolean {
    switch (type) {
      case CHUNK_COMPRESSED: {
        const crc = (b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16) | (b[s + 3]! << 24)) >>> 0;
        const h = snappyDecodedLength(b, s + 4, e);
        if (h === null) return this.fail('bad block length');
        if (h.length > MAX_BLOCK_SIZE) return this.fail(`block decodes to ${h.length} bytes, over 64 KiB`);
        const dst = new Uint8Array(h.length);
        if (!decodeElements(b, s + 4 + h.header, e, dst, h.length)) return this.fail('corrupt block');
        if (maskedCrc32c(dst) !== crc) return this.fail('checksum mismatch');
        return this.emit(dst, out);
      }
      case CHUNK_UNCOMPRESSED: {
        const crc = (b[s]! | (b[s + 1]! << 8) | (b[s + 2]! << 16) | (b[s + 3]! << 24)) >>> 0;
        if (maskedCrc32c(b, s + 4, e) !== crc) return this.fail('checksum mismatch');
        return this.emit(b.subarray(s + 4, e), out);
      }
      case CHUNK_STREAM_IDENTIFIER:
        for (let k = 0; k < 6; k++) if (b[s + k] !== STREAM_IDENTIFIER[4 + k]) return this.fail('bad stream identifier');
        return true;
      default:
        return true; // skippable
    }
  }

  private emit(data: Uint8Array, out: Sink<Uint8Array>): boolean {
    this.stats.chunks++;
    this.stats.bytes += data.length;
    if (data.length > 0) out.next(data);
    return true;
  }
}
