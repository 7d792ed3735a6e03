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
 * @param crypt The same crypto `decrypt` was given (its CRC function is used).
 * @param stats Counters to increment.
 * @see decrypt
 * @see crcSeal
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { verifyCrc } from '../src/crypt/packet.js';
import { Snmp } from '../src/stats.js';
import { assertCrypt, isOptionsBag } from './checks.js';
import { forward } from './layer.js';

export interface CrcCheckOptions {
  crypt: PacketCrypt;
  stats?: Snmp;
}

export function crcCheck(options: CrcCheckOptions): OperatorFunction<Uint8Array, Uint8Array>;
export function crcCheck(crypt: PacketCrypt, stats?: Snmp): OperatorFunction<Uint8Array, Uint8Array>;
export function crcCheck(first: PacketCrypt | CrcCheckOptions, statsArg?: Snmp): OperatorFunction<Uint8Array, Uint8Array> {
  const { crypt, stats = new Snmp() } = isOptionsBag<CrcCheckOptions>(first, ['crypt']) ? first : { crypt: first, stats: statsArg };
  assertCrypt('crcCheck', crypt);
  return (source) =>
    new Observable<Uint8Array>((subscriber) =>
      forward('crcCheck', source, subscriber, (dg) => {
        if (crypt.kind !== 'framed') return subscriber.next(dg);
        const body = verifyCrc(dg, crypt.crc32, stats);
        if (body !== null) subscriber.next(body);
      })
    );
}
