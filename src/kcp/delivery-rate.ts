/**
 * Delivery-rate and minimum-RTT estimation for a sender, in the spirit of BBR: how many bytes
 * the peer acknowledges per ms (the largest rate seen over the last few rounds) and the shortest
 * round trip seen recently. Their product is what the path holds without a queue (the
 * bandwidth-delay product); a sender that keeps about twice that in flight runs at the path's
 * rate without building the queue that a full KCP window of 1024 segments builds in a socket
 * buffer or a busy event loop, where every segment then waits longer than its RTO.
 *
 * Pure: time is an argument (uint32 ms, differences taken modulo 2^32), nothing is scheduled here.
 * @module
 */

/** Rounds over which the largest delivery rate is kept. */
const RATE_ROUNDS = 10;
/** How long a minimum RTT sample stays valid (ms). */
const MIN_RTT_WINDOW = 10_000;

export class DeliveryRate {
  /** Bytes acknowledged in all. */
  private total = 0;
  /** Bytes acknowledged since the current round began. */
  private roundBytes = 0;
  /** When the current round began, or -1 before the first delivery. */
  private roundStart = -1;
  /** Bytes and ms of the last RATE_ROUNDS rounds, rings. */
  private readonly roundBytesRing = new Float64Array(RATE_ROUNDS);
  private readonly roundMsRing = new Float64Array(RATE_ROUNDS);
  private rateAt = 0;
  private rateCount = 0;
  private _rate = 0;
  private _minRtt = -1;
  private minRttAt = 0;

  /** Bytes acknowledged in all. */
  get deliveredBytes(): number {
    return this.total;
  }

  /** Bytes/ms acknowledged over the last rounds that delivered anything; 0 before the first round ends. */
  get rate(): number {
    return this._rate;
  }

  /** The shortest RTT sample of the last 10 s (ms), or -1 before the first. */
  get minRtt(): number {
    return this._minRtt;
  }

  /** `bytes` of payload were acknowledged (first time) at `now`. */
  delivered(bytes: number, now: number): void {
    this.total += bytes;
    if (this.roundStart < 0) {
      // the first delivery after an idle spell only starts the clock: its bytes were on their
      // way before it
      this.roundStart = now;
      return;
    }
    this.roundBytes += bytes;
  }

  /** An RTT sample (ms) taken at `now`. */
  rtt(rtt: number, now: number): void {
    if (this._minRtt < 0 || rtt <= this._minRtt || ((now - this.minRttAt) | 0) > MIN_RTT_WINDOW) {
      this._minRtt = rtt;
      this.minRttAt = now;
    }
  }

  /**
   * Ends the current round when it has lasted at least `round` ms (and delivered something),
   * taking its rate as a sample. Rounds in which nothing was delivered (idle) take no sample, so
   * a pause does not shrink the estimate.
   */
  update(now: number, round: number): void {
    if (this.roundStart < 0) return;
    const elapsed = (now - this.roundStart) | 0;
    if (elapsed < Math.max(1, round)) return;
    if (this.roundBytes > 0) {
      this.roundBytesRing[this.rateAt] = this.roundBytes;
      this.roundMsRing[this.rateAt] = elapsed;
      this.rateAt = (this.rateAt + 1) % RATE_ROUNDS;
      if (this.rateCount < RATE_ROUNDS) this.rateCount++;
      let max = 0;
      for (let i = 0; i < this.rateCount; i++) {
        const r = this.roundBytesRing[i]! / this.roundMsRing[i]!;
        if (r > max) max = r;
      }
      this._rate = max;
      this.roundStart = now;
    } else {
      this.roundStart = -1; // idle: the next delivery starts a round
    }
    this.roundBytes = 0;
  }

  /**
   * Bytes to keep in flight: rate × (`gain` × min RTT + `ackDelay`), at least `floor` segments of
   * `mss` bytes; that floor too while there is no estimate yet, so a sender capped from its start
   * begins with that many and grows from what it measures. `ackDelay` is how long a receiver may hold
   * its ACKs (kcp-go's send them on its flush interval): the minimum RTT comes from the ACKs sent
   * at once, and without it a sender would wait on the held ones with the pipe half empty.
   */
  inflightCap(mss: number, ackDelay: number, gain: number, floor: number): number {
    if (this._rate <= 0 || this._minRtt < 0) return floor * mss;
    return Math.max(floor * mss, Math.ceil(this._rate * (gain * Math.max(1, this._minRtt) + ackDelay)));
  }
}
