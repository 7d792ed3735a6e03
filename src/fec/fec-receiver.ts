/**
 * What a receiver does with each body after the CRC check (kcp-go's session input, FEC side): a
 * plain KCP packet goes on as it is; an OOB body's payload to `onOob` (counted in OOBPackets); a
 * data shard's KCP bytes go on at once, as kcp-go hands them to KCP before decoding, and the shard
 * then into the decoder; a parity shard into the decoder; every packet the decoder rebuilds goes
 * on as a `RecoveredPacket`. The decoder is made at the first shard (with no geometry given it
 * adapts to the peer's, as kcp-go decodes lazily). Shared by the `fecDecode` operator and a
 * conversation's fused chain, so both do exactly this.
 * @module
 */
import { FecDecoder } from './fec-decoder.js';
import type { FecOptions } from './fec-options.js';
import { classify, decodeOOB } from './fec-packet.js';
import type { Sink } from '../sink.js';
import type { Snmp } from '../stats.js';
import { fecHeaderSizePlus2 } from '../wire/constants.js';

export class FecReceiver {
  private decoder: FecDecoder | null = null;

  /**
   * @param keep The bodies are this receiver's: the decoder may hold views of them instead of
   *   copies (see `FecDecoder.decode`), and what goes on is read, not kept or changed, downstream.
   */
  constructor(
    private readonly options: FecOptions | null,
    private readonly stats: Snmp,
    private readonly onOob: ((payload: Uint8Array) => void) | undefined,
    private readonly keep: boolean
  ) {}

  /**
   * Takes one body; KCP packets go to `out`. `stopped` is asked after a data shard went on: when
   * it says true (the receiver of `out` is gone), the shard is not decoded. Never throws on wire
   * data.
   */
  take(body: Uint8Array, out: Sink<Uint8Array>, stopped: () => boolean): void {
    switch (classify(body)) {
      case 'kcp':
        out.next(body);
        return;
      case 'oob': {
        this.stats.OOBPackets++;
        const payload = decodeOOB(body);
        if (payload !== null) this.onOob?.(payload);
        return;
      }
      case 'data': {
        if (body.length < fecHeaderSizePlus2) {
          this.stats.InErrs++;
          return;
        }
        // kept for decoding as it arrived: what goes on is downstream's, even to change
        const held = this.keep ? body : body.slice();
        out.next(body.subarray(fecHeaderSizePlus2));
        if (stopped()) return;
        this.coder().decode(held, out, true);
        return;
      }
      case 'parity':
        this.coder().decode(body, out, this.keep);
    }
  }

  private coder(): FecDecoder {
    return (this.decoder ??= new FecDecoder(this.options, this.stats));
  }
}
