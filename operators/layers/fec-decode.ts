/** The FEC receive layer: `fecDecode`, around the `FecReceiver` the fused chain shares. @module */
import { Observable, type OperatorFunction } from 'rxjs';
import { assertFecOptions, type FecOptions } from '../../src/fec/fec-options.js';
import { FecReceiver } from '../../src/fec/fec-receiver.js';
import { Snmp } from '../../src/stats.js';
import { assertLayerOptions } from './checks.js';
import { forward } from './layer.js';

export interface FecDecodeOptions {
  /** Expected geometry, or null/absent to adapt to the peer. */
  fec?: FecOptions | null;
  stats?: Snmp;
  onOob?: (payload: Uint8Array) => void;
  /**
   * The bodies arriving are this operator's, and what it emits is read and not kept or changed
   * downstream (KCP's input copies what it keeps): shards are held for decoding as views of the
   * datagrams instead of copies. Default false.
   * @internal
   */
  inPlace?: boolean;
}

/**
 * Sorts bodies into KCP packets: raw KCP and FEC data shards pass on at once, parity and data
 * shards feed a Reed-Solomon decoder that rebuilds lost data shards, OOB messages go aside.
 *
 * <informal> kcp-go's `kcpInput` demultiplexing plus `fecDecoder.decode`, as a stream.
 *
 *     bodies: -d0-d1-----p0-|
 *     result: -k0-k1-----k2-|     k2 (a RecoveredPacket) is d2, rebuilt from p0
 *
 * A data shard's KCP bytes are emitted before it is decoded, as kcp-go feeds them to KCP first.
 * Rebuilt packets are `RecoveredPacket`s, which `kcpInput` treats as kcp-go's FEC input (no
 * remote-window update, no RTT sample). Without `fec`, a decoder is made on the first FEC
 * body and adapts to the peer's geometry (a receiver never needs FEC configured). Garbage is
 * dropped and counted (`InErrs`, `FECErrs`); the stream never errors on it. State is per
 * subscription.
 *
 * @param options.fec Expected geometry, or null/absent to adapt to the peer.
 * @param options.stats Counters to increment (FEC*, OOBPackets, InErrs).
 * @param options.onOob Receives the payload of each OOB message (kcp-go ≥ 5.6.60 type 0xF3).
 * @see fecEncode
 */
export function fecDecode(options: FecDecodeOptions = {}): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('fecDecode', options, '{ fec, stats, onOob }');
  const keep = options.inPlace === true;
  const geometry = options.fec ?? null;
  const stats = options.stats ?? new Snmp();
  const onOob = options.onOob;
  if (geometry !== null) assertFecOptions(geometry);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      let receiver: FecReceiver | null = new FecReceiver(geometry, stats, onOob, keep);
      const stopped = () => subscriber.closed;
      const subscription = forward('fecDecode', source, subscriber, (body) => receiver?.take(body, subscriber, stopped));
      return () => {
        subscription.unsubscribe();
        receiver = null; // drop buffered shards
      };
    });
}
