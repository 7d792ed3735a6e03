/** The pacing layer: `pace`, a token bucket on the scheduler in front of the socket. @module */
import { asyncScheduler, Observable, Subscription, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { assertRate } from './checks.js';
import { forward } from './layer.js';

export interface PaceOptions {
  rate: number;
  burst?: number;
  /** Most bytes held waiting for tokens (default 1 MiB); more are dropped. */
  maxQueue?: number;
  /** Kept up to date with what the queue holds, for a producer that holds back. */
  backlog?: PaceBacklog;
  scheduler?: SchedulerLike;
}

/** What a `pace` queue holds now and has dropped. */
export interface PaceBacklog {
  bytes: number;
  dropped: number;
}

/**
 * Default `PaceOptions.maxQueue`: about 750 full datagrams, several seconds at any rate a rate
 * limit is set for, and what a KCP send window of 1024 segments would put in at once is less than
 * the window itself (the conversation holds back at half of it).
 */
export const defaultPaceMaxQueue = 1 << 20;

/**
 * Paces datagrams with a token bucket: delays them, never drops them, keeps their order.
 *
 * <informal> kcp-go's `SetRateLimit` (golang.org/x/time/rate, burst 64 × 1500 bytes).
 *
 *     500-byte packets at 1000 B/s, burst 500:
 *     input:  (abc|)
 *     result: a 499ms b 499ms (c|)
 *
 * A datagram larger than the burst goes out once the bucket is full (kcp-go sends such a batch
 * anyway). Completion waits for the queue to drain. Unsubscribing cancels the pending timer and
 * drops what was queued.
 *
 * The queue is bounded: a datagram that would make it hold more than `maxQueue` bytes is dropped
 * (counted in `backlog.dropped`), as a full router queue drops; a producer that reads
 * `backlog.bytes` can hold back before that (a conversation then flushes only ACKs).
 *
 * @param options.rate Bytes per second, > 0.
 * @param options.burst Bucket size in bytes (default 96000), > 0.
 * @param options.maxQueue Most bytes held waiting (default 1 MiB), > 0.
 * @param options.backlog Kept up to date with the bytes held and the datagrams dropped.
 * @param options.scheduler Source of time (default asyncScheduler).
 */
export function pace<T extends { length: number }>(options: PaceOptions): MonoTypeOperatorFunction<T> {
  const { rate, burst = 64 * 1500, maxQueue = defaultPaceMaxQueue, backlog, scheduler = asyncScheduler } = options;
  assertRate('pace', 'rate', rate);
  assertRate('pace', 'burst', burst);
  assertRate('pace', 'maxQueue', maxQueue);
  return (source) =>
    new Observable<T>((subscriber) => {
      let tokens = burst;
      let last = scheduler.now();
      const queue: T[] = [];
      let head = 0;
      let timer: Subscription | null = null;
      let done = false;
      let held = 0;
      const setHeld = (bytes: number) => {
        if (backlog) backlog.bytes += bytes - held;
        held = bytes;
      };

      const refill = () => {
        const now = scheduler.now();
        tokens = Math.min(burst, tokens + ((now - last) * rate) / 1000);
        last = now;
      };
      const cost = (x: T) => Math.min(x.length, burst); // oversized: wait for a full bucket
      const drain = () => {
        timer = null;
        refill();
        while (head < queue.length && tokens >= cost(queue[head]!) && !subscriber.closed) {
          const x = queue[head]!;
          queue[head++] = undefined as unknown as T;
          tokens -= cost(x);
          setHeld(held - x.length);
          subscriber.next(x);
        }
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
          if (done) subscriber.complete();
          return;
        }
        const wait = Math.ceil(((cost(queue[head]!) - tokens) * 1000) / rate);
        timer = scheduler.schedule(drain, Math.max(1, wait));
      };

      const subscription = forward(
        'pace',
        source,
        subscriber,
        (x) => {
          if (head < queue.length && held + x.length > maxQueue) {
            if (backlog) backlog.dropped++;
            return; // full: dropped, as a router's full queue drops (the sender retransmits)
          }
          queue.push(x);
          setHeld(held + x.length);
          if (timer === null) drain();
        },
        () => {
          done = true;
          if (timer === null && head === queue.length) subscriber.complete();
        }
      );
      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
        queue.length = 0;
        setHeld(0);
      };
    });
}
