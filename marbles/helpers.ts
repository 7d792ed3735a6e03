import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import { Prng } from '../src/prng.js';

/** A TestScheduler asserting with vitest (Uint8Arrays compare byte by byte). */
export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** `n` bytes all equal to `fill`. */
export function bytes(n: number, fill = 0): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

/** A deterministic nonce source for marble output that does not change run to run. */
export function seededRandom(seed: number): (into: Uint8Array) => void {
  const prng = new Prng(seed);
  return (into) => void prng.fill(into);
}

/** FNV-1a over byte arrays and numbers: a digest to assert repeatability of a whole run. */
export class Digest {
  private h = 0x811c9dc5;
  bytes(b: Uint8Array): this {
    let h = this.h;
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    this.h = h;
    return this;
  }
  num(n: number): this {
    return this.bytes(new TextEncoder().encode(String(n) + ';'));
  }
  get value(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}
