/**
 * The kcp-go datagram ciphers that are not block ciphers in CFB: Salsa20 (spec §2.4), SimpleXOR
 * (§2.5) and None (keeps the nonce+CRC header, encrypts nothing).
 * @module
 */
import { salsa20 } from '@noble/ciphers/salsa.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { mtuLimit } from '../wire/constants.js';
import type { BlockCrypt } from './block-crypt.js';

/**
 * Salsa20/20 over bytes 8..end, with the datagram's first 8 (random, in clear) bytes as nonce.
 * The key is any length, zero-padded or cut to 32 bytes, as kcp-go does.
 */
export class Salsa20Crypt implements BlockCrypt {
  readonly name = 'salsa20';
  private readonly key = new Uint8Array(32);

  constructor(key: Uint8Array) {
    this.key.set(key.subarray(0, 32));
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    if (dst !== src) dst.set(src.subarray(0, Math.min(8, src.length)));
    if (src.length <= 8) return;
    salsa20(this.key, src.subarray(0, 8), src.subarray(8), dst.subarray(8));
  }

  decrypt(dst: Uint8Array, src: Uint8Array): void {
    this.encrypt(dst, src);
  }
}

/** The SimpleXOR table: PBKDF2-HMAC-SHA1(key, "sH3CIVoF#rWLtJo6", 32, 1500). */
export function xorTable(key: Uint8Array): Uint8Array {
  return pbkdf2(sha1, key, new TextEncoder().encode('sH3CIVoF#rWLtJo6'), { c: 32, dkLen: mtuLimit });
}

/** XOR with a fixed table: obfuscation, not confidentiality (the same table for every datagram). */
export class SimpleXorCrypt implements BlockCrypt {
  readonly name = 'xor';
  private readonly table: Uint8Array;

  constructor(key: Uint8Array) {
    this.table = xorTable(key);
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    const t = this.table;
    const n = Math.min(src.length, t.length);
    for (let i = 0; i < n; i++) dst[i] = src[i]! ^ t[i]!;
    if (dst !== src && src.length > n) dst.set(src.subarray(n), n);
  }

  decrypt(dst: Uint8Array, src: Uint8Array): void {
    this.encrypt(dst, src);
  }
}

/** No cipher, but the nonce and CRC header stay (kcptun `--crypt none`). */
export class NoneCrypt implements BlockCrypt {
  readonly name = 'none';
  encrypt(dst: Uint8Array, src: Uint8Array): void {
    if (dst !== src) dst.set(src);
  }
  decrypt(dst: Uint8Array, src: Uint8Array): void {
    if (dst !== src) dst.set(src);
  }
}
