/**
 * The flush's shortcut past the send buffer: kcp-go visits every segment in flight on every flush
 * to find the ones due a retransmission; a core that knows none can be due visits only the unsent
 * tail. What is sent, and the wait a flush returns, are the same either way (the golden datagram
 * digests and the replay of kcp-go's vectors hold with and without it). The state machine reports
 * what it sees (segments leaving flight, what a scan found); this decides how far a flush looks.
 * @module
 */
import type { FlushKind } from './kcp.js';

/** `later - earlier` as a signed 32-bit number (kcp-go `_itimediff`). */
const diff = (later: number, earlier: number): number => (later - earlier) | 0;

export class SendScan {
  /**
   * The earliest resendts of the unacknowledged segments in flight, valid while `known`. It is
   * exact, not only a bound: when the segment holding it leaves flight `known` is cleared and the
   * next flush scans again. The wait a flush returns comes from it, and kcp-go counts only
   * unacknowledged segments there.
   */
  private earliest = 0;
  private known = false;
  /** Whether any segment may be due a fast or early retransmit (a fast-ack count is pending). */
  private fastackPending = false;

  /** @param everyFlush scan the whole send buffer on every flush, as kcp-go does */
  constructor(private readonly everyFlush: boolean) {}

  /** A segment's fast-ack count went up: it may be due a fast or early retransmit. */
  counted(): void {
    this.fastackPending = true;
  }

  /** A segment with this resendts left flight (acknowledged, or passed by una). */
  left(resendts: number): void {
    if (resendts === this.earliest) this.known = false;
  }

  /**
   * Whether a flush of `kind` at `now` may visit only the unsent tail: no segment can be due (every
   * resendts is ahead and no fast-ack count is pending), or the flush sends only new segments.
   * `inFlight` false (the send buffer holds nothing) forgets the bound.
   */
  quiet(now: number, kind: FlushKind, inFlight: boolean): boolean {
    if (!inFlight) this.known = false;
    return (!this.everyFlush && !this.fastackPending && this.known && diff(now, this.earliest) < 0) || (kind === 'new' && this.known);
  }

  /** ms from `now` to the earliest retransmission (meaningful after `quiet` returned true). */
  due(now: number): number {
    return diff(this.earliest, now);
  }

  /**
   * What a flush's scan found: the earliest resendts of the segments it visited (`haveMin`) and
   * whether any of them has a fast-ack count pending. After a quiet flush the skipped segments keep
   * the old bound, and the newly sent ones can only be later.
   */
  record(quiet: boolean, earliest: number, haveMin: boolean, pending: boolean): void {
    if (quiet) {
      if (!this.known || (haveMin && diff(earliest, this.earliest) < 0)) this.earliest = earliest;
    } else {
      this.earliest = earliest;
      this.known = haveMin;
      this.fastackPending = pending;
    }
  }
}
