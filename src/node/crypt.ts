/**
 * node:crypto implementations of kcp-go's ciphers where OpenSSL has them and is faster than the
 * portable code: AES-CFB (3.9 µs per 1400-byte packet against 7.0 µs portable; see
 * docs/design.md#node-fast-paths), SM4-CFB and 3DES-CFB (OpenSSL only; the portable build lacks
 * them), and the AEADs (AES-GCM 3.2 µs against 28 µs). OpenSSL's CFB with kcp-go's fixed IV is
 * byte-identical to kcp-go's mode (docs/protocol.md#cfb; checked against the vectors in
 * test/crypt-vectors.test.ts). Blowfish and CAST5 would need the process flag
 * --openssl-legacy-provider, so they are never taken from here. node:crypto cannot write into a
 * caller's buffer, so each call copies its result once.
 * @module
 */
import { createCipheriv, createDecipheriv, getCiphers, pbkdf2, type Cipher, type CipherGCMTypes } from 'node:crypto';
import { AEAD_KEY_SIZES, type AeadCrypt } from '../crypt/aead.js';
import { initialVector, type BlockCrypt } from '../crypt/block-crypt.js';
import {
  createCrypt,
  defaultRandom,
  deriveKey,
  keySliceFor,
  type CfbCryptName,
  type CryptName,
  type CryptOptions,
  type PacketCrypt,
} from '../crypt/crypt.js';
import { mtuLimit } from '../wire/constants.js';
import { nodeCrc32 } from './crc32.js';

/**
 * OpenSSL CFB. `encrypt` is kcp-go's transform exactly (a cipher object per datagram, fixed IV).
 * The datagram path avoids that object per datagram (about 1.7 µs and most of this path's garbage
 * per 1400-byte datagram): one encrypting and one decrypting stream live as long as the crypt,
 * and every datagram is fed through them padded to a whole block, so each starts on a block
 * boundary. Decrypting first feeds the fixed IV as a ciphertext block, which sets the CFB register
 * to it whatever came before: the result is exactly kcp-go's. Encrypting (`encryptFresh`) feeds
 * the random nonce block as it is: the first ciphertext block is then nonce ⊕ E(previous
 * register), as unpredictable as kcp-go's nonce ⊕ E(IV), and the rest is CFB under it — what a
 * kcp-go receiver decrypts, as it only ever uses the first block as the IV of the rest.
 * Decryption needs no chaining at all: the keystream of block i is E(ciphertext block i - 1)
 * (E(IV) for the first), so one ECB call over the ciphertext shifted by a block gives the whole
 * keystream, XORed here a word at a time; 2.1 µs per 1400-byte datagram against 2.9 µs through a
 * CFB stream (measured with the same key, alternating). Encryption stays on the stream: each
 * block's keystream needs the ciphertext before it, and an ECB call per block costs 0.4 µs.
 */
class NodeCfbCrypt implements BlockCrypt {
  private readonly iv: Uint8Array;
  private readonly encStream: Cipher;
  /** E_K over whole blocks, nothing carried from one call to the next. */
  private readonly ecb: Cipher;
  /** E_K(IV): the keystream of every datagram's first block. */
  private readonly first: Uint8Array;
  /** [IV][datagram][padding]: one update call per datagram. */
  private readonly scratch: Buffer;
  constructor(
    readonly name: string,
    private readonly algorithm: string,
    ecbAlgorithm: string,
    private readonly key: Uint8Array,
    private readonly blockSize: number
  ) {
    this.iv = initialVector.slice(0, blockSize);
    this.encStream = createCipheriv(algorithm, key, this.iv);
    this.ecb = createCipheriv(ecbAlgorithm, key, null);
    this.ecb.setAutoPadding(false);
    this.first = new Uint8Array(this.ecb.update(this.iv));
    this.scratch = Buffer.alloc(blockSize + mtuLimit + blockSize);
    this.scratch.set(this.iv);
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    dst.set(createCipheriv(this.algorithm, this.key, this.iv).update(src));
  }

