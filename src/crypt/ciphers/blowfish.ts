/**
 * Blowfish encryption as a `BlockCipher` (Schneier 1993): 64-bit blocks, 16 Feistel rounds,
 * big-endian words, a 1..56-byte key mixed into P-array and S-boxes that start as the digits of
 * pi. kcp-go uses it with a 32-byte key (x/crypto/blowfish). node:crypto has it only behind the
 * --openssl-legacy-provider process flag, so this TypeScript version is the one rxkcp uses.
 * @module
 */
import type { BlockCipher } from '../block-cipher.js';
import { readU32BE, writeU32BE } from '../../wire/bytes.js';
import { BLOWFISH_P, BLOWFISH_S } from './tables.js';

export class Blowfish implements BlockCipher {
  readonly blockSize = 8;
  private readonly p = BLOWFISH_P.slice();
  private readonly s = BLOWFISH_S.slice(); // S0..S3, 256 words each
  private readonly lr = new Uint32Array(2);

  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 56) throw new RangeError(`blowfish: key must be 1..56 bytes, got ${key.length}`);
    let j = 0;
    for (let i = 0; i < 18; i++) {
      let d = 0;
      for (let k = 0; k < 4; k++) {
        d = (d << 8) | key[j]!;
        j = (j + 1) % key.length;
      }
      this.p[i]! ^= d;
    }
    const lr = this.lr;
    lr[0] = 0;
    lr[1] = 0;
    for (let i = 0; i < 18; i += 2) {
      this.encryptWords(lr);
      this.p[i] = lr[0]!;
      this.p[i + 1] = lr[1]!;
    }
    for (let i = 0; i < 1024; i += 2) {
      this.encryptWords(lr);
      this.s[i] = lr[0]!;
      this.s[i + 1] = lr[1]!;
    }
  }

  private encryptWords(lr: Uint32Array): void {
    const p = this.p;
    const s = this.s;
    let l = lr[0]!;
    let r = lr[1]!;
    for (let i = 0; i < 16; i += 2) {
      l ^= p[i]!;
      r ^= (((s[l >>> 24]! + s[256 + ((l >>> 16) & 0xff)]!) ^ s[512 + ((l >>> 8) & 0xff)]!) + s[768 + (l & 0xff)]!) | 0;
      r ^= p[i + 1]!;
      l ^= (((s[r >>> 24]! + s[256 + ((r >>> 16) & 0xff)]!) ^ s[512 + ((r >>> 8) & 0xff)]!) + s[768 + (r & 0xff)]!) | 0;
    }
    lr[0] = r ^ p[17]!;
    lr[1] = l ^ p[16]!;
  }

  encryptBlock(src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    const lr = this.lr;
    lr[0] = readU32BE(src, so);
    lr[1] = readU32BE(src, so + 4);
    this.encryptWords(lr);
    writeU32BE(dst, d, lr[0]!);
    writeU32BE(dst, d + 4, lr[1]!);
  }
}
