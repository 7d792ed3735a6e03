/**
 * Feeds KCP packets into a conversation's `Kcp` core and signals when it may have data to read.
 *
 * <informal> kcp-go's `KCP.Input` in the session's receive path.
 *
 *     packets: -k0-k1-x-|
 *     result:  -K--K----|     K is the Kcp (read it with `reassemble`); x was refused: KCPInErrors + 1
 *
 * `RecoveredPacket`s (from `fecDecode`) go in as kcp-go's FEC input (source `'fec'`). Flushes the
 * input triggers (ACKs, fast retransmits) are written to `output` at once, as kcp-go's packet
 * clocking does, unless the core defers them (`KcpDriverOptions.deferFlush`).
 * Counts InPkts/InBytes for every packet and KCPInErrors for each refused one; never errors on
 * wire data.
 *
 * @param kcp The conversation's core, shared with its outbound side.
 * @param output Where immediate flushes go: the conversation's outbound KCP stream.
 * @param stats Counters to increment.
 * @param scheduler Source of time (default asyncScheduler).
 * @see reassemble
 */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { RecoveredPacket } from '../src/fec/fec-decoder.js';
import { Kcp } from '../src/kcp/kcp.js';
import type { Sink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { forward } from './layer.js';

export interface KcpInputOptions {
  kcp: Kcp;
  output: Sink<Uint8Array>;
  stats?: Snmp;
  scheduler?: SchedulerLike;
}

export function kcpInput(options: KcpInputOptions): OperatorFunction<Uint8Array, Kcp>;
export function kcpInput(kcp: Kcp, output: Sink<Uint8Array>, stats?: Snmp, scheduler?: SchedulerLike): OperatorFunction<Uint8Array, Kcp>;
export function kcpInput(first: Kcp | KcpInputOptions, outputArg?: Sink<Uint8Array>, statsArg?: Snmp, schedulerArg?: SchedulerLike): OperatorFunction<Uint8Array, Kcp> {
  const o: KcpInputOptions = first instanceof Kcp ? { kcp: first, output: outputArg!, stats: statsArg, scheduler: schedulerArg } : first;
  const { kcp, output } = o;
  const stats = o.stats ?? new Snmp();
  const scheduler = o.scheduler ?? asyncScheduler;
  if (!(kcp instanceof Kcp)) throw new TypeError('kcpInput: kcp must be a Kcp');
  if (output === null || typeof output !== 'object' || typeof output.next !== 'function') throw new TypeError('kcpInput: output must be a sink with next()');
  return (source) =>
    new Observable<Kcp>((subscriber) =>
      forward('kcpInput', source, subscriber, (packet) => {
        stats.InPkts++;
        stats.InBytes += packet.length;
        const r = kcp.input(packet, scheduler.now() >>> 0, output, packet instanceof RecoveredPacket ? 'fec' : 'wire');
        if (r !== 0) stats.KCPInErrors++;
        else subscriber.next(kcp);
      })
    );
}
