/**
 * Two KCP cores joined by two `LossyLink`s, run in virtual time: the driver jumps from event to
 * event (a flush falling due, a datagram arriving), so minutes of lossy transfer take milliseconds.
 * Pure: it never reads a clock. Tests, examples and benchmarks use it to exercise the core alone.
 * @module
 */
import type { Kcp } from '../kcp/kcp.js';
import type { Sink } from '../sink.js';
import type { LossyLink } from './lossy-link.js';

export class KcpPair {
  /** Virtual time (ms). */
  now: number;
  private nextA: number;
  private nextB: number;
  private readonly outA: Sink<Uint8Array>;
  private readonly outB: Sink<Uint8Array>;
  private readonly intoA: Sink<Uint8Array>;
  private readonly intoB: Sink<Uint8Array>;
  /** Datagrams each side wrote (including those the link then dropped). */
  datagramsA = 0;
  datagramsB = 0;
  /** Sees every datagram as it is written, before the link: for tests and traces. */
  tap?: (from: 'a' | 'b', datagram: Uint8Array, now: number) => void;
  /** Non-zero results of `input`, by code. */
  readonly inputErrors = new Map<number, number>();

  constructor(
    readonly a: Kcp,
    readonly b: Kcp,
    readonly ab: LossyLink,
    readonly ba: LossyLink,
    start = 0
  ) {
    this.now = start;
    this.nextA = start;
    this.nextB = start;
    this.outA = {
      next: (dg) => {
        this.datagramsA++;
        this.tap?.('a', dg, this.now);
        this.ab.send(dg, this.now);
      },
    };
    this.outB = {
      next: (dg) => {
        this.datagramsB++;
        this.tap?.('b', dg, this.now);
        this.ba.send(dg, this.now);
      },
    };
    this.intoA = { next: (dg) => this.feed(this.a, dg, this.outA) };
    this.intoB = { next: (dg) => this.feed(this.b, dg, this.outB) };
  }

  private feed(k: Kcp, dg: Uint8Array, out: Sink<Uint8Array>): void {
    const r = k.input(dg, this.now >>> 0, out);
    if (r !== 0) this.inputErrors.set(r, (this.inputErrors.get(r) ?? 0) + 1);
  }

  /** Flushes side A now, as a write would (kcp-go flushes on Write); does not move its timer. */
  flushA(): void {
    this.a.flush(this.now >>> 0, this.outA);
  }

  flushB(): void {
    this.b.flush(this.now >>> 0, this.outB);
  }

  /** Advances to the next event and handles it. */
  step(): void {
    let t = Math.min(this.nextA, this.nextB);
    const d1 = this.ab.nextDue();
    const d2 = this.ba.nextDue();
    if (d1 !== undefined && d1 < t) t = d1;
    if (d2 !== undefined && d2 < t) t = d2;
    if (t > this.now) this.now = t;
    this.ab.deliver(this.now, this.intoB);
    this.ba.deliver(this.now, this.intoA);
    if (this.now >= this.nextA) this.nextA = this.now + this.a.flush(this.now >>> 0, this.outA);
    if (this.now >= this.nextB) this.nextB = this.now + this.b.flush(this.now >>> 0, this.outB);
  }

  /**
   * Steps until `done()` is true (checked after every event; the place to read and write) or
   * virtual time passes `until`. Returns whether `done()` became true.
   */
  run(done: () => boolean, until: number): boolean {
    while (!done()) {
      if (this.now > until) return false;
      this.step();
    }
    return true;
  }
}
