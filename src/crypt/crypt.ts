/**
 * Choosing a packet cipher by kcptun's `--crypt` name, and the key derivation kcptun uses, so an
 * rxkcp peer configured like a kcptun one talks to it (docs/protocol.md#cipher-list,
 * docs/protocol.md#keys).
 * @module
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { crc32 as portableCrc32, type Crc32 } from '../wire/crc32.js';
import { cryptHeaderSize } from '../wire/constants.js';
import { createAead, AEAD_KEY_SIZES, type AeadCrypt } from './aead.js';
import type { BlockCrypt } from './block-crypt.js';
import { CfbCrypt } from './cfb-crypt.js';
import { Aes } from './ciphers/aes.js';
import { Blowfish } from './ciphers/blowfish.js';
import { Cast5 } from './ciphers/cast5.js';
import { Sm4 } from './ciphers/sm4.js';
import { Tea, Xtea } from './ciphers/tea.js';
import { TripleDes } from './ciphers/triple-des.js';
import { Twofish } from './ciphers/twofish.js';
import { NoneCrypt, Salsa20Crypt, SimpleXorCrypt } from './stream-crypts.js';

/** Names with kcp-go's nonce + CRC32 header and a whole-datagram cipher. */
export const CFB_CRYPT_NAMES = [
  'aes',
  'aes-128',
  'aes-192',
  'salsa20',
  'blowfish',
  'twofish',
  'cast5',
  '3des',
  'tea',
  'xtea',
  'xor',
  'sm4',
  'none',
] as const;
/** AEAD names (kcp-go ≥ 5.6.49 framing, not understood by kcp-go 5.6.1). */
export const AEAD_CRYPT_NAMES = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'] as const;
export type CfbCryptName = (typeof CFB_CRYPT_NAMES)[number];
export type AeadCryptName = (typeof AEAD_CRYPT_NAMES)[number];
/** Every name `createCrypt` accepts; `null` means no crypto header at all (kcp-go `block == nil`). */
export type CryptName = CfbCryptName | AeadCryptName | 'null';

/** Fills `into` with cryptographically random bytes (nonces). Injectable for deterministic tests. */
export type RandomSource = (into: Uint8Array) => void;

/**
 * `crypto.getRandomValues`, drawn from a 4 KiB pool refilled in one call: a call per 16-byte
 * nonce cost more than the CRC of the whole datagram.
 */
export const defaultRandom: RandomSource = (() => {
  const pool = new Uint8Array(4096);
  let used = pool.length;
  return (into: Uint8Array) => {
    if (into.length > pool.length) {
      globalThis.crypto.getRandomValues(into);
      return;
    }
    if (used + into.length > pool.length) {
      globalThis.crypto.getRandomValues(pool);
      used = 0;
    }
    into.set(pool.subarray(used, used + into.length));
    pool.fill(0, used, used + into.length); // a nonce is never handed out twice
    used += into.length;
  };
})();

export interface CryptOptions {
  /** Nonce source. Default: `crypto.getRandomValues`. */
  random?: RandomSource;
  /** CRC-32 used by the CFB framing. Default: the portable one (`rxkcp/node` passes zlib's). */
  crc32?: Crc32;
}

/**
 * How datagrams are framed and protected; what the decrypt/encrypt/CRC layers work from.
 * `framed`: kcp-go's 16-byte nonce + CRC-32 header, the whole packet run through a
 * {@link BlockCrypt} (the CFB block ciphers, and also salsa20, xor and none); `aead`: nonce +
 * sealed body + tag; `null`: the body as it is.
 */
export type PacketCrypt =
  | { readonly kind: 'framed'; readonly name: CfbCryptName; readonly block: BlockCrypt; readonly random: RandomSource; readonly crc32: Crc32 }
  | { readonly kind: 'aead'; readonly name: AeadCryptName; readonly aead: AeadCrypt; readonly random: RandomSource }
  | { readonly kind: 'null'; readonly name: 'null' };

/** Bytes the crypto layer puts in front of the body: 20 (nonce + CRC), the AEAD nonce, or 0. */
export function cryptHeaderSizeOf(c: PacketCrypt): number {
  return c.kind === 'framed' ? cryptHeaderSize : c.kind === 'aead' ? c.aead.nonceSize : 0;
}

