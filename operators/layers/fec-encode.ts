/** The FEC send layer: `fecEncode`, around the `FecEncoder` the fused chain shares. @module */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { FecEncoder } from '../../src/fec/fec-encoder.js';
import { assertFecOptions, type FecOptions } from '../../src/fec/fec-options.js';
import { Snmp } from '../../src/stats.js';
import { assertLayerOptions } from './checks.js';
import { forward } from './layer.js';

export interface FecEncodeOptions {
  /** Geometry to send with; null sends no FEC (the operator passes datagrams through). */
  fec: FecOptions | null;
  stats?: Snmp;
  scheduler?: SchedulerLike;
  /**
   * The datagrams arriving are this operator's (no one else has seen them): one whose maker set
   * room aside in front of it (the KCP core's `headroom`) gets the FEC header written there and the
   * body emitted is a view over the same memory; any other datagram is copied, so bytes in front of
   * a caller's view are never touched. Default false: every body is a new array.
   * @internal
   */
  inPlace?: boolean;
  /** Bytes left free in front of every body this operator allocates, for an in-place `crcSeal` after it. Default 0. @internal */
  headroom?: number;
}

/**
 * Wraps outgoing KCP datagrams as FEC data shards and adds parity after every group.
 *
 * <informal> kcp-go's `fecEncoder.encode` as a stream: one datagram in, one or 1 + parity out.
 *
 *     kcp:    -k0-k1-k2------|
 *     result: -d0-d1-(d2p0p1)-|     with 3 data + 2 parity
 *
 * Parity is skipped (seqids still advance) when the last two datagrams of a group were ≥ 500 ms
 * apart, by the scheduler's clock. With `options` null this passes datagrams through (no FEC).
 * State is per subscription.
 *
 * @param options.fec Shard counts (null: no FEC, datagrams pass through); checked here, so a bad geometry throws when the pipe is built.
 * @param options.stats Counters to increment.
 * @param options.scheduler Source of time for the latency rule (default asyncScheduler).
 * @see fecDecode
 */
export function fecEncode(options: FecEncodeOptions): OperatorFunction<Uint8Array, Uint8Array> {
  assertLayerOptions('fecEncode', options, '{ fec, stats, scheduler }');
  const inPlace = options.inPlace === true;
  const headroom = options.headroom ?? 0;
  if (!Number.isInteger(headroom) || headroom < 0 || headroom > 256) throw new RangeError(`fecEncode: headroom must be 0..256, got ${String(headroom)}`);
  const geometry = options.fec;
  const stats = options.stats ?? new Snmp();
  const scheduler = options.scheduler ?? asyncScheduler;
  if (geometry === null) return (source) => source;
  assertFecOptions(geometry);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const encoder = new FecEncoder(geometry, stats, { headroom });
      return forward('fecEncode', source, subscriber, (kcp) => encoder.encode(kcp, scheduler.now() >>> 0, subscriber, inPlace));
    });
}
