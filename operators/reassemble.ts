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
 * @param kcp Read from this core (default: the one each signal carries).
 * @see kcpInput
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { forward } from './layer.js';
import { Kcp } from '../src/kcp/kcp.js';

export function reassemble(options?: { kcp?: Kcp }): OperatorFunction<Kcp, Uint8Array>;
export function reassemble(kcp?: Kcp): OperatorFunction<Kcp, Uint8Array>;
export function reassemble(first?: Kcp | { kcp?: Kcp }): OperatorFunction<Kcp, Uint8Array> {
  const kcp = first === undefined || first instanceof Kcp ? first : first.kcp;
  return (source) =>
    new Observable<Uint8Array>((subscriber) =>
      forward('reassemble', source, subscriber, (signal) => {
        const k = kcp ?? signal;
        if (k.isStream) {
          const all = k.recvAll();
          if (all !== null) subscriber.next(all);
          return;
        }
        // a message is taken out of the core only for a subscriber that is still open: one that
        // closes inside its own next (a reader pausing) leaves the rest for the next reader
        while (!subscriber.closed) {
          const m = k.recv();
          if (m === null) return;
          subscriber.next(m);
        }
      })
    );
}
