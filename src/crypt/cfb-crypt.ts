/**
 * kcp-go's CFB packet mode (crypt.go `encrypt8/16`, `decrypt8/16`; docs/protocol.md#cfb):
 * full-block CFB with the fixed IV over the whole datagram and a partial last block, on top of any
 * block cipher. It equals OpenSSL's `*-cfb` / `*-cfb8`-less CFB-64/128 with that IV. Works in
 * place; allocates nothing per datagram.
 * @module
 */
import type { BlockCipher } from './block-cipher.js';
import { initialVector, type BlockCrypt } from './block-crypt.js';

export class CfbCrypt implements BlockCrypt {
  private readonly bs: number;
  /** E_K(IV): the first keystream block of every datagram, the same for all of them. */
  private readonly first: Uint8Array;
  private readonly r: Uint8Array;
  private readonly r2: Uint8Array;

  constructor(
    readonly name: string,
    private readonly cipher: BlockCipher
  ) {
    this.bs = cipher.blockSize;
    this.first = new Uint8Array(this.bs);
    cipher.encryptBlock(initialVector, 0, this.first, 0);
    this.r = new Uint8Array(this.bs);
    this.r2 = new Uint8Array(this.bs);
  }

  encrypt(dst: Uint8Array, src: Uint8Array): void {
    const bs = this.bs;
    const r = this.r;
    const n = src.length;
    const full = n - (n % bs);
    r.set(this.first);
    for (let i = 0; i < full; i += bs) {
      for (let j = 0; j < bs; j++) dst[i + j] = src[i + j]! ^ r[j]!;
      this.cipher.encryptBlock(dst, i, r, 0); // next keystream = E(ciphertext block)
    }
    for (let j = 0; full + j < n; j++) dst[full + j] = src[full + j]! ^ r[j]!;
  }

  decrypt(dst: Uint8Array, src: Uint8Array): void {
    const bs = this.bs;
    let r = this.r;
    let next = this.r2;
    const n = src.length;
    const full = n - (n % bs);
    r.set(this.first);
    for (let i = 0; i < full; i += bs) {
      this.cipher.encryptBlock(src, i, next, 0); // before dst may overwrite the ciphertext
      for (let j = 0; j < bs; j++) dst[i + j] = src[i + j]! ^ r[j]!;
      const t = r;
      r = next;
      next = t;
    }
    for (let j = 0; full + j < n; j++) dst[full + j] = src[full + j]! ^ r[j]!;
  }
}
