/**
 * A seeded, clock-free model of one direction of a network link: loss, fixed and jittered delay,
 * duplication, reordering and a bandwidth limit. Time is passed in (ms); the same seed and the
 * same calls give the same deliveries on every runtime. Delivery times are whole milliseconds. The RxJS `virtualLink` operator and the
 * core tests both drive it.
 * @module
 */
import { Prng } from '../prng.js';
import type { Sink } from '../sink.js';
import { DueQueue } from './due-queue.js';

export interface LossyLinkOptions {
  /** Seed of the link's PRNG. */
  seed: number;
  /** Probability a datagram is dropped (0..1). */
  loss?: number;
  /** Fixed one-way delay (ms). */
  delay?: number;
  /** Extra delay, uniform in [0, jitter] ms, per datagram. */
  jitter?: number;
  /** Probability a datagram is delivered twice (the copy with its own delay). */
  duplicate?: number;
  /** Probability a datagram is held back by up to `delay + jitter` more ms, so later ones overtake it. */
  reorder?: number;
  /** Bytes per second the link carries; datagrams queue behind each other. 0 or absent = unlimited. */
  bandwidth?: number;
}

export interface LossyLinkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  delivered: number;
}

function checkProbability(name: string, v: number | undefined): number {
  const p = v ?? 0;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`link: ${name} must be 0..1, got ${String(v)}`);
  return p;
}

function checkNonNegative(name: string, v: number | undefined): number {
  const x = v ?? 0;
  if (!(x >= 0 && Number.isFinite(x))) throw new RangeError(`link: ${name} must be a finite number ≥ 0, got ${String(v)}`);
  return x;
}

/** Validates link options; throws RangeError naming the bad one. */
export function assertLossyLinkOptions(o: LossyLinkOptions): void {
  if (!Number.isInteger(o.seed)) throw new TypeError(`link: seed must be an integer, got ${String(o.seed)}`);
  checkProbability('loss', o.loss);
  checkProbability('duplicate', o.duplicate);
  checkProbability('reorder', o.reorder);
  checkNonNegative('delay', o.delay);
  checkNonNegative('jitter', o.jitter);
  checkNonNegative('bandwidth', o.bandwidth);
}

export class LossyLink<T extends { length: number } = Uint8Array> {
  readonly stats: LossyLinkStats = { sent: 0, dropped: 0, duplicated: 0, delivered: 0 };
  private readonly prng: Prng;
  private readonly loss: number;
  private readonly delay: number;
  private readonly jitter: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly bandwidth: number;
  /** Pending deliveries by due time, ties in sending order. */
  private readonly inFlight = new DueQueue<T>();
  /** When the link's transmitter is free again (bandwidth model), in ms. */
  private busyUntil = 0;

  constructor(options: LossyLinkOptions) {
    assertLossyLinkOptions(options);
    this.prng = new Prng(options.seed);
    this.loss = options.loss ?? 0;
    this.delay = options.delay ?? 0;
    this.jitter = options.jitter ?? 0;
    this.duplicate = options.duplicate ?? 0;
    this.reorder = options.reorder ?? 0;
    this.bandwidth = options.bandwidth ?? 0;
  }

  /** Number of datagrams in flight. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Puts a datagram on the link at time `now`. */
  send(item: T, now: number): void {
    this.stats.sent++;
    if (this.loss > 0 && this.prng.chance(this.loss)) {
      this.stats.dropped++;
      return;
    }
    let start = now;
    if (this.bandwidth > 0) {
      // queued behind what is being transmitted; arrives once its own last byte is on the wire
      start = Math.max(now, this.busyUntil) + Math.ceil((item.length * 1000) / this.bandwidth);
      this.busyUntil = start;
    }
    this.schedule(item, start);
    if (this.duplicate > 0 && this.prng.chance(this.duplicate)) {
      this.stats.duplicated++;
      this.schedule(item, start);
    }
  }

  private schedule(item: T, start: number): void {
    let due = start + this.delay;
    if (this.jitter > 0) due += Math.floor(this.prng.float() * (this.jitter + 1));
    if (this.reorder > 0 && this.prng.chance(this.reorder)) due += 1 + Math.floor(this.prng.float() * (this.delay + this.jitter + 1));
    this.inFlight.push(item, due);
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
