import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import captures from './vectors/kcptun/captures.json' with { type: 'json' };
import { KcpError } from '../src/errors.js';
import { Prng } from '../src/prng.js';
import { CollectSink } from '../src/sink.js';
import { snappyDecode, snappyEncode } from '../src/snappy/block.js';
import { crc32c, maskedCrc32c } from '../src/snappy/crc32c.js';
import { SnappyFrameDecoder, SnappyFrameEncoder, STREAM_IDENTIFIER } from '../src/snappy/framing.js';
import { toHex } from '../src/wire/bytes.js';
import { checkProperty } from './helpers/properties.js';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const inputs = new Map(captures.snappy_blocks.map((c) => [c.name, b64(c.input_b64)]));

/** Decodes `stream` fed in pieces cut at `cuts`; returns the data or the error. */
function decodeInPieces(stream: Uint8Array, cuts: number[]): { data: Uint8Array; error: KcpError | null } {
  const dec = new SnappyFrameDecoder();
  const out = new CollectSink<Uint8Array>();
  let error: KcpError | null = null;
  let prev = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < stream.length).sort((a, b) => a - b), stream.length]) {
    error = dec.push(stream.subarray(prev, c), out) ?? error;
    prev = c;
  }
  return { data: concat(out.items), error };
}

describe('CRC-32C', () => {
  it('has the check value of the Castagnoli polynomial and masks as the framing format does', () => {
    const ascii = new TextEncoder().encode('123456789');
    expect(crc32c(ascii).toString(16)).toBe('e3069283');
    const c = crc32c(ascii);
    expect(maskedCrc32c(ascii)).toBe((((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // slicing-by-8 and the byte loop agree on every length around the 8-byte step
    const prng = new Prng(7);
    const data = prng.bytes(40);
    for (let n = 0; n <= 40; n++) {
      let ref = 0xffffffff;
      for (let i = 0; i < n; i++) {
        ref ^= data[i]!;
        for (let k = 0; k < 8; k++) ref = ref & 1 ? 0x82f63b78 ^ (ref >>> 1) : ref >>> 1;
      }
      expect(crc32c(data, 0, n)).toBe((ref ^ 0xffffffff) >>> 0);
    }
  });
});

describe("snappy blocks against Go's github.com/golang/snappy", () => {
  for (const c of captures.snappy_blocks) {
    it(`${c.name}: encodes to Go's exact bytes and decodes Go's bytes back`, () => {
      const input = b64(c.input_b64);
      const goEncoded = b64(c.encoded_b64);
      expect(toHex(snappyEncode(input))).toBe(toHex(goEncoded));
      expect(toHex(snappyDecode(goEncoded))).toBe(toHex(input));
    });
  }

  it('decodes the 4-byte-offset copy no encoder emits', () => {
    // "abcd" then copy length 8 offset 4 (tag 3)
    const block = Uint8Array.of(12, 3 << 2, 0x61, 0x62, 0x63, 0x64, ((8 - 1) << 2) | 3, 4, 0, 0, 0);
    expect(new TextDecoder().decode(snappyDecode(block))).toBe('abcdabcdabcd');
  });

  it('refuses corrupt blocks with a KcpError, whatever the corruption', () => {
    const bad = [
      Uint8Array.of(), // no length
      Uint8Array.of(0x80), // truncated length
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f), // 2^36-1: over 2^32-1
      Uint8Array.of(5, 0, 0x61), // says 5, holds 1
      Uint8Array.of(1, 0x04, 0x61), // literal of 2 with only 1 byte left
      Uint8Array.of(4, 0, 0x61, (3 << 2) | 2, 2, 0), // copy offset 2 before 1 byte written
      Uint8Array.of(4, 0, 0x61, (3 << 2) | 2, 0, 0), // offset 0
      Uint8Array.of(2, 0, 0x61, (3 << 2) | 2, 1, 0), // copy runs past the declared length
      Uint8Array.of(3, 0, 0x61, 0x01), // truncated copy tag
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        snappyDecode(b);
      } catch (e) {
        err = e;
      }
      expect(err, toHex(b)).toBeInstanceOf(KcpError);
      expect((err as KcpError).code).toBe('SNAPPY_CORRUPT');
    }
  });

  it('round-trips any bytes (fast-check), and compressible runs shrink', () => {
    checkProperty(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }),
          fc.array(fc.record({ b: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 1, max: 500 }) }), { maxLength: 300 }).map((runs) => {
            const out: number[] = [];
            for (const r of runs) for (let i = 0; i < r.n; i++) out.push(r.b);
            return Uint8Array.from(out);
          })
        ),
        (data) => {
          const enc = snappyEncode(data);
          expect(toHex(snappyDecode(enc))).toBe(toHex(data));
          expect(enc.length).toBeLessThanOrEqual(32 + data.length + Math.floor(data.length / 6));
        }
      ),
      { numRuns: 300 }
    );
    // 200 KiB of long runs (several 64 KiB blocks): far smaller encoded
    const runs = new Uint8Array(200 * 1024).map((_, i) => (i >> 9) & 3);
    const enc = snappyEncode(runs);
    expect(enc.length).toBeLessThan(runs.length / 20);
    expect(snappyDecode(enc)).toEqual(runs);
  });
});

