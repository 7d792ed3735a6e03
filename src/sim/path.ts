/**
 * A seeded, clock-free model of one direction of a network path, the one both the virtual link
 * (`LossyLink`, `virtualLink`, `virtualNetwork`) and the UDP relay (`rxkcp relay`) decide with:
 *
 *     sender ─▶ [drop-tail queue, `queue` bytes] ─▶ bottleneck, `bandwidth` B/s
 *            ─▶ lossy hop: Gilbert–Elliott `burst` loss, then random `loss`
 *            ─▶ `duplicate` ─▶ propagation `delay` + `jitter` (+ `reorderDelay` when reordered) ─▶ receiver
 *
 * The queue drops at the bottleneck (a datagram that does not fit behind the bytes still waiting is
 * dropped on arrival); loss happens after it, as on a lossy radio hop behind the bottleneck, so a
 * datagram later lost still took its turn on the bottleneck. The best goodput a path allows is
 * therefore `bandwidth × (1 − stationary loss)`, whatever the sender does.
 *
 * Every decision is made when a datagram arrives, from `decide(size, now)`, and comes from seeded
 * generators, one per kind of decision (burst state, random loss, duplication, jitter, reordering),
 * so the same seed and the same sequence of (size, time) give the same decisions on every runtime,
 * and turning one impairment on does not change the decisions of another. Time is in ms, passed in.
 * @module
 */
import { Prng } from '../prng.js';

/** Gilbert–Elliott bursty loss. */
export interface BurstLoss {
  /** Probability (0..1) that the hop moves from the good to the bad state, drawn before each datagram. */
  enter: number;
  /** Probability (0..1) that it moves from the bad state back to the good one, drawn before each datagram. */
  exit: number;
  /** Probability (0..1) that a datagram is lost in the bad state (default 1). */
  loss?: number;
}

/** What one direction of a path does to the datagrams crossing it. Every field is optional. */
export interface PathOptions {
  /** Bottleneck rate, bytes per second; datagrams are serialised one after another. Absent or 0: unlimited (no queue either). */
  bandwidth?: number;
  /**
   * Bytes that may wait for the bottleneck, the datagram being serialised included; a datagram that
   * would take it past this is dropped on arrival (drop-tail). Default `DEFAULT_QUEUE_BYTES`;
   * `Infinity` for a queue without bound (virtual time only: a real relay would hold it in memory).
   */
  queue?: number;
  /** One-way propagation delay, ms. */
  delay?: number;
  /** Extra delay, uniform in [0, jitter) ms, drawn per copy; jitter larger than the spacing of datagrams reorders them. */
  jitter?: number;
  /** Probability (0..1) that a datagram that left the bottleneck is lost, independently of every other. */
  loss?: number;
  /** Bursty loss after the bottleneck; independent `loss` applies in both of its states. */
  burst?: BurstLoss;
  /** Probability (0..1) that a datagram is delivered twice (each copy with its own jitter). */
  duplicate?: number;
  /** Probability (0..1) that a copy is held back by `reorderDelay` ms more, so later ones overtake it. */
  reorder?: number;
  /** Extra hold of a reordered copy, ms. Default `DEFAULT_REORDER_DELAY_MS`. */
  reorderDelay?: number;
}

/** Counters of one path direction. arrived = delivered − duplicated + dropped.total. */
export interface PathStats {
  /** Datagrams offered to the path. */
  arrived: number;
  /** Bytes offered to the path. */
  arrivedBytes: number;
  /** Copies the path delivers (duplicates included). */
  delivered: number;
  /** Bytes of those copies. */
  deliveredBytes: number;
  /** Datagrams delivered twice (each counts once here, twice in `delivered`). */
  duplicated: number;
  /** Copies held back by `reorderDelay`. */
  reordered: number;
  dropped: {
    /** Did not fit in the bottleneck's queue (drop-tail). */
    queue: number;
    /** Independent random loss after the bottleneck. */
    loss: number;
    /** Lost in the bad state of a Gilbert–Elliott burst. */
    burst: number;
    /** All of the above. */
    total: number;
  };
  /** Most bytes ever waiting for the bottleneck, the arriving datagram included (occupancy high-water mark). */
  queueMax: number;
}

