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
 * @param crypt From `createCrypt`/`createNodeCrypt`.
 * @see crcSeal
 * @see decrypt
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { aeadSeal, encryptDatagram } from '../src/crypt/packet.js';
import { assertCrypt, isOptionsBag } from './checks.js';
import { forward } from './layer.js';

export interface EncryptOptions {
  crypt: PacketCrypt;
  /** `framed` crypts: encrypt the arriving array itself (default true) or a copy of it. */
  inPlace?: boolean;
}

export function encrypt(options: EncryptOptions): OperatorFunction<Uint8Array, Uint8Array>;
export function encrypt(crypt: PacketCrypt): OperatorFunction<Uint8Array, Uint8Array>;
export function encrypt(first: PacketCrypt | EncryptOptions): OperatorFunction<Uint8Array, Uint8Array> {
  const bag = isOptionsBag<EncryptOptions>(first, ['crypt', 'inPlace']) ? first : { crypt: first as PacketCrypt };
  const crypt = bag.crypt;
  const inPlace = bag.inPlace !== false;
  assertCrypt('encrypt', crypt);
  if (crypt.kind === 'framed') {
    const { block, random } = crypt;
    return (source) =>
      new Observable<Uint8Array>((subscriber) =>
        forward('encrypt', source, subscriber, (arriving) => {
          const dg = inPlace ? arriving : arriving.slice();
          encryptDatagram(dg, block, random);
          subscriber.next(dg);
        })
      );
  }
  if (crypt.kind === 'aead') {
    const { aead, random } = crypt;
    return (source) => new Observable<Uint8Array>((subscriber) => forward('encrypt', source, subscriber, (body) => subscriber.next(aeadSeal(body, aead, random))));
  }
  return (source) => source;
}
