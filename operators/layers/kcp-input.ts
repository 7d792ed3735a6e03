/** The KCP input layer: `kcpInput` and its per-datagram step, `kcpInputStep`. @module */
import { asyncScheduler, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { RecoveredPacket } from '../../src/fec/fec-decoder.js';
import { Kcp } from '../../src/kcp/kcp.js';
import type { Sink } from '../../src/sink.js';
import { Snmp } from '../../src/stats.js';
import { assertLayerOptions } from './checks.js';
import { stepOperator, type LayerStep } from './layer.js';

export interface KcpInputOptions {
  kcp: Kcp;
  output: Sink<Uint8Array>;
  stats?: Snmp;
  scheduler?: SchedulerLike;
}

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
 * clocking does, unless the core's driver defers them (a conversation's does, see `DrivenKcp`).
 * Counts InPkts/InBytes for every packet and KCPInErrors for each refused one; never errors on
 * wire data.
 *
 * @param options.kcp The conversation's core, shared with its outbound side.
 * @param options.output Where immediate flushes go: the conversation's outbound KCP stream.
 * @param options.stats Counters to increment.
 * @param options.scheduler Source of time (default asyncScheduler).
 * @see reassemble
 */
export function kcpInput(options: KcpInputOptions): OperatorFunction<Uint8Array, Kcp> {
  assertLayerOptions('kcpInput', options, '{ kcp, output, stats, scheduler }');
  const step = kcpInputStep(options);
  return stepOperator('kcpInput', () => step);
}

/**
 * kcpInput's work on one KCP packet (see `kcpInput`): the packet into the core at the
 * scheduler's time, counted; the core when it took the packet, null when it refused it.
 */
export function kcpInputStep(options: KcpInputOptions): LayerStep<Uint8Array, Kcp> {
  const { kcp, output } = options;
  const stats = options.stats ?? new Snmp();
  const scheduler = options.scheduler ?? asyncScheduler;
  if (!(kcp instanceof Kcp)) throw new TypeError('kcpInput: kcp must be a Kcp');
  if (output === null || typeof output !== 'object' || typeof output.next !== 'function') throw new TypeError('kcpInput: output must be a sink with next()');
  return (packet) => {
    stats.InPkts++;
    stats.InBytes += packet.length;
    const r = kcp.input(packet, scheduler.now() >>> 0, output, packet instanceof RecoveredPacket ? 'fec' : 'wire');
    if (r === 0) return kcp;
    stats.KCPInErrors++;
    return null;
  };
}
