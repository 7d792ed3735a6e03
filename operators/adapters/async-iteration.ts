/**
 * Reads a `data$` (a conversation's, a session's) as an async iterator, one message per `next()`:
 * each `next()` subscribes, takes one message and unsubscribes before the message is handed on,
 * so nothing is read while the consumer is busy (data waits in KCP and the peer's window closes)
 * and nothing is taken that the consumer will not get. `return()` (a `break` out of
 * `for await`) ends the iteration with nothing taken: a later reader continues where it
 * stopped. An error of `data$` rejects the pending `next()`; completion ends the iteration.
 * @module
 */
import { take, type Observable, type Subscription } from 'rxjs';

/** One message per `next()`, back-pressured (see the module's description). */
export function readOneByOne(data$: Observable<Uint8Array>): AsyncIterableIterator<Uint8Array> {
  let finished = false;
  // the read in progress: its subscription and how to settle its promise
  let current: { sub: Subscription | null; settle: (r: IteratorResult<Uint8Array>) => void } | null = null;
  let last: Promise<unknown> = Promise.resolve();
  const done = (): IteratorResult<Uint8Array> => ({ done: true, value: undefined });

  const readOne = (): Promise<IteratorResult<Uint8Array>> =>
    new Promise((resolve, reject) => {
      if (finished) return resolve(done());
      let settled = false;
      const read: NonNullable<typeof current> = {
        sub: null,
        settle: (r) => {
          if (settled) return;
          settled = true;
          if (current === read) current = null;
          resolve(r);
        },
      };
      current = read;
      const sub = data$.pipe(take(1)).subscribe({
        next: (value) => read.settle({ done: false, value }),
        error: (e: unknown) => {
          finished = true;
          if (settled) return;
          settled = true;
          if (current === read) current = null;
          reject(e);
        },
        complete: () => {
          if (!settled) finished = true;
          read.settle(done());
        },
      });
      if (settled) sub.unsubscribe();
      else read.sub = sub;
    });

  const iterator: AsyncIterableIterator<Uint8Array> = {
    next() {
      // calls made before the previous one settled wait their turn: one reader at a time
      const result = last.then(readOne, readOne);
      last = result.catch(() => {});
      return result;
    },
    return() {
      finished = true;
      const read = current;
      current = null;
      read?.sub?.unsubscribe();
      read?.settle(done());
      return Promise.resolve(done());
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
