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
    this.run(data, this.pads.pads, true);
  }

  /** Decrypts `data` in place, continuing the stream. */
  decrypt(data: Uint8Array): void {
    this.run(data, this.pads.rpads, false);
  }

  /** Byte i: the pad and the XOR byte come from the current word; 8 bytes use a word. */
  private run(data: Uint8Array, table: Uint8Array, encrypt: boolean): void {
    const numPads = this.pads.numPads;
    let c = this.count;
    let lo = this.rLo;
    let hi = this.rHi;
    let base = ((lo & 0xffff) % numPads) << 8;
    for (let i = 0; i < data.length; i++) {
      const rb = (c < 4 ? lo >>> (c << 3) : hi >>> ((c - 4) << 3)) & 0xff;
      data[i] = encrypt ? table[base + (data[i]! ^ rb)]! : table[base + data[i]!]! ^ rb;
      if (++c === 8) {
        c = 0;
        this.next();
        lo = this.rLo;
        hi = this.rHi;
        base = ((lo & 0xffff) % numPads) << 8;
      }
    }
    this.count = c;
  }

  /** xoshiro256**: result = rotl(s1 * 5, 7) * 9, then the state update, in 32-bit halves. */
  private next(): void {
    const s = this.s;
    const s0h = s[0]!, s0l = s[1]!, s1h = s[2]!, s1l = s[3]!;
    let s2h = s[4]!, s2l = s[5]!, s3h = s[6]!, s3l = s[7]!;
    // x = s1 * 5 = (s1 << 2) + s1
    let xl = (s1l << 2) >>> 0;
    let xh = ((s1h << 2) | (s1l >>> 30)) >>> 0;
    let sum = xl + s1l;
    xh = (xh + s1h + (sum > 0xffffffff ? 1 : 0)) >>> 0;
    xl = sum >>> 0;
    // x = rotl(x, 7)
    const rh = ((xh << 7) | (xl >>> 25)) >>> 0;
    const rl = ((xl << 7) | (xh >>> 25)) >>> 0;
    // result = x * 9 = (x << 3) + x
    sum = ((rl << 3) >>> 0) + rl;
    this.rHi = ((((rh << 3) | (rl >>> 29)) >>> 0) + rh + (sum > 0xffffffff ? 1 : 0)) >>> 0;
    this.rLo = sum >>> 0;
    // t = s1 << 17
    const th = ((s1h << 17) | (s1l >>> 15)) >>> 0;
    const tl = (s1l << 17) >>> 0;
    s2h ^= s0h; s2l ^= s0l; // s2 ^= s0
    s3h ^= s1h; s3l ^= s1l; // s3 ^= s1
    const n1h = s1h ^ s2h, n1l = s1l ^ s2l; // s1 ^= s2
    const n0h = s0h ^ s3h, n0l = s0l ^ s3l; // s0 ^= s3
    s2h ^= th; s2l ^= tl; // s2 ^= t
    // s3 = rotl(s3, 45) = rotl(swap halves, 13)
    const n3h = ((s3l << 13) | (s3h >>> 19)) >>> 0;
    const n3l = ((s3h << 13) | (s3l >>> 19)) >>> 0;
    s[0] = n0h; s[1] = n0l; s[2] = n1h; s[3] = n1l; s[4] = s2h; s[5] = s2l; s[6] = n3h; s[7] = n3l;
  }
}
