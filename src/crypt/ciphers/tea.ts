/**
 * TEA and XTEA encryption as `BlockCipher`s: 64-bit blocks and 128-bit keys, big-endian words, as
 * x/crypto/tea and x/crypto/xtea define them. kcp-go's TEA runs 16 rounds (8 cycles), not TEA's
 * standard 64 (docs/protocol.md#cipher-list).
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { readU32BE, writeU32BE } from '../../wire/bytes.js';

const DELTA = 0x9e3779b9;


function checkKey(name: string, key: Uint8Array): void {
  if (key.length !== 16) throw new RangeError(`${name}: key must be 16 bytes, got ${key.length}`);
}

export class Tea implements BlockCipher {
  readonly blockSize = 8;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;
  private readonly cycles: number;

  /** `rounds` must be even (two rounds per cycle); kcp-go uses 16. */
  constructor(key: Uint8Array, rounds = 64) {
    checkKey('tea', key);
    if (!Number.isInteger(rounds) || rounds < 2 || rounds % 2 !== 0 || rounds > 64) {
      throw new RangeError(`tea: rounds must be an even number 2..64, got ${rounds}`);
    }
    this.k0 = readU32BE(key, 0);
    this.k1 = readU32BE(key, 4);
    this.k2 = readU32BE(key, 8);
    this.k3 = readU32BE(key, 12);
    this.cycles = rounds / 2;
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    let v0 = readU32BE(src, so);
    let v1 = readU32BE(src, so + 4);
    let sum = 0;
    const { k0, k1, k2, k3 } = this;
    for (let i = 0; i < this.cycles; i++) {
      sum = (sum + DELTA) | 0;
      v0 = (v0 + ((((v1 << 4) + k0) | 0) ^ ((v1 + sum) | 0) ^ (((v1 >>> 5) + k1) | 0))) | 0;
      v1 = (v1 + ((((v0 << 4) + k2) | 0) ^ ((v0 + sum) | 0) ^ (((v0 >>> 5) + k3) | 0))) | 0;
    }
    writeU32BE(dst, d, v0);
    writeU32BE(dst, d + 4, v1);
  }
}

export class Xtea implements BlockCipher {
  readonly blockSize = 8;
  /** The 64 round keys, precomputed as x/crypto/xtea does. */
  private readonly table = new Int32Array(64);

  constructor(key: Uint8Array) {
    checkKey('xtea', key);
    const k = [readU32BE(key, 0), readU32BE(key, 4), readU32BE(key, 8), readU32BE(key, 12)];
    let sum = 0;
    for (let i = 0; i < 64; ) {
      this.table[i++] = (sum + k[sum & 3]!) | 0;
      sum = (sum + DELTA) | 0;
      this.table[i++] = (sum + k[(sum >>> 11) & 3]!) | 0;
    }
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    let v0 = readU32BE(src, so) | 0;
    let v1 = readU32BE(src, so + 4) | 0;
    const t = this.table;
    for (let i = 0; i < 64; ) {
      v0 = (v0 + ((((v1 << 4) ^ (v1 >>> 5)) + v1) ^ t[i++]!)) | 0;
      v1 = (v1 + ((((v0 << 4) ^ (v0 >>> 5)) + v0) ^ t[i++]!)) | 0;
    }
    writeU32BE(dst, d, v0);
    writeU32BE(dst, d + 4, v1);
  }
}
