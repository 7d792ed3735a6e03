/**
 * Where a core writes what it produces. An RxJS `Subscriber` has this shape, so an operator hands
 * its subscriber straight to the core; a test hands an array-backed collector.
 * @module
 */
export interface Sink<T> {
  next(value: T): void;
}

/** A sink that keeps everything it is given, in order: for tests, benchmarks and examples. */
export class CollectSink<T> implements Sink<T> {
  readonly items: T[] = [];
  next(value: T): void {
    this.items.push(value);
  }
  /** Returns what was collected so far and forgets it. */
  take(): T[] {
    return this.items.splice(0, this.items.length);
  }
}

/** A sink that drops everything. */
export const nullSink: Sink<unknown> = { next() {} };
