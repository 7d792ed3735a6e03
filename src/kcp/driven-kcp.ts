/**
 * A KCP core as the package's own drivers run it (the conversation, benchmarks, tests of the send
 * path): the same state machine as `Kcp`, with the driver's side of its flushes set up and its
 * packet-clocking flush left to the driver. Not exported from any entry point.
 * @module
 */
import type { Sink } from '../sink.js';
import type { Snmp } from '../stats.js';
import { INPUT_WANTS_FLUSH, Kcp, type InputSource, type KcpOptions } from './kcp.js';

/**
 * Room a driver may ask for in front of every datagram: more than any layer after the core writes
 * (FEC header 6 + nonce 16 + CRC 4 bytes), small enough that a mistaken value is caught.
 */
const MAX_HEADROOM = 256;

/**
 * How the code that drives a core wants it to behave; not tuning, so kept apart from `KcpOptions`
 * (which sessions and conversations take from their users).
 * @internal
 */
export interface KcpDriverOptions {
  /**
   * Time source (uint32 ms) read again after each datagram a flush emits, for sinks that send
   * synchronously and take real time to do it. Without one, a flush uses its `now` throughout
   * (kcp-go's behaviour, and what virtual time gives anyway).
   */
  clock?: () => number;
  /**
   * An input that would flush new segments at once (packet clocking) marks a deferred flush
   * instead (`flushDeferred`, taken with `takeDeferredFlush`), and the driver flushes when it has
   * taken every datagram it has ready: a single-threaded driver then never sends in reply to one
   * ACK while later ACKs wait unread. Default false (kcp-go: the flush happens inside the input).
   */
  deferFlush?: boolean;
  /**
   * Bytes left free in front of every datagram emitted: each is a view with this many bytes in
   * front of it that no other array shares, so layers after the core (FEC, CRC and nonce) can write
   * their headers there instead of copying the datagram. Default 0.
   */
  headroom?: number;
  /**
   * Scan the whole send buffer on every flush, as kcp-go does, instead of only the unsent tail
   * when no retransmission can be due (for tests and benchmarks of that shortcut; what is sent is
   * the same). Default false.
   */
  scanEveryFlush?: boolean;
}

/**
 * A `Kcp` set up by its driver (see `KcpDriverOptions`). With no driver options it behaves as `Kcp`.
 * @internal
 */
export class DrivenKcp extends Kcp {
  private readonly deferFlush: boolean;
  /** An input asked for a flush that `deferFlush` held back (see `takeDeferredFlush`). */
  private deferredFlush = false;

  constructor(conv: number, options: KcpOptions = {}, driver: KcpDriverOptions = {}, stats?: Snmp) {
    super(conv, options, stats);
    const { clock, headroom = 0, deferFlush = false, scanEveryFlush = false } = driver;
    if (clock !== undefined && typeof clock !== 'function') throw new TypeError(`kcp: clock must be a function, got ${String(clock)}`);
    if (typeof headroom !== 'number' || !Number.isInteger(headroom)) throw new TypeError(`kcp: headroom must be an integer, got ${String(headroom)}`);
    if (headroom < 0 || headroom > MAX_HEADROOM) throw new RangeError(`kcp: headroom must be 0..${MAX_HEADROOM}, got ${headroom}`);
    this.deferFlush = deferFlush === true;
    this.setUpFlush(headroom, clock, scanEveryFlush === true);
  }

  override input(data: Uint8Array, now: number, out: Sink<Uint8Array>, source: InputSource = 'wire'): number {
    const r = this.receive(data, now, out, source);
    if (r !== INPUT_WANTS_FLUSH) return r;
    if (this.deferFlush) this.deferredFlush = true;
    else this.flush(now, out, 'full');
    return 0;
  }

  /** An input asked for a flush that `deferFlush` held back and no one has taken it yet. */
  get flushDeferred(): boolean {
    return this.deferredFlush;
  }

  /**
   * Whether a flush was deferred (see `KcpDriverOptions.deferFlush`), clearing the mark: the driver
   * then owes the core a full flush, or decides (as a closed, lingering conversation does) not to
   * send new data.
   */
  takeDeferredFlush(): boolean {
    const was = this.deferredFlush;
    this.deferredFlush = false;
    return was;
  }
}
