/**
 * QPP against vectors produced by github.com/xtaci/qpp 1.1.25 itself (test/vectors/qpp/README.md):
 * the seed chunks, the pads, the PRNG state and a stream encrypted in uneven writes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QPP_MIN_PADS, QPP_MIN_SEED_LENGTH, QppPads, QppStream, qppSeedChunks } from '../src/qpp/qpp.js';
import { sha256 } from '@noble/hashes/sha2.js';

interface State {
  xoshiro: string[];
  seed64: string;
  count: number;
}
interface Case {
  seed_hex: string;
  num_pads: number;
  chunks_hex: string[];
  pad0_hex: string;
  pad_last_hex: string;
  pads_sha256: string;
  rpads_sha256: string;
  prng: State;
  plain_hex: string;
  writes: number[];
  cipher_hex: string;
  prng_after: State;
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/qpp/qpp-vectors.json', import.meta.url), 'utf8')) as { min_seed_length: number; min_pads: number; cases: Case[] };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('qpp vectors (xtaci/qpp 1.1.25)', () => {
  it('minimum seed length and pads', () => {
    expect(QPP_MIN_SEED_LENGTH).toBe(vectors.min_seed_length);
    expect(QPP_MIN_PADS).toBe(vectors.min_pads);
  });

  const padCache = new Map<Case, QppPads>();
  const padsOf = (c: Case) => {
    let p = padCache.get(c);
    if (!p) padCache.set(c, (p = new QppPads(unhex(c.seed_hex), c.num_pads)));
    return p;
  };

  for (const c of vectors.cases) {
    const name = `seed of ${c.seed_hex.length / 2} bytes, ${c.num_pads} pads`;
    it(`${name}: seed chunks`, () => {
      expect(qppSeedChunks(unhex(c.seed_hex)).map(hex)).toEqual(c.chunks_hex);
    });
    it(`${name}: pads`, () => {
      const p = padsOf(c);
      expect(hex(p.pads.subarray(0, 256))).toBe(c.pad0_hex);
      expect(hex(p.pads.subarray(p.pads.length - 256))).toBe(c.pad_last_hex);
      expect(hex(sha256(p.pads))).toBe(c.pads_sha256);
      expect(hex(sha256(p.rpads))).toBe(c.rpads_sha256);
    });
    it(`${name}: PRNG state and a stream in uneven writes`, () => {
      const p = padsOf(c);
      const enc = new QppStream(p, unhex(c.seed_hex));
      expect(enc.state).toEqual(c.prng);
      const data = unhex(c.plain_hex);
      let o = 0;
      for (const w of c.writes) {
        enc.encrypt(data.subarray(o, o + w));
        o += w;
      }
      expect(hex(data)).toBe(c.cipher_hex);
      expect(enc.state).toEqual(c.prng_after);
      // one write gives the same bytes: only the position in the stream counts
      const whole = unhex(c.plain_hex);
      new QppStream(p, unhex(c.seed_hex)).encrypt(whole);
      expect(hex(whole)).toBe(c.cipher_hex);
      // decryption in other pieces gives the plaintext back
      const dec = new QppStream(p, unhex(c.seed_hex));
      for (let i = 0; i < data.length; i += 11) dec.decrypt(data.subarray(i, Math.min(data.length, i + 11)));
      expect(hex(data)).toBe(c.plain_hex);
    });
  }

  it('refuses a pad count outside 1..65535', () => {
    expect(() => new QppPads(new Uint8Array(8), 0)).toThrow(RangeError);
    expect(() => new QppPads(new Uint8Array(8), 65536)).toThrow(RangeError);
  });
});
