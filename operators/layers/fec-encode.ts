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
 * @param options Shard counts; checked here, so a bad geometry throws when the pipe is built.
 * @param stats Counters to increment.
 * @param scheduler Source of time for the latency rule (default asyncScheduler).
 * @see fecDecode
 */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { FecEncoder } from '../../src/fec/fec-encoder.js';
import { assertFecOptions, type FecOptions } from '../../src/fec/fec-options.js';
import { Snmp } from '../../src/stats.js';
import { isOptionsBag } from './checks.js';
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
   */
  inPlace?: boolean;
  /** Bytes left free in front of every body this operator allocates, for an in-place `crcSeal` after it. Default 0. */
  headroom?: number;
}

export function fecEncode(options: FecEncodeOptions): OperatorFunction<Uint8Array, Uint8Array>;
export function fecEncode(fec: FecOptions | null, stats?: Snmp, scheduler?: SchedulerLike): OperatorFunction<Uint8Array, Uint8Array>;
export function fecEncode(first: FecOptions | FecEncodeOptions | null, statsArg?: Snmp, schedulerArg?: SchedulerLike): OperatorFunction<Uint8Array, Uint8Array> {
  const bag: FecEncodeOptions = isOptionsBag<FecEncodeOptions>(first, ['fec', 'stats', 'scheduler', 'inPlace', 'headroom'])
    ? first
    : { fec: first as FecOptions | null, stats: statsArg, scheduler: schedulerArg };
  const inPlace = bag.inPlace === true;
  const headroom = bag.headroom ?? 0;
  if (!Number.isInteger(headroom) || headroom < 0 || headroom > 256) throw new RangeError(`fecEncode: headroom must be 0..256, got ${String(headroom)}`);
  const options = bag.fec;
  const stats = bag.stats ?? new Snmp();
  const scheduler = bag.scheduler ?? asyncScheduler;
  if (options === null) return (source) => source;
  assertFecOptions(options);
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const encoder = new FecEncoder(options, stats, 0, headroom);
      return forward('fecEncode', source, subscriber, (kcp) => encoder.encode(kcp, scheduler.now() >>> 0, subscriber, inPlace));
    });
}
