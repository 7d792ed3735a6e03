/**
 * Puts kcp-go's nonce slot and CRC32 in front of each outgoing body.
 *
 *     bodies: -b0-b1-|
 *     result: -s0-s1-|     s = [16-byte nonce slot][CRC32 LE of b][b], a new array
 *
 * Only the `framed` crypts (nonce + CRC header: the CFB ciphers, salsa20, xor, none) have a
 * CRC; with AEAD or `null` crypto this passes bodies through.
 *
 * @param crypt The same crypto `encrypt` is given.
 * @see encrypt
 * @see crcCheck
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { addCrcHeader } from '../src/crypt/packet.js';
import { assertCrypt, isOptionsBag } from './checks.js';
import { forward } from './layer.js';

export function crcSeal(options: { crypt: PacketCrypt }): OperatorFunction<Uint8Array, Uint8Array>;
export function crcSeal(crypt: PacketCrypt): OperatorFunction<Uint8Array, Uint8Array>;
export function crcSeal(first: PacketCrypt | { crypt: PacketCrypt }): OperatorFunction<Uint8Array, Uint8Array> {
  const crypt = isOptionsBag<{ crypt: PacketCrypt }>(first, ['crypt']) ? first.crypt : first;
  assertCrypt('crcSeal', crypt);
  if (crypt.kind !== 'framed') return (source) => source;
  const crc32 = crypt.crc32;
  return (source) => new Observable<Uint8Array>((subscriber) => forward('crcSeal', source, subscriber, (body) => subscriber.next(addCrcHeader(body, crc32))));
}
