/**
 * A raw block cipher, encryption direction only: all kcp-go needs, since its CFB-style packet mode
 * (docs/protocol.md#cfb) only ever encrypts blocks, in both directions of the datagram cipher.
 * @module
 */
export interface BlockCipher {
  /** Bytes per block: 8 (TEA, XTEA, Blowfish, CAST5, 3DES) or 16 (AES, SM4, Twofish). */
  readonly blockSize: 8 | 16;
  /** Encrypts one block `src[srcOff .. srcOff+blockSize)` into `dst[dstOff ..]`; src and dst may overlap exactly. */
  encryptBlock(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void;
}
