/**
 * Encrypts outgoing datagrams.
 *
 *     sealed: -s0-s1-|
 *     result: -c0-c1-|
 *
 * `framed` (the CFB ciphers, salsa20, xor, none): fills the 16-byte nonce from `crypt.random`
 * and encrypts the whole datagram in place (the array `crcSeal` made). AEAD: seals each body as
 * `nonce ‖ ciphertext ‖ tag` with a fresh nonce. `null`: passes through. Inject `random` in `createCrypt` for deterministic tests.
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

export function encrypt(options: { crypt: PacketCrypt }): OperatorFunction<Uint8Array, Uint8Array>;
export function encrypt(crypt: PacketCrypt): OperatorFunction<Uint8Array, Uint8Array>;
export function encrypt(first: PacketCrypt | { crypt: PacketCrypt }): OperatorFunction<Uint8Array, Uint8Array> {
  const crypt = isOptionsBag<{ crypt: PacketCrypt }>(first, ['crypt']) ? first.crypt : first;
  assertCrypt('encrypt', crypt);
  if (crypt.kind === 'framed') {
    const { block, random } = crypt;
    return (source) =>
      new Observable<Uint8Array>((subscriber) =>
        forward('encrypt', source, subscriber, (dg) => {
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
