/** Seeded virtual links and networks in scheduler time: `virtualLink`, `virtualNetwork`. @module */
import { asyncScheduler, Observable, Subscription, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { LossyLink, assertLossyLinkOptions, type LossyLinkOptions } from '../../src/sim/lossy-link.js';

export interface VirtualLinkOptions extends LossyLinkOptions {
  scheduler?: SchedulerLike;
  /** Receives the link once subscribed, to read its counters. */
  onLink?: (link: LossyLink<never>) => void;
}

/**
 * A seeded model of one direction of a network path as an operator, timed by the scheduler: a
 * bottleneck rate with a drop-tail queue in bytes, then random and Gilbert–Elliott bursty loss,
 * duplication, propagation delay, jitter and reordering (`PathOptions`, the model `rxkcp relay`
 * uses too; `pathProfiles` has named paths). The same seed gives the same run, so a lossy
 * conversation replays bit for bit inside `TestScheduler.run`.
 *
 *     sent:      -a-b-c-d-|
 *     delivered: ---a---(cd)b-|     (loss, delay and reordering as the seed decides)
 *
 * Completion waits for what is in flight. Unsubscribing drops it.
 *
 * @param options `LossyLinkOptions` (seed and the `PathOptions`: bandwidth, queue, delay, jitter,
 *   loss, burst, duplicate, reorder, reorderDelay) and the scheduler (default asyncScheduler).
 * @see LossyLink
 */
export function virtualLink<T extends { length: number }>(options: VirtualLinkOptions): MonoTypeOperatorFunction<T> {
  assertLossyLinkOptions(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<T>((subscriber) => {
      const link = new LossyLink<T>(options);
      options.onLink?.(link as unknown as LossyLink<never>);
      let timer: Subscription | null = null;
      let armedFor = Infinity;
      let done = false;
      const arm = () => {
        const due = link.nextDue();
        if (due === undefined) {
          if (done) subscriber.complete();
          return;
        }
        if (timer !== null && armedFor <= due) return;
        timer?.unsubscribe();
        armedFor = due;
        timer = scheduler.schedule(fire, Math.max(0, due - scheduler.now()));
      };
      const fire = () => {
        timer = null;
        armedFor = Infinity;
        link.deliver(scheduler.now(), subscriber);
        arm();
      };
      const subscription = source.subscribe({
        next(x) {
          link.send(x, scheduler.now());
          arm();
        },
        error: (e: unknown) => subscriber.error(e),
        complete() {
          done = true;
          arm();
        },
      });
      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
        link.clear();
      };
    });
}

/** Anything with datagrams out and an input: a `Conversation`, or a user's own endpoint. */
export interface DatagramEndpoint {
  readonly datagrams$: Observable<Uint8Array>;
  input(datagram: Uint8Array): void;
}

export interface VirtualNetworkOptions {
  /** Link from a to b (seed required); `onLink` receives it, to read its counters. */
  ab: Omit<VirtualLinkOptions, 'scheduler'>;
  /** Link from b to a (seed required); `onLink` receives it, to read its counters. */
  ba: Omit<VirtualLinkOptions, 'scheduler'>;
  scheduler?: SchedulerLike;
}

/**
 * Joins two endpoints with a seeded virtual link each way. Unsubscribe to cut them apart.
 *
 * @example
 * const net = virtualNetwork(client, server, { ab: { seed: 1, loss: 0.1, delay: 50 }, ba: { seed: 2, delay: 50 } });
 */
export function virtualNetwork(a: DatagramEndpoint, b: DatagramEndpoint, options: VirtualNetworkOptions): Subscription {
  const scheduler = options.scheduler;
  const sub = a.datagrams$.pipe(virtualLink<Uint8Array>({ ...options.ab, scheduler })).subscribe({ next: (d) => b.input(d), error: () => {} });
  sub.add(b.datagrams$.pipe(virtualLink<Uint8Array>({ ...options.ba, scheduler })).subscribe({ next: (d) => a.input(d), error: () => {} }));
  return sub;
}
