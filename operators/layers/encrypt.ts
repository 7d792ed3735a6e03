/** The encryption layer: `encrypt` and its per-datagram step, `encryptStep`. @module */
import type { OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { aeadSeal, encryptDatagram } from '../../src/crypt/packet.js';
import { assertCrypt, assertLayerOptions } from './checks.js';
import { stepOperator, type LayerStep } from './layer.js';

export interface EncryptOptions {
  crypt: PacketCrypt;
  /** `framed` crypts: encrypt the arriving array itself (default true) or a copy of it. @internal */
  inPlace?: boolean;
}

/**
 * Encrypts outgoing datagrams.
 *
 *     sealed: -s0-s1-|
 *     result: -c0-c1-|
 *
 * `framed` (the CFB ciphers, salsa20, xor, none): fills the 16-byte nonce from `crypt.random`
 * and encrypts the whole datagram, in place (the array `crcSeal` made) unless `inPlace: false`,
 * which encrypts a copy and leaves the arriving array as it was (for a pipeline where someone
 * else may still hold it). AEAD: seals each body as `nonce ‖ ciphertext ‖ tag` with a fresh
 * nonce, always a new array. `null`: passes through. Inject `random` in `createCrypt` for
 * deterministic tests.
 *
 * @param options.crypt From `createCrypt`/`createNodeCrypt`.
 * @see crcSeal
 * @see decrypt
 */
export function encrypt(options: EncryptOptions): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('encrypt', options, '{ crypt }');
  const step = encryptStep(options);
  if (step === null) return (source) => source;
  return stepOperator('encrypt', () => step);
}

/**
 * encrypt's work on one sealed datagram (see `encrypt`): the datagram encrypted (framed: in
 * place unless `inPlace` is false) or the AEAD-sealed body; null (no step) for the null crypt,
 * whose datagrams pass as they are.
 */
export function encryptStep(options: EncryptOptions): LayerStep<Uint8Array, Uint8Array> | null {
  const { crypt } = options;
  const inPlace = options.inPlace !== false;
  assertCrypt('encrypt', crypt);
  if (crypt.kind === 'framed') {
    const { block, random } = crypt;
    return (arriving) => {
      const dg = inPlace ? arriving : arriving.slice();
      encryptDatagram(dg, block, random);
      return dg;
    };
  }
  if (crypt.kind === 'aead') {
    const { aead, random } = crypt;
    return (body) => aeadSeal(body, aead, random);
  }
  return null;
}
