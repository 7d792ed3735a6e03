/**
 * kcp-go's `BlockCrypt`: a cipher over a whole datagram, nonce included, same length out as in
 * (spec §2.1). `dst` may be `src` (in place), which is how the pipeline uses it.
 * @module
 */
export interface BlockCrypt {
  /** kcptun's `--crypt` name of this cipher. */
  readonly name: string;
  encrypt(dst: Uint8Array, src: Uint8Array): void;
  decrypt(dst: Uint8Array, src: Uint8Array): void;
}

/**
 * kcp-go's fixed CFB IV (crypt.go `initialVector`). 8-byte ciphers use its first 8 bytes. The
 * random nonce at the head of every datagram is what makes each ciphertext different.
 */
// prettier-ignore
export const initialVector = new Uint8Array([167, 115, 79, 156, 18, 172, 27, 1, 164, 21, 242, 193, 252, 120, 230, 107]);
