import { describe, expect, it } from 'vitest';
import { PatternVerifier, findPatternMismatch, patternByte, patternBytes } from '../operators/testing/pattern.js';
import { Prng } from '../src/prng.js';

describe('the transfer pattern', () => {
  it('fillPattern and findPatternMismatch agree with patternByte at any offset, across 256-byte and 64 KiB edges', () => {
    const prng = new Prng(5);
    for (const offset of [0, 1, 255, 256, 65535, 65536, 16777215, 2 ** 32 - 3, 2 ** 40 + 17, prng.float() * 2 ** 30]) {
      const o = Math.floor(offset);
      const data = patternBytes(o, 3000);
      for (let k = 0; k < data.length; k += 97) expect(data[k]).toBe(patternByte(o + k));
      expect(findPatternMismatch(data, o)).toBe(-1);
      for (const at of [0, 1, 255, 256, 1000, 2999]) {
        const bad = data.slice();
        bad[at] ^= 1 << (at % 8);
        expect(findPatternMismatch(bad, o), `offset ${o}, byte ${at}`).toBe(at);
      }
      expect(findPatternMismatch(data, o + 1)).toBe(0); // shifted by one: wrong from the start
    }
  });

  it('PatternVerifier follows chunks of any size and stops at the first wrong byte', () => {
    const v = new PatternVerifier();
    const all = patternBytes(0, 100_000);
    for (let off = 0; off < 60_000; off += 777) expect(v.push(all.subarray(off, Math.min(60_000, off + 777)))).toBe(true);
    expect(v.offset).toBe(60_000);
    const bad = all.slice(60_000, 61_000);
    bad[500] ^= 0x80;
    expect(v.push(bad)).toBe(false);
    expect(v.error).toContain('60500');
  });
});
