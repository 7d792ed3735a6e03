/**
 * kcp-go's `BlockCrypt`: a cipher over a whole datagram, nonce included, same length out as in
 * (docs/protocol.md#ciphers). `dst` may be `src` (in place), which is how the pipeline uses it.
 * @module
 */
export interface BlockCrypt {
  /** kcptun's `--crypt` name of this cipher. */
  readonly name: string;
  encrypt(dst: Uint8Array, src: Uint8Array): void;
  decrypt(dst: Uint8Array, src: Uint8Array): void;
  /**
   * Optional: encrypts, in place, a new datagram whose first 16 bytes are a fresh random nonce,
   * free to put different bytes on the wire than `encrypt` would. A CFB receiver uses the first
   * ciphertext block only as the IV of the rest, so any unpredictable first block is as good as
   * another: what `decrypt` must restore is every byte after the nonce. `encryptDatagram` prefers
   * it; `encrypt` stays the exact kcp-go transform that the vectors check.
   */
  encryptFresh?(datagram: Uint8Array): void;
}

/**
 * kcp-go's fixed CFB IV (crypt.go `initialVector`). 8-byte ciphers use its first 8 bytes. The
 * random nonce at the head of every datagram is what makes each ciphertext different.
 */
// prettier-ignore
export const initialVector = new Uint8Array([167, 115, 79, 156, 18, 172, 27, 1, 164, 21, 242, 193, 252, 120, 230, 107]);
