/** The CRC check layer: `crcCheck` and its per-datagram step, `crcCheckStep`. @module */
import type { OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { verifyCrc } from '../../src/crypt/packet.js';
import { Snmp } from '../../src/stats.js';
import { assertCrypt, assertLayerOptions } from './checks.js';
import { stepOperator, type LayerStep } from './layer.js';

export interface CrcCheckOptions {
  crypt: PacketCrypt;
  stats?: Snmp;
}

/**
 * Checks kcp-go's CRC32 and strips the nonce and CRC header.
 *
 * <informal> The receive-side check of kcp-go's `packetInput`, as its own pluggable layer.
 *
 *     decrypted: -d0-d1-d2-|
 *     result:    -b0----b2-|     d1's CRC did not match: dropped, InCsumErrors + 1
 *
 * Only the `framed` crypts (nonce + CRC header: the CFB ciphers, salsa20, xor, none) have a
 * CRC; with AEAD or `null` crypto this passes bodies through.
 *
 * @param options.crypt The same crypto `decrypt` was given (its CRC function is used).
 * @param options.stats Counters to increment.
 * @see decrypt
 * @see crcSeal
 */
export function crcCheck(options: CrcCheckOptions): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('crcCheck', options, '{ crypt, stats }');
  const step = crcCheckStep(options);
  return stepOperator('crcCheck', () => step);
}

/**
 * crcCheck's work on one decrypted datagram (see `crcCheck`): the body after the nonce and CRC,
 * or null when the CRC does not match (counted); other crypts' datagrams pass as they are.
 */
export function crcCheckStep(options: CrcCheckOptions): LayerStep<Uint8Array, Uint8Array> {
  const { crypt, stats = new Snmp() } = options;
  assertCrypt('crcCheck', crypt);
  if (crypt.kind !== 'framed') return (dg) => dg;
  const crc32 = crypt.crc32;
  return (dg) => verifyCrc(dg, crc32, stats);
}
