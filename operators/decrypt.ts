/**
 * Decrypts datagrams as they arrive.
 *
 * <informal> kcp-go's receive-side `Decrypt` (CFB family, in place) or AEAD `Open`, as a stream.
 *
 *     datagrams: -c0-c1-c2-|
 *     result:    -p0-p1----|     c2 was shorter than the header (CFB) or failed its tag (AEAD)
 *
 * CFB: the datagram is decrypted in place and emitted whole (nonce and CRC still in front, for
 * `crcCheck`); shorter than 20 bytes is dropped uncounted, as kcp-go. AEAD: emits the body; a
 * failed tag is counted in `stats.InCsumErrors`. `null` crypto passes everything through. Never
 * errors on wire data.
 *
 * @param crypt From `createCrypt`/`createNodeCrypt`. The datagrams must be the caller's to modify.
 * @param stats Counters to increment.
 * @see crcCheck
 * @see encrypt
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { aeadOpen, decryptDatagram } from '../src/crypt/packet.js';
import { Snmp } from '../src/stats.js';
import { assertCrypt } from './checks.js';

export function decrypt(crypt: PacketCrypt, stats: Snmp = new Snmp()): OperatorFunction<Uint8Array, Uint8Array> {
  assertCrypt('decrypt', crypt);
  return (source) =>
    new Observable<Uint8Array>((subscriber) =>
      source.subscribe({
        next(dg) {
          if (crypt.kind === 'cfb') {
            if (decryptDatagram(dg, crypt.block)) subscriber.next(dg);
          } else if (crypt.kind === 'aead') {
            const body = aeadOpen(dg, crypt.aead, stats);
            if (body !== null) subscriber.next(body);
          } else subscriber.next(dg);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      })
    );
}
