/**
 * The driver's side of a KCP flush: where a core assembles its datagrams and how it hands each one
 * out. The core (`Kcp`) decides what goes into a datagram; this decides the memory it is written
 * in (one scratch shared by every core), what the emitted copy looks like (with room in front for
 * the layers after the core), and, for a driver whose sink sends synchronously, the time a segment
 * really leaves. `DrivenKcp` sets it up from its `KcpDriverOptions`.
 * @module
 */
import type { Sink } from '../sink.js';
import { mtuLimit } from '../wire/constants.js';
import { copyBytes, markRoom, takeBytes } from '../wire/slab.js';

/**
 * The scratch every core assembles its datagrams in; what is emitted is a copy. Every core shares
 * one (an idle core then holds none): a datagram is assembled from a flush's start or its last
 * emit to the next emit, which copies it out before it calls the sink, and nothing outside the
 * core runs in between, so a sink that makes another core flush at once finds the scratch free.
 */
const scratch = new Uint8Array(mtuLimit);

export class DatagramWriter {
  /** Where the datagram being assembled is written (`len` bytes so far). */
  readonly buffer = scratch;
  len = 0;
  /** Datagrams emitted, and that count when `stamp` last looked. */
  private emitted = 0;
  private seen = 0;

  /**
   * @param headroom bytes left free in front of every datagram emitted (see `KcpDriverOptions.headroom`)
   * @param clock time source re-read after a datagram went out (see `KcpDriverOptions.clock`)
   */
  constructor(
    private readonly headroom: number,
    private readonly clock: (() => number) | undefined
  ) {}

  /** Emits the datagram being assembled (a copy) if adding `n` bytes would take it past `mtu`. */
  makeSpace(n: number, mtu: number, out: Sink<Uint8Array>): void {
    if (this.len + n > mtu) this.emit(out);
  }

  /** Emits the datagram being assembled, if it holds anything. */
  emit(out: Sink<Uint8Array>): void {
    if (this.len === 0) return;
    const room = this.headroom;
    let dg: Uint8Array;
    if (room === 0) dg = copyBytes(this.buffer, 0, this.len);
    else {
      const whole = takeBytes(room + this.len);
      whole.set(this.buffer.subarray(0, this.len), room);
      dg = whole.subarray(room);
      markRoom(dg, room);
    }
    this.len = 0;
    this.emitted++;
    out.next(dg);
  }

  /** From now on `stamp` reports datagrams emitted after this call. */
  mark(): void {
    this.seen = this.emitted;
  }

  /**
   * The time (uint32 ms) a segment written now leaves, when a datagram went out through the sink
   * since `mark` or the last `stamp` and there is a clock to read; -1 otherwise (the flush's `now`
   * stands, as in kcp-go and in virtual time).
   */
  stamp(): number {
    const clock = this.clock;
    if (clock === undefined || this.emitted === this.seen) return -1;
    this.seen = this.emitted;
    return clock() >>> 0;
  }
}