describe("snappy framing against Go's NewBufferedWriter + Flush (kcptun's CompStream)", () => {
  for (const c of captures.snappy_framed) {
    it(`${c.name}: frames to Go's exact bytes and reads Go's stream back, in any pieces`, () => {
      const writes = c.writes.map((n) => inputs.get(n)!);
      const goStream = b64(c.stream_b64);
      const enc = new SnappyFrameEncoder();
      expect(toHex(concat(writes.map((w) => enc.encode(w))))).toBe(toHex(goStream));
      const whole = decodeInPieces(goStream, []);
      expect(whole.error).toBeNull();
      expect(toHex(whole.data)).toBe(toHex(concat(writes)));
      const prng = new Prng(c.name.length);
      for (let round = 0; round < 5; round++) {
        const cuts = Array.from({ length: prng.int(1, 40) }, () => prng.int(1, goStream.length - 1));
        const pieces = decodeInPieces(goStream, cuts);
        expect(pieces.error, `cuts ${cuts.join(',')}`).toBeNull();
        expect(pieces.data.length).toBe(whole.data.length);
        expect(toHex(pieces.data)).toBe(toHex(whole.data));
      }
    });
  }

  it('round-trips any writes cut into any pieces (fast-check)', () => {
    checkProperty(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70_000 }), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 20 }), (writes, cuts) => {
        const enc = new SnappyFrameEncoder();
        const stream = concat(writes.map((w) => enc.encode(w)));
        const { data, error } = decodeInPieces(
          stream,
          cuts.map((c) => (stream.length > 0 ? c % stream.length : 0))
        );
        expect(error).toBeNull();
        expect(toHex(data)).toBe(toHex(concat(writes)));
      }),
      { numRuns: 60 }
    );
  });

  it('skips padding and skippable chunks and accepts a repeated stream identifier', () => {
    const enc = new SnappyFrameEncoder();
    const a = enc.encode(new TextEncoder().encode('first '));
    const b = enc.encode(new TextEncoder().encode('second'));
    const stream = concat([a, Uint8Array.of(0xfe, 3, 0, 0, 0, 0, 0), Uint8Array.of(0x80, 1, 0, 0, 9), STREAM_IDENTIFIER, b]);
    const { data, error } = decodeInPieces(stream, [1, 5, 13, 20]);
    expect(error).toBeNull();
    expect(new TextDecoder().decode(data)).toBe('first second');
  });

  it('ends the stream with SNAPPY_CORRUPT, never a throw, on every kind of bad stream', () => {
    const good = new SnappyFrameEncoder().encode(new TextEncoder().encode('hello hello hello hello hello'));
    const flip = (i: number) => {
      const c = good.slice();
      c[i]! ^= 0x01;
      return c;
    };
    const cases: Record<string, Uint8Array> = {
      'no stream identifier first': good.subarray(10),
      'bad identifier body': flip(6),
      'identifier of another length': Uint8Array.of(0xff, 7, 0, 0, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59, 0),
      'checksum mismatch': flip(14),
      'corrupt block': flip(good.length - 1),
      'reserved chunk type': concat([STREAM_IDENTIFIER, Uint8Array.of(0x02, 0, 0, 0)]),
      'chunk longer than any valid one': concat([STREAM_IDENTIFIER, Uint8Array.of(0x00, 0xff, 0xff, 0x01)]),
      'data chunk without room for a checksum': concat([STREAM_IDENTIFIER, Uint8Array.of(0x01, 3, 0, 0, 0, 0, 0)]),
      'uncompressed chunk over 64 KiB': concat([STREAM_IDENTIFIER, Uint8Array.of(0x01, 0x05, 0x00, 0x01)]),
    };
    for (const [name, stream] of Object.entries(cases)) {
      const dec = new SnappyFrameDecoder();
      const out = new CollectSink<Uint8Array>();
      const err = dec.push(stream, out);
      expect(err, name).toBeInstanceOf(KcpError);
      expect(err!.code, name).toBe('SNAPPY_CORRUPT');
      // dead from then on, with the same error
      expect(dec.push(good, out), name).toBe(err);
    }
  });
});
