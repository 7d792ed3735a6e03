/** The decryption layer: `decrypt` and its per-datagram step, `decryptStep`. @module */
import type { OperatorFunction } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { decryptDatagram, openDatagram } from '../../src/crypt/packet.js';
import { ReplayWindow } from '../../src/crypt/replay-window.js';
import { Snmp } from '../../src/stats.js';
import { assertCrypt, assertLayerOptions } from './checks.js';
import { stepOperator, type LayerStep } from './layer.js';

export interface DecryptOptions {
  crypt: PacketCrypt;
  stats?: Snmp;
  antiReplay?: number;
}

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
 * @param options.crypt From `createCrypt`/`createNodeCrypt`. The datagrams must be the caller's to modify.
 * @param options.stats Counters to increment.
 * @param options.antiReplay AEAD only: remember this many nonces and drop repeats (`ReplayDrops`); see
 *   `ReplayWindow` for what that does and does not protect. Off by default, as in kcp-go.
 * @see crcCheck
 * @see encrypt
 */
export function decrypt(options: DecryptOptions): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('decrypt', options, '{ crypt, stats, antiReplay }');
  const stats = options.stats ?? new Snmp(); // one set of counters for every subscription
  decryptStep({ ...options, stats }); // checks the options now
  return stepOperator('decrypt', () => decryptStep({ ...options, stats })); // a replay window per subscription
}

/**
 * decrypt's work on one datagram (see `decrypt`): the datagram decrypted in place (framed), the
 * body (AEAD), or null when it is dropped (and counted). Checks the options when made; holds its
 * own replay window.
 */
export function decryptStep(options: DecryptOptions): LayerStep<Uint8Array, Uint8Array> {
  const { crypt, stats = new Snmp(), antiReplay } = options;
  assertCrypt('decrypt', crypt);
  if (antiReplay !== undefined && crypt.kind !== 'aead') throw new RangeError('decrypt: antiReplay needs an AEAD cipher (CFB nonces are not authenticated)');
  const replay = antiReplay !== undefined ? new ReplayWindow(antiReplay) : undefined;
  if (crypt.kind === 'framed') {
    const block = crypt.block;
    return (dg) => (decryptDatagram(dg, block) ? dg : null);
  }
  if (crypt.kind === 'aead') return (dg) => openDatagram(crypt, dg, stats, replay);
  return (dg) => dg;
}