  encryptFresh(datagram: Uint8Array): void {
    const n = datagram.length;
    if (n > mtuLimit) return this.encrypt(datagram, datagram);
    const padded = n + ((this.blockSize - (n % this.blockSize)) % this.blockSize);
    const bs = this.blockSize;
    this.scratch.set(datagram, bs);
    const out = this.encStream.update(this.scratch.subarray(bs, bs + padded));
    datagram.set(out.subarray(0, n));
  }

  decrypt(dst: Uint8Array, src: Uint8Array): void {
    const n = src.length;
    const bs = this.blockSize;
    const head = n < bs ? n : bs;
    // the keystream after the first block, taken before dst may overwrite the ciphertext
    const ks = n > bs ? this.ecb.update(src.subarray(0, Math.ceil(n / bs) * bs - bs)) : null;
    const first = this.first;
    for (let j = 0; j < head; j++) dst[j] = src[j]! ^ first[j]!;
    if (ks === null) return;
    const rest = n - bs;
    let i = 0;
    if (((dst.byteOffset | src.byteOffset | ks.byteOffset) & 3) === 0 && rest >= 16) {
      const words = rest >> 2;
      const k32 = new Int32Array(ks.buffer, ks.byteOffset, words);
      const s32 = new Int32Array(src.buffer, src.byteOffset + bs, words);
      const d32 = dst === src ? s32 : new Int32Array(dst.buffer, dst.byteOffset + bs, words);
      for (let w = 0; w < words; w++) d32[w] = s32[w]! ^ k32[w]!;
      i = words << 2;
    }
    for (; i < rest; i++) dst[bs + i] = src[bs + i]! ^ ks[i]!;
  }
}

class NodeAeadCrypt implements AeadCrypt {
  readonly nonceSize = 12;
  readonly overhead = 16;
  constructor(
    readonly name: string,
    private readonly key: Uint8Array
  ) {}

  seal(nonce: Uint8Array, body: Uint8Array): Uint8Array {
    const c = createCipheriv(this.name as CipherGCMTypes, this.key, nonce, { authTagLength: 16 });
    const out = new Uint8Array(this.nonceSize + body.length + this.overhead);
    out.set(nonce);
    out.set(c.update(body), this.nonceSize);
    c.final();
    out.set(c.getAuthTag(), this.nonceSize + body.length);
    return out;
  }

  open(datagram: Uint8Array): Uint8Array | null {
    if (datagram.length < this.nonceSize + this.overhead) return null;
    const end = datagram.length - this.overhead;
    try {
      const d = createDecipheriv(this.name as CipherGCMTypes, this.key, datagram.subarray(0, this.nonceSize), { authTagLength: 16 });
      d.setAuthTag(datagram.subarray(end));
      const body = d.update(datagram.subarray(this.nonceSize, end));
      d.final(); // throws when the tag does not verify
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    } catch {
      return null;
    }
  }
}

const available = new Set(getCiphers());

function nodeBlock(name: CfbCryptName, key: Uint8Array): BlockCrypt | null {
  switch (name) {
    case 'aes':
    case 'aes-128':
    case 'aes-192': {
      const bits = key.length * 8;
      const want = name === 'aes-128' ? 128 : name === 'aes-192' ? 192 : 0;
      if ((want && bits !== want) || ![128, 192, 256].includes(bits)) return null; // let the portable path report it
      return new NodeCfbCrypt(name, `aes-${bits}-cfb`, `aes-${bits}-ecb`, key.slice(), 16);
    }
    case 'sm4':
      if (key.length !== 16) throw new RangeError(`crypt: sm4 needs a key of 16 bytes, got ${key.length}`);
      return available.has('sm4-cfb') && available.has('sm4-ecb') ? new NodeCfbCrypt(name, 'sm4-cfb', 'sm4-ecb', key.slice(), 16) : null;
    case '3des':
      if (key.length !== 24) throw new RangeError(`crypt: 3des needs a key of 24 bytes, got ${key.length}`);
      return available.has('des-ede3-cfb') && available.has('des-ede3-ecb') ? new NodeCfbCrypt(name, 'des-ede3-cfb', 'des-ede3-ecb', key.slice(), 8) : null;
    default:
      return null;
  }
}

