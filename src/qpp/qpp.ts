/**
 * Quantum Permutation Pads (QPP), byte-compatible with github.com/xtaci/qpp 1.1.25 as kcptun's
 * `--QPP` uses it: a stream cipher over the bytes of each smux stream.
 *
 * - Pads: `numPads` permutations of 0..255, each a Fisher–Yates shuffle of the identity whose
 *   random numbers come from AES-256 (keys derived from the seed) encrypting an HMAC-SHA256 of
 *   the pad's number, again and again, read as a 256-bit big-endian integer.
 * - Stream: a xoshiro256** generator seeded from the seed (HMAC-SHA256, then PBKDF2-SHA1) gives a
 *   64-bit word per 8 bytes; that word picks the pad (its low 16 bits modulo `numPads`) and its
 *   bytes, lowest first, are XORed into the data before the permutation:
 *   `c = pad[p ^ r_byte]`, `p = rpad[c] ^ r_byte`. The cipher depends only on the position in the
 *   stream, however the stream is cut into writes.
 *
 * The pads of one key are shared by every stream (building them costs ~250 thousand AES blocks for
 * kcptun's 61 pads); each stream direction has its own `QppStream`, started from the same seed, as
 * kcptun's QPPPort does.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { Aes } from '../crypt/ciphers/aes.js';

const utf8 = new TextEncoder();
/** HMAC message of the pad selector PRNG (qpp's PM_SELECTOR_IDENTIFIER). */
const PM_SELECTOR_IDENTIFIER = utf8.encode('PERMUTATION_MATRIX_SELECTOR');
/** PBKDF2 salt of the AES keys that drive the shuffles (SHUFFLE_SALT). */
const SHUFFLE_SALT = utf8.encode('___QUANTUM_PERMUTATION_PAD_SHUFFLE_SALT___');
/** PBKDF2 salt of the PRNG state (PRNG_SALT). */
const PRNG_SALT = utf8.encode('___QUANTUM_PERMUTATION_PAD_PRNG_SALT___');
/** PBKDF2 salt that stretches the seed into chunks (CHUNK_DERIVE_SALT). */
const CHUNK_DERIVE_SALT = utf8.encode('___QUANTUM_PERMUTATION_PAD_SEED_DERIVE___');
/** PBKDF2 iterations for the shuffle keys, the PRNG and a short seed (PBKDF2_LOOPS). */
const PBKDF2_LOOPS = 128;
/** PBKDF2 iterations per seed chunk (CHUNK_DERIVE_LOOPS). */
const CHUNK_DERIVE_LOOPS = 1024;
/** Bytes per seed chunk, and the length a shorter seed is stretched to. */
const CHUNK_SIZE = 32;
/** Bytes of seed that cover every permutation of 256 values: ceil(log2(256!) / 8) (QPPMinimumSeedLength(8)). */
export const QPP_MIN_SEED_LENGTH = 211;
/** Pads needed to use that much seed, one 32-byte chunk each (QPPMinimumPads(8)). */
export const QPP_MIN_PADS = 7;
/** Chunks the seed is cut into: ceil(211 / 32). */
const CHUNK_COUNT = Math.ceil(QPP_MIN_SEED_LENGTH / CHUNK_SIZE);
/** kcptun's default --QPPCount: a prime, so the pad choice modulo it is not biased by a power of two. */
export const QPP_DEFAULT_PADS = 61;

/** The seed cut into 32-byte chunks, each stretched by PBKDF2 (qpp's seedToChunks). */
export function qppSeedChunks(seed: Uint8Array): Uint8Array[] {
  let s = seed;
  if (s.length < CHUNK_SIZE) s = pbkdf2(sha1, s, CHUNK_DERIVE_SALT, { c: PBKDF2_LOOPS, dkLen: CHUNK_SIZE });
  const chunks: Uint8Array[] = [];
  let idx = 0;
  for (let i = 0; i < CHUNK_COUNT; i++) {
    const chunk = new Uint8Array(CHUNK_SIZE);
    for (let j = 0; j < CHUNK_SIZE; j++) chunk[j] = s[idx++ % s.length]!;
    chunks.push(pbkdf2(sha1, chunk, CHUNK_DERIVE_SALT, { c: CHUNK_DERIVE_LOOPS, dkLen: CHUNK_SIZE }));
  }
  return chunks;
}

/** The permutation pads of one seed, forward and reverse, 256 bytes each. */
export class QppPads {
  /** Forward pads: pad i is `pads[256 i .. 256 i + 256)`. */
  readonly pads: Uint8Array;
  /** Reverse pads: `rpads[256 i + pads[256 i + x]] = x`. */
  readonly rpads: Uint8Array;

  /** Builds `numPads` pads (1..65535) from `seed` (any non-empty bytes; kcptun passes its --key). */
  constructor(
    seed: Uint8Array,
    readonly numPads: number
  ) {
    if (!Number.isInteger(numPads) || numPads < 1 || numPads > 0xffff) throw new RangeError(`qpp: numPads must be 1..65535, got ${numPads}`);
    const chunks = qppSeedChunks(seed);
    const blocks = chunks.map((c) => new Aes(pbkdf2(sha1, c, SHUFFLE_SALT, { c: PBKDF2_LOOPS, dkLen: 32 })));
    this.pads = new Uint8Array(numPads * 256);
    this.rpads = new Uint8Array(numPads * 256);
    for (let i = 0; i < numPads; i++) {
      const pad = this.pads.subarray(i * 256, i * 256 + 256);
      for (let x = 0; x < 256; x++) pad[x] = x;
      shuffle(chunks[i % chunks.length]!, pad, i, blocks);
      const rpad = this.rpads.subarray(i * 256, i * 256 + 256);
      for (let x = 0; x < 256; x++) rpad[pad[x]!] = x;
    }
  }
}

