/**
 * One direction of a simulated network path as a clock-free queue of deliveries: it decides with
 * `PathModel` (drop-tail bottleneck, delay, jitter, random and bursty loss, duplication,
 * reordering; see `PathOptions`) and holds the copies until they come due. Time is passed in (ms);
 * the same seed and the same calls give the same deliveries on every runtime, and the same
 * decisions as a `relay` direction seeded alike. Delivery times are whole milliseconds. The RxJS
 * `virtualLink` operator and the core tests both drive it.
 * @module
 */
import type { Sink } from '../sink.js';
import { DueQueue } from './due-queue.js';
import { assertPathOptions, PathModel, type PathOptions } from './path.js';

export interface LossyLinkOptions extends PathOptions {
  /** Seed of every decision of the link (an integer). */
  seed: number;
}

export interface LossyLinkStats {
  /** Datagrams put on the link. */
  sent: number;
  /** Datagrams dropped, whatever the cause (`path.stats.dropped` has them by cause). */
  dropped: number;
  /** Datagrams delivered twice. */
  duplicated: number;
  /** Copies handed to the receiver so far. */
  delivered: number;
}

/** Validates link options; throws RangeError/TypeError naming the bad one. */
export function assertLossyLinkOptions(o: LossyLinkOptions): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('link: options must be an object');
  if (!Number.isInteger(o.seed)) throw new TypeError(`link: seed must be an integer, got ${String(o.seed)}`);
  assertPathOptions(o, 'link: ');
}

export class LossyLink<T extends { length: number } = Uint8Array> {
  readonly stats: LossyLinkStats = { sent: 0, dropped: 0, duplicated: 0, delivered: 0 };
  /** The model that decides; its `stats` count drops by cause and the queue's high-water mark. */
  readonly path: PathModel;
  /** Pending deliveries by due time, ties in sending order. */
  private readonly inFlight = new DueQueue<T>();

  constructor(options: LossyLinkOptions) {
    assertLossyLinkOptions(options);
    this.path = new PathModel(options, options.seed);
  }

  /** Number of datagrams in flight. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Puts a datagram on the link at time `now`. */
  send(item: T, now: number): void {
    this.stats.sent++;
    const dues = this.path.decide(item.length, now);
    if (dues.length === 0) this.stats.dropped++;
    if (dues.length > 1) this.stats.duplicated++;
    for (let i = 0; i < dues.length; i++) this.inFlight.push(item, dues[i]!);
  }

  /** Time of the next delivery, or undefined when nothing is in flight. */
  nextDue(): number | undefined {
    return this.inFlight.peekDue();
  }

  /** Delivers everything due at or before `now` to `out`, in due order. */
  deliver(now: number, out: Sink<T>): void {
    for (let due = this.inFlight.peekDue(); due !== undefined && due <= now; due = this.inFlight.peekDue()) {
      const item = this.inFlight.pop();
      this.stats.delivered++;
      out.next(item);
    }
  }

  /** Drops everything in flight. */
  clear(): void {
    this.inFlight.clear();
  }
}