/** Bytes the crypto layer adds after the body (the AEAD tag), or 0. */
export function cryptTrailerSizeOf(c: PacketCrypt): number {
  return c.kind === 'aead' ? c.aead.overhead : 0;
}

/** Raw key length each block cipher requires, as the Go libraries enforce it. */
function checkKey(name: string, key: Uint8Array, sizes: number[]): Uint8Array {
  if (!sizes.includes(key.length)) {
    throw new RangeError(`crypt: ${name} needs a key of ${sizes.join(' or ')} bytes, got ${key.length}`);
  }
  return key;
}

/** Portable implementations of every CFB name. */
const PORTABLE_CFB: Record<CfbCryptName, (key: Uint8Array) => BlockCrypt> = {
  aes: (k) => new CfbCrypt('aes', new Aes(checkKey('aes', k, [16, 24, 32]))),
  'aes-128': (k) => new CfbCrypt('aes-128', new Aes(checkKey('aes-128', k, [16]))),
  'aes-192': (k) => new CfbCrypt('aes-192', new Aes(checkKey('aes-192', k, [24]))),
  tea: (k) => new CfbCrypt('tea', new Tea(checkKey('tea', k, [16]), 16)),
  blowfish: (k) => new CfbCrypt('blowfish', new Blowfish(k)),
  cast5: (k) => new CfbCrypt('cast5', new Cast5(checkKey('cast5', k, [16]))),
  twofish: (k) => new CfbCrypt('twofish', new Twofish(checkKey('twofish', k, [16, 24, 32]))),
  sm4: (k) => new CfbCrypt('sm4', new Sm4(checkKey('sm4', k, [16]))),
  '3des': (k) => new CfbCrypt('3des', new TripleDes(checkKey('3des', k, [24]))),
  xtea: (k) => new CfbCrypt('xtea', new Xtea(checkKey('xtea', k, [16]))),
  salsa20: (k) => new Salsa20Crypt(k),
  xor: (k) => new SimpleXorCrypt(k),
  none: () => new NoneCrypt(),
};

function isCfbName(name: string): name is CfbCryptName {
  return (CFB_CRYPT_NAMES as readonly string[]).includes(name);
}

function isAeadName(name: string): name is AeadCryptName {
  return (AEAD_CRYPT_NAMES as readonly string[]).includes(name);
}

/**
 * The packet crypto for `name` with a raw key, using portable implementations (no node:*).
 * Throws RangeError on an unknown name or a wrong key length.
 */
export function createCrypt(name: CryptName, key: Uint8Array, options: CryptOptions = {}): PacketCrypt {
  const random = options.random ?? defaultRandom;
  if (name === 'null') return { kind: 'null', name };
  if (isAeadName(name)) return { kind: 'aead', name, aead: createAead(name, key), random };
  if (!isCfbName(name)) throw new RangeError(`crypt: unknown cipher ${String(name)}`);
  return { kind: 'framed', name, block: PORTABLE_CFB[name](key), random, crc32: options.crc32 ?? portableCrc32 };
}

/** kcptun's key derivation: PBKDF2-HMAC-SHA1(password, "kcp-go", 4096 iterations, 32 bytes). */
export function deriveKey(password: string): Uint8Array {
  const enc = new TextEncoder();
  return pbkdf2(sha1, enc.encode(password), enc.encode('kcp-go'), { c: 4096, dkLen: 32 });
}

/** The part of kcptun's 32-byte derived key each cipher is given (kcptun server/main.go). */
export function keySliceFor(name: CryptName, pass: Uint8Array): Uint8Array {
  if (pass.length !== 32) throw new RangeError(`crypt: a derived key is 32 bytes, got ${pass.length}`);
  switch (name) {
    case 'aes-128':
    case 'sm4':
    case 'tea':
    case 'xtea':
    case 'cast5':
      return pass.slice(0, 16);
    case 'aes-192':
    case '3des':
      return pass.slice(0, 24);
    default:
      if (isAeadName(name)) return pass.slice(0, AEAD_KEY_SIZES[name]);
      return pass.slice();
  }
}

/** `createCrypt` with kcptun's derivation from a password (what `--crypt X --key Y` means to kcptun). */
export function cryptFromPassword(name: CryptName, password: string, options: CryptOptions = {}): PacketCrypt {
  return createCrypt(name, keySliceFor(name, deriveKey(password)), options);
}
