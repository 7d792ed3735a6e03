/** The read side of KCP: `reassemble`, and `readReady`, which the fused chain shares. @module */
import { Observable, type OperatorFunction } from 'rxjs';
import { assertLayerOptions } from './checks.js';
import { forward } from './layer.js';
import { Kcp } from '../../src/kcp/kcp.js';
import type { Snmp } from '../../src/stats.js';

export interface ReassembleOptions {
  /** Read from this core instead of the one each signal carries. */
  kcp?: Kcp;
}

/**
 * Reads whatever a `Kcp` has ready each time it is signalled.
 *
 *     signals: -K----K-|
 *     result:  -m0---(m1m2)-|
 *
 * One emission per complete message; in stream mode, one emission of everything readable at that
 * moment (fewer, larger chunks, as kcp-go's Read fills the caller's buffer). Each is a new array,
 * the subscriber's to keep. Reading is what reopens the receive window: while nothing subscribes,
 * data waits in the core and the peer is told to slow down, so back-pressure comes for free.
 *
 * @param options `kcp`: read from this core (default: the one each signal carries).
 * @see kcpInput
 */
export function reassemble(options: ReassembleOptions = {}): OperatorFunction<Kcp, Uint8Array> {
  assertLayerOptions('reassemble', options, '{ kcp }');
  const kcp = options.kcp;
  return (source) => new Observable<Uint8Array>((subscriber) => forward('reassemble', source, subscriber, (signal) => readReady(kcp ?? signal, subscriber)));
}

/**
 * What `reassemble` does with one signal: every whole message `k` has ready to `reader`, one
 * emission each (stream mode: all of it in one), each a new array. A message is taken out of the
 * core only while the reader is open: one that closes inside its own next (a reader pausing)
 * leaves the rest for the next reader. With `stats`, each is counted in BytesReceived before it
 * is emitted. Also what a conversation's `data$` runs for its reader.
 * @internal
 */
export function readReady(k: Kcp, reader: { readonly closed: boolean; next(m: Uint8Array): void }, stats?: Snmp): void {
  if (k.isStream) {
    const all = k.recvAll();
    if (all !== null) {
      if (stats) stats.BytesReceived += all.length;
      reader.next(all);
    }
    return;
  }
  while (!reader.closed) {
    const m = k.recv();
    if (m === null) return;
    if (stats) stats.BytesReceived += m.length;
    reader.next(m);
  }
}
