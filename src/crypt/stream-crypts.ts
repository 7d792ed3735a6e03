/**
 * The kcp-go datagram ciphers that are not block ciphers in CFB: Salsa20
 * (docs/protocol.md#salsa20), SimpleXOR (docs/protocol.md#xor) and None (keeps the nonce+CRC
 * header, encrypts nothing).
 * @module
 */
import { salsa20 } from '@noble/ciphers/salsa.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { mtuLimit } from '../wire/constants.js';
import { instantiateKernel } from '../wasm.js';
import type { BlockCrypt } from './block-crypt.js';
import { salsa20KernelBase64 } from './salsa20-kernel-bytes.js';

interface Salsa20Exports {
  memory: { buffer: ArrayBuffer };
  xor(len: number): void;
}

/** Where the kernel's input block and data live (salsa20-kernel.wat). */
const KEY_LO = 4;
const NONCE = 24;
const COUNTER = 32;
const KEY_HI = 44;
const DATA = 128;

/** The process's Salsa20 kernel (one instance: the work is synchronous), or null without WebAssembly. */
let kernel: { heap: Uint8Array; exports: Salsa20Exports; keyOwner: Salsa20Crypt | null } | null | undefined;
function salsa20Kernel(): typeof kernel {
  if (kernel !== undefined) return kernel;
  const exports = instantiateKernel<Salsa20Exports>(salsa20KernelBase64);
  if (exports === null) return (kernel = null);
  const heap = new Uint8Array(exports.memory.buffer);
  const sigma = new TextEncoder().encode('expand 32-byte k');
  for (let w = 0; w < 4; w++) heap.set(sigma.subarray(4 * w, 4 * w + 4), [0, 20, 40, 60][w]!);
  return (kernel = { heap, exports, keyOwner: null });
}

/**
 * Salsa20/20 over bytes 8..end, with the datagram's first 8 (random, in clear) bytes as nonce.
 * The key is any length, zero-padded or cut to 32 bytes, as kcp-go does. Runs in the WebAssembly
 * SIMD kernel (salsa20-kernel.wat) where there is one; noble's Salsa20 otherwise, and for inputs longer
 * than the kernel's memory.
 */
export class Salsa20Crypt implements BlockCrypt {
  readonly name = 'salsa20';
  private readonly key = new Uint8Array(32);
  private readonly kernel: typeof kernel;

  /** `useKernel: false` forces the portable TypeScript path (tests compare the two). */
  constructor(key: Uint8Array, useKernel = true) {
    this.key.set(key.subarray(0, 32));
    this.kernel = useKernel ? salsa20Kernel() : null;
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    if (dst !== src) dst.set(src.subarray(0, Math.min(8, src.length)));
    if (src.length <= 8) return;
    const k = this.kernel;
    const n = src.length - 8;
    if (k === null || k === undefined || n > k.heap.length - DATA) {
      salsa20(this.key, src.subarray(0, 8), src.subarray(8), dst.subarray(8));
      return;
    }
    const heap = k.heap;
    if (k.keyOwner !== this) {
      heap.set(this.key.subarray(0, 16), KEY_LO);
      heap.set(this.key.subarray(16), KEY_HI);
      k.keyOwner = this;
    }
    for (let i = 0; i < 8; i++) heap[NONCE + i] = src[i]!;
    heap.fill(0, COUNTER, COUNTER + 8);
    heap.set(src.subarray(8), DATA);
    k.exports.xor(n);
    dst.set(heap.subarray(DATA, DATA + n), 8);
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
  /** The table as 32-bit words (platform byte order, the same as the views it is XORed with). */
  private readonly words: Int32Array;

  constructor(key: Uint8Array) {
    this.table = xorTable(key).slice(); // own, word-aligned copy
    this.words = new Int32Array(this.table.buffer, this.table.byteOffset, this.table.length >> 2);
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    const t = this.table;
    const n = Math.min(src.length, t.length);
    let i = 0;
    if (((src.byteOffset | dst.byteOffset) & 3) === 0 && n >= 64) {
      // four bytes per step where both arrays are word-aligned (datagrams are)
      const w = this.words;
      const s32 = new Int32Array(src.buffer, src.byteOffset, n >> 2);
      const d32 = dst === src ? s32 : new Int32Array(dst.buffer, dst.byteOffset, n >> 2);
      for (let k = 0; k < s32.length; k++) d32[k] = s32[k]! ^ w[k]!;
      i = s32.length << 2;
    }
    for (; i < n; i++) dst[i] = src[i]! ^ t[i]!;
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
