/**
 * What every layer operator shares: it subscribes to its source on behalf of one subscriber, does
 * no work once that subscriber has closed (including when it closed from inside its own `next`),
 * and turns a throw in its own step into a `KcpError` with code `LAYER_ERROR` on the error channel,
 * never an exception that escapes the stream.
 * @module
 */
import type { Observable, Subscriber, Subscription } from 'rxjs';
import { KcpError } from '../src/errors.js';

/** The typed error for a throw inside a layer (`cause` keeps the original). */
export function layerError(layer: string, e: unknown): KcpError {
  if (e instanceof KcpError) return e;
  return new KcpError('LAYER_ERROR', `${layer}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/**
 * Subscribes to `source`, running `step` for each value while `subscriber` is open. A throw in
 * `step` errors `subscriber` with a `LAYER_ERROR`; errors and completion pass through (`complete`
 * replaces the pass-through when given).
 */
export function forward<T, R>(
  layer: string,
  source: Observable<T>,
  subscriber: Subscriber<R>,
  step: (value: T) => void,
  complete?: () => void
): Subscription {
  return source.subscribe({
    next(value) {
      if (subscriber.closed) return;
      try {
        step(value);
      } catch (e) {
        subscriber.error(layerError(layer, e));
      }
    },
    error: (e: unknown) => subscriber.error(e),
    complete: complete ?? (() => subscriber.complete()),
  });
}
