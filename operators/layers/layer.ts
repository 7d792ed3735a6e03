/**
 * What every layer operator shares: it subscribes to its source on behalf of one subscriber, does
 * no work once that subscriber has closed (including when it closed from inside its own `next`),
 * and turns a throw in its own step into a `KcpError` with code `LAYER_ERROR` on the error channel,
 * never an exception that escapes the stream.
 * @module
 */
import { Observable, type OperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import { KcpError } from '../../src/errors.js';

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

/**
 * One layer's work on one value, written once with its checks and counters: what it emits for
 * `value`, or null to drop it. Its operator (`stepOperator`) and a conversation's fused chain
 * (`callStep`) are both made of it, so the two do the same by construction.
 */
export type LayerStep<T, R> = (value: T) => R | null;

/**
 * The operator of a layer step: `makeStep` runs once per subscription (a step may hold state,
 * such as a replay window), and the step once per value while the subscriber is open (`forward`).
 */
export function stepOperator<T, R>(layer: string, makeStep: () => LayerStep<T, R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const step = makeStep();
      return forward(layer, source, subscriber, (value) => {
        const out = step(value);
        if (out !== null) subscriber.next(out);
      });
    });
}

/**
 * A layer step called directly (a conversation's fused chain): its result, or null when it
 * dropped the value or threw; a throw goes to `fail` as the layer's `LAYER_ERROR`, as the
 * operator sends it down its error channel.
 */
export function callStep<T, R>(layer: string, step: LayerStep<T, R>, value: T, fail: (e: KcpError) => void): R | null {
  try {
    return step(value);
  } catch (e) {
    fail(layerError(layer, e));
    return null;
  }
}
