/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32) for the virtual
 * network, property tests and benchmarks. Not for keys or nonces: those come from a CSPRNG.
 * The same seed always gives the same sequence, on every runtime.
 * @module
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform uint32. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Fills `into` with pseudo-random bytes and returns it. */
  fill(into: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= into.length; i += 4) {
      const v = this.u32();
      into[i] = v;
      into[i + 1] = v >>> 8;
      into[i + 2] = v >>> 16;
      into[i + 3] = v >>> 24;
    }
    if (i < into.length) {
      const v = this.u32();
      for (let k = 0; i < into.length; i++, k += 8) into[i] = v >>> k;
    }
    return into;
  }

  /** `n` fresh pseudo-random bytes. */
  bytes(n: number): Uint8Array {
    return this.fill(new Uint8Array(n));
  }
}