/**
 * Bytes the bottleneck's queue holds by default: 1 MiB, a generous router buffer (about 0.8 s at
 * 10 Mbit/s) that bounds what a relay holds in memory per direction.
 */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

/** How long a reordered copy is held back by default, ms: a few datagrams' spacing on a busy path. */
export const DEFAULT_REORDER_DELAY_MS = 10;

/**
 * Slack when rounding a due time up to whole ms, so that float error in `size × 1000 / bandwidth`
 * (e.g. 300.00000000000006) does not push a copy a whole millisecond late.
 */
const ROUND_SLACK_MS = 1e-9;

/** The kinds of decision, one seeded generator each. */
const Kind = { Loss: 0, Burst: 1, Duplicate: 2, Reorder: 3, Jitter: 4 } as const;

/** A seed for one kind of decision, spread so nearby seeds give unrelated streams. */
function subSeed(seed: number, kind: number): number {
  let z = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x85ebca6b ^ Math.imul(kind + 1, 0xc2b2ae35)) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x2c1b3c6d);
  return (z ^ (z >>> 12)) >>> 0;
}

function probability(where: string, name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${where}${name} must be a probability 0..1, got ${String(v)}`);
}

function nonNegative(where: string, name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !(v >= 0 && Number.isFinite(v))) throw new RangeError(`${where}${name} must be a finite number ≥ 0, got ${String(v)}`);
}

/**
 * Validates path options; throws RangeError/TypeError naming the bad one, prefixed by `where`
 * (e.g. `'relay: up.'`).
 */
export function assertPathOptions(o: PathOptions, where = 'path: '): void {
  if (typeof o !== 'object' || o === null) throw new TypeError(`${where}options must be an object`);
  probability(where, 'loss', o.loss);
  probability(where, 'duplicate', o.duplicate);
  probability(where, 'reorder', o.reorder);
  nonNegative(where, 'reorderDelay', o.reorderDelay);
  nonNegative(where, 'delay', o.delay);
  nonNegative(where, 'jitter', o.jitter);
  nonNegative(where, 'bandwidth', o.bandwidth);
  if (o.queue !== undefined && !(typeof o.queue === 'number' && o.queue > 0)) {
    throw new RangeError(`${where}queue must be a number of bytes > 0 (or Infinity), got ${String(o.queue)}`);
  }
  if (o.burst !== undefined) {
    if (typeof o.burst !== 'object' || o.burst === null) throw new TypeError(`${where}burst must be { enter, exit, loss? }`);
    if (o.burst.enter === undefined || o.burst.exit === undefined) throw new RangeError(`${where}burst needs enter and exit`);
    probability(where, 'burst.enter', o.burst.enter);
    probability(where, 'burst.exit', o.burst.exit);
    probability(where, 'burst.loss', o.burst.loss);
  }
}

/**
 * The long-run fraction of datagrams a path with these options loses after its bottleneck:
 * 1 − (1 − loss) × (1 − P(bad) × burst.loss), with P(bad) = enter / (enter + exit), the
 * stationary probability of the bad state.
 */
export function stationaryLoss(o: PathOptions): number {
  let pass = 1 - (o.loss ?? 0);
  if (o.burst) {
    const { enter, exit } = o.burst;
    const bad = enter + exit > 0 ? enter / (enter + exit) : 0;
    pass *= 1 - bad * (o.burst.loss ?? 1);
  }
  return 1 - pass;
}

/** Fresh zeroed counters. */
export function newPathStats(): PathStats {
  return { arrived: 0, arrivedBytes: 0, delivered: 0, deliveredBytes: 0, duplicated: 0, reordered: 0, dropped: { queue: 0, loss: 0, burst: 0, total: 0 }, queueMax: 0 };
}

export class PathModel {
  readonly stats: PathStats = newPathStats();
  private readonly bandwidth: number;
  private readonly queue: number;
  private readonly delay: number;
  private readonly jitter: number;
  private readonly loss: number;
  private readonly burst: { enter: number; exit: number; loss: number } | null;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly reorderDelay: number;
  private readonly lossRng: Prng;
  private readonly burstRng: Prng;
  private readonly duplicateRng: Prng;
  private readonly reorderRng: Prng;
  private readonly jitterRng: Prng;
  /** In the bad state of the burst model. */
  private bad = false;
  /** When the bottleneck has serialised everything accepted so far (ms, fractional). */
  private busyUntil = -Infinity;
  /** Due times of the copies of the last datagram decided; reused. */
  private readonly dues: number[] = [];

  /** `seed` (an integer) seeds every decision; options are checked here (RangeError/TypeError). */
  constructor(options: PathOptions, seed: number) {
    assertPathOptions(options);
    if (!Number.isInteger(seed)) throw new TypeError(`path: seed must be an integer, got ${String(seed)}`);
    this.bandwidth = options.bandwidth ?? 0;
    this.queue = options.queue ?? DEFAULT_QUEUE_BYTES;
    this.delay = options.delay ?? 0;
    this.jitter = options.jitter ?? 0;
    this.loss = options.loss ?? 0;
    this.burst = options.burst ? { enter: options.burst.enter, exit: options.burst.exit, loss: options.burst.loss ?? 1 } : null;
    this.duplicate = options.duplicate ?? 0;
    this.reorder = options.reorder ?? 0;
    this.reorderDelay = options.reorderDelay ?? DEFAULT_REORDER_DELAY_MS;
    this.lossRng = new Prng(subSeed(seed, Kind.Loss));
    this.burstRng = new Prng(subSeed(seed, Kind.Burst));
    this.duplicateRng = new Prng(subSeed(seed, Kind.Duplicate));
    this.reorderRng = new Prng(subSeed(seed, Kind.Reorder));
    this.jitterRng = new Prng(subSeed(seed, Kind.Jitter));
  }

  /** Bytes waiting for the bottleneck at `now` (ms), the one being serialised included. */
  queued(now: number): number {
    return this.bandwidth > 0 ? Math.max(0, this.busyUntil - now) * (this.bandwidth / 1000) : 0;
  }

  /**
   * Decides the fate of a datagram of `size` bytes arriving at `now` (ms; never earlier than the
   * previous call's). Returns the due times (whole ms, rounded up) of the copies the path
   * delivers, in the order they were made: empty when it is dropped, two entries when duplicated.
   * The array is reused by the next call.
   */
  decide(size: number, now: number): readonly number[] {
    const s = this.stats;
    const dues = this.dues;
    dues.length = 0;
    s.arrived++;
    s.arrivedBytes += size;
    let leave = now;
    if (this.bandwidth > 0) {
      const waiting = this.queued(now);
      if (waiting + size > this.queue) return this.drop('queue');
      if (waiting + size > s.queueMax) s.queueMax = waiting + size;
      // serialised behind what is queued: leaves once its own last byte is on the wire
      leave = Math.max(now, this.busyUntil) + (size * 1000) / this.bandwidth;
      this.busyUntil = leave;
    }
    if (this.burst) {
      // the state moves before each datagram, then the bad state loses it (with burst.loss)
      const r = this.burstRng.float();
      if (this.bad ? r < this.burst.exit : r < this.burst.enter) this.bad = !this.bad;
      if (this.bad && (this.burst.loss >= 1 || this.burstRng.chance(this.burst.loss))) return this.drop('burst');
    }
    if (this.loss > 0 && this.lossRng.chance(this.loss)) return this.drop('loss');
    const copies = this.duplicate > 0 && this.duplicateRng.chance(this.duplicate) ? 2 : 1;
    if (copies === 2) s.duplicated++;
    for (let i = 0; i < copies; i++) {
      let due = leave + this.delay;
      if (this.jitter > 0) due += this.jitterRng.float() * this.jitter;
      if (this.reorder > 0 && this.reorderRng.chance(this.reorder)) {
        due += this.reorderDelay;
        s.reordered++;
      }
      dues.push(Math.ceil(due - ROUND_SLACK_MS));
      s.delivered++;
      s.deliveredBytes += size;
    }
    return dues;
  }

  private drop(cause: 'queue' | 'loss' | 'burst'): readonly number[] {
    this.stats.dropped[cause]++;
    this.stats.dropped.total++;
    return this.dues;
  }
}