/**
 * `createCrypt` preferring node:crypto where it is faster, with zlib's CRC-32; falls back to the
 * portable implementations for the rest (Salsa20, TEA, XTEA, XOR, ...).
 */
export function createNodeCrypt(name: CryptName, key: Uint8Array, options: CryptOptions = {}): PacketCrypt {
  const random = options.random ?? defaultRandom;
  const crc32 = options.crc32 ?? nodeCrc32;
  if (name === 'aes-128-gcm' || name === 'aes-256-gcm' || name === 'chacha20-poly1305') {
    const size = AEAD_KEY_SIZES[name]!;
    if (key.length !== size) throw new RangeError(`crypt: ${name} needs a ${size}-byte key, got ${key.length}`);
    return { kind: 'aead', name, aead: new NodeAeadCrypt(name, key.slice()), random };
  }
  if (name !== 'null') {
    const block = nodeBlock(name as CfbCryptName, key);
    if (block !== null) return { kind: 'framed', name: name as CfbCryptName, block, random, crc32 };
  }
  return createCrypt(name, key, { random, crc32 });
}

/** Whether a cipher uses its key at all ('none' frames datagrams but does not encrypt; 'null' does neither). */
function usesKey(name: CryptName): boolean {
  return name !== 'none' && name !== 'null';
}

/** `createNodeCrypt` with kcptun's key derivation from a password (skipped for 'none' and 'null'). */
export function nodeCryptFromPassword(name: CryptName, password: string, options: CryptOptions = {}): PacketCrypt {
  if (!usesKey(name)) return createNodeCrypt(name, new Uint8Array(0), options);
  return createNodeCrypt(name, keySliceFor(name, deriveKey(password)), options);
}

/** Derived keys by password, most recently used last; at most `derivedKeysKept`. */
const derivedKeys = new Map<string, Promise<Uint8Array>>();
const derivedKeysKept = 16;
const utf8 = new TextEncoder();

/**
 * kcptun's key derivation, PBKDF2-HMAC-SHA1(password, "kcp-go", 4096, 32) as `deriveKey` does it,
 * in node:crypto's thread pool: the same bytes (the password is UTF-8 encoded the same way) without
 * holding the event loop for the 6-18 ms the JavaScript derivation takes. The keys of the last
 * 16 passwords are kept, so concurrent dials with one password derive it once. Each call returns
 * its own copy.
 */
export async function deriveKeyAsync(password: string): Promise<Uint8Array> {
  let key = derivedKeys.get(password);
  if (key === undefined) {
    key = new Promise<Uint8Array>((resolve, reject) =>
      pbkdf2(utf8.encode(password), utf8.encode('kcp-go'), 4096, 32, 'sha1', (e, k) => (e ? reject(e) : resolve(new Uint8Array(k))))
    );
    key.catch(() => derivedKeys.delete(password));
    if (derivedKeys.size >= derivedKeysKept) derivedKeys.delete(derivedKeys.keys().next().value!);
  } else derivedKeys.delete(password); // moves to the most recently used end
  derivedKeys.set(password, key);
  return (await key).slice();
}

/** `nodeCryptFromPassword` deriving the key with `deriveKeyAsync` (off the event loop). */
export async function nodeCryptFromPasswordAsync(name: CryptName, password: string, options: CryptOptions = {}): Promise<PacketCrypt> {
  if (!usesKey(name)) return createNodeCrypt(name, new Uint8Array(0), options);
  return createNodeCrypt(name, keySliceFor(name, await deriveKeyAsync(password)), options);
}