function shuffle(chunk: Uint8Array, pad: Uint8Array, padId: number, blocks: Aes[]): void {
  // Go's fmt "%b": the pad number in binary
  const sum = hmac(sha256, chunk, utf8.encode(`QPP_${padId.toString(2)}`));
  for (let i = pad.length - 1; i > 0; i--) {
    for (const block of blocks) for (let off = 0; off < sum.length; off += 16) block.encryptBlock(sum, off, sum, off);
    let big = 0n;
    for (const b of sum) big = (big << 8n) | BigInt(b);
    const j = Number(big % BigInt(i + 1));
    const t = pad[i]!;
    pad[i] = pad[j]!;
    pad[j] = t;
  }
}

/**
 * One direction of a QPP stream: the xoshiro256** state (as two 32-bit halves per word), the
 * current 64-bit word and how many of its bytes are used.
 */
export class QppStream {
  /** xoshiro256** state s0..s3, each as [hi, lo]. */
  private readonly s = new Uint32Array(8);
  private rHi = 0;
  private rLo = 0;
  private count = 0;

  /** Starts the generator from `seed` as qpp's CreatePRNG does. */
  constructor(
    private readonly pads: QppPads,
    seed: Uint8Array
  ) {
    const sum = hmac(sha256, seed, PM_SELECTOR_IDENTIFIER);
    const k = pbkdf2(sha1, sum, PRNG_SALT, { c: PBKDF2_LOOPS, dkLen: 32 });
    for (let w = 0; w < 4; w++) {
      const o = w * 8;
      this.s[2 * w + 1] = (k[o]! | (k[o + 1]! << 8) | (k[o + 2]! << 16) | (k[o + 3]! << 24)) >>> 0;
      this.s[2 * w] = (k[o + 4]! | (k[o + 5]! << 8) | (k[o + 6]! << 16) | (k[o + 7]! << 24)) >>> 0;
    }
    this.next();
  }

  /** The generator's state as qpp's Rand holds it, hex: xoshiro s0..s3, the current word, bytes of it used. */
  get state(): { xoshiro: string[]; seed64: string; count: number } {
    const hex = (hi: number, lo: number) => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
    const x = [0, 1, 2, 3].map((w) => hex(this.s[2 * w]!, this.s[2 * w + 1]!));
    return { xoshiro: x, seed64: hex(this.rHi, this.rLo), count: this.count };
  }

  /** Encrypts `data` in place, continuing the stream. */
  encrypt(data: Uint8Array): void {
    const pads = this.pads.pads;
    let base = (this.rLo & 0xffff) % this.pads.numPads << 8;
    for (let i = 0; i < data.length; i++) {
      const c = this.count;
      const rb = (c < 4 ? this.rLo >>> (c * 8) : this.rHi >>> ((c - 4) * 8)) & 0xff;
      data[i] = pads[base + (data[i]! ^ rb)]!;
      if (++this.count === 8) {
        this.count = 0;
        this.next();
        base = (this.rLo & 0xffff) % this.pads.numPads << 8;
      }
    }
  }

  /** Decrypts `data` in place, continuing the stream. */
  decrypt(data: Uint8Array): void {
    const rpads = this.pads.rpads;
    let base = (this.rLo & 0xffff) % this.pads.numPads << 8;
    for (let i = 0; i < data.length; i++) {
      const c = this.count;
      const rb = (c < 4 ? this.rLo >>> (c * 8) : this.rHi >>> ((c - 4) * 8)) & 0xff;
      data[i] = rpads[base + data[i]!]! ^ rb;
      if (++this.count === 8) {
        this.count = 0;
        this.next();
        base = (this.rLo & 0xffff) % this.pads.numPads << 8;
      }
    }
  }

  /** xoshiro256**: result = rotl(s1 * 5, 7) * 9, then the state update, in 32-bit halves. */
  private next(): void {
    const s = this.s;
    // s1 * 5 = (s1 << 2) + s1
    let [h, l] = add64(...shl64(s[2]!, s[3]!, 2), s[2]!, s[3]!);
    [h, l] = rotl64(h, l, 7);
    // * 9 = (x << 3) + x
    [this.rHi, this.rLo] = add64(...shl64(h, l, 3), h, l);
    const [th, tl] = shl64(s[2]!, s[3]!, 17);
    let [s0h, s0l, s1h, s1l, s2h, s2l, s3h, s3l] = [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!];
    s2h ^= s0h; s2l ^= s0l; // s2 ^= s0
    s3h ^= s1h; s3l ^= s1l; // s3 ^= s1
    s1h ^= s2h; s1l ^= s2l; // s1 ^= s2
    s0h ^= s3h; s0l ^= s3l; // s0 ^= s3
    s2h ^= th; s2l ^= tl; // s2 ^= t
    [s3h, s3l] = rotl64(s3h, s3l, 45); // s3 = rotl(s3, 45)
    s.set([s0h, s0l, s1h, s1l, s2h, s2l, s3h, s3l]);
  }
}

function shl64(h: number, l: number, k: number): [number, number] {
  return k < 32 ? [((h << k) | (l >>> (32 - k))) >>> 0, (l << k) >>> 0] : [(l << (k - 32)) >>> 0, 0];
}

function rotl64(h: number, l: number, k: number): [number, number] {
  if (k >= 32) {
    [h, l] = [l, h];
    k -= 32;
  }
  if (k === 0) return [h >>> 0, l >>> 0];
  return [((h << k) | (l >>> (32 - k))) >>> 0, ((l << k) | (h >>> (32 - k))) >>> 0];
}

function add64(ah: number, al: number, bh: number, bl: number): [number, number] {
  const lo = al + bl;
  return [(ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0, lo >>> 0];
}
