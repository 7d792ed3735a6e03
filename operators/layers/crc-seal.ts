/** The CRC seal layer: `crcSeal` and its per-datagram step, `crcSealStep`. @module */
import type { OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { addCrcHeader } from '../../src/crypt/packet.js';
import { assertCrypt, assertLayerOptions } from './checks.js';
import { stepOperator, type LayerStep } from './layer.js';

export interface CrcSealOptions {
  crypt: PacketCrypt;
  /** The bodies arriving are this operator's to write in front of (see above). Default false. @internal */
  inPlace?: boolean;
}

/**
 * Puts kcp-go's nonce slot and CRC32 in front of each outgoing body.
 *
 *     bodies: -b0-b1-|
 *     result: -s0-s1-|     s = [16-byte nonce slot][CRC32 LE of b][b]
 *
 * Only the `framed` crypts (nonce + CRC header: the CFB ciphers, salsa20, xor, none) have a
 * CRC; with AEAD or `null` crypto this passes bodies through.
 *
 * With `inPlace`, the bodies arriving are this operator's (no one else has seen them): a body whose
 * maker set room aside in front of it (the KCP core's `headroom`, the FEC encoder's) gets the
 * header written there, and what is emitted is a view over the same memory. Any other body, a
 * caller's view into larger memory included, is copied: in-place writing never touches bytes in
 * front of an array unless its maker vouched for them, and then only once. Default false: every
 * datagram is a new array.
 *
 * @param options.crypt The same crypto `encrypt` is given.
 * @see encrypt
 * @see crcCheck
 */
export function crcSeal(options: CrcSealOptions): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('crcSeal', options, '{ crypt }');
  const step = crcSealStep(options);
  if (step === null) return (source) => source;
  return stepOperator('crcSeal', () => step);
}

/**
 * crcSeal's work on one body (see `crcSeal`): the datagram with nonce slot and CRC in front; null
 * (no step) for crypts without a CRC, whose bodies pass as they are.
 */
export function crcSealStep(options: CrcSealOptions): LayerStep<Uint8Array, Uint8Array> | null {
  const { crypt } = options;
  const inPlace = options.inPlace === true;
  assertCrypt('crcSeal', crypt);
  if (crypt.kind !== 'framed') return null;
  const crc32 = crypt.crc32;
  return (body) => addCrcHeader(body, crc32, inPlace);
}
