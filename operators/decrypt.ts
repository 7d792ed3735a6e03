/**
 * Decrypts datagrams as they arrive.
 *
 * <informal> kcp-go's receive-side `Decrypt` (CFB family, in place) or AEAD `Open`, as a stream.
 *
 *     datagrams: -c0-c1-c2-|
 *     result:    -p0-p1----|     c2 was shorter than the header (framed) or failed its tag (AEAD)
 *
 * `framed` (the CFB ciphers, salsa20, xor, none): the datagram is decrypted in place and emitted
 * whole (nonce and CRC still in front, for `crcCheck`); shorter than 20 bytes is dropped
 * uncounted, as kcp-go. AEAD: emits the body; a failed tag is counted in `stats.InCsumErrors`.
 * `null` crypto passes everything through. Never errors on wire data.
 *
 * @param crypt From `createCrypt`/`createNodeCrypt`. The datagrams must be the caller's to modify.
 * @param stats Counters to increment.
 * @param antiReplay AEAD only: remember this many nonces and drop repeats (`ReplayDrops`); see
 *   `ReplayWindow` for what that does and does not protect. Off by default, as in kcp-go.
 * @see crcCheck
 * @see encrypt
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { decryptDatagram, openDatagram } from '../src/crypt/packet.js';
import { ReplayWindow } from '../src/crypt/replay-window.js';
import { Snmp } from '../src/stats.js';
import { assertCrypt, isOptionsBag } from './checks.js';
import { forward } from './layer.js';

export interface DecryptOptions {
  crypt: PacketCrypt;
  stats?: Snmp;
  antiReplay?: number;
}

export function decrypt(options: DecryptOptions): OperatorFunction<Uint8Array, Uint8Array>;
export function decrypt(crypt: PacketCrypt, stats?: Snmp, antiReplay?: number): OperatorFunction<Uint8Array, Uint8Array>;
export function decrypt(first: PacketCrypt | DecryptOptions, statsArg?: Snmp, antiReplayArg?: number): OperatorFunction<Uint8Array, Uint8Array> {
  const { crypt, stats = new Snmp(), antiReplay } = isOptionsBag<DecryptOptions>(first, ['crypt']) ? first : { crypt: first, stats: statsArg, antiReplay: antiReplayArg };
  assertCrypt('decrypt', crypt);
  if (antiReplay !== undefined && crypt.kind !== 'aead') throw new RangeError('decrypt: antiReplay needs an AEAD cipher (CFB nonces are not authenticated)');
  if (antiReplay !== undefined) new ReplayWindow(antiReplay); // checks the size now
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const replay = antiReplay !== undefined ? new ReplayWindow(antiReplay) : undefined; // per subscription
      return forward('decrypt', source, subscriber, (dg) => {
        if (crypt.kind === 'framed') {
          if (decryptDatagram(dg, crypt.block)) subscriber.next(dg);
        } else if (crypt.kind === 'aead') {
          const body = openDatagram(crypt, dg, stats, replay);
          if (body !== null) subscriber.next(body);
        } else subscriber.next(dg);
      });
    });
}
