/**
 * `bbr`: a model-based, paced congestion control for the KCP sender, after BBR
 * (draft-cardwell-iccrg-bbr-congestion-control; docs/congestion-control.md#bbr). It measures the
 * path instead of reading loss as congestion:
 * - delivery-rate samples (draft-cheng-iccrg-delivery-rate-estimation): per segment sent, what had
 *   been delivered by then; per ACK, bytes delivered over the longer of the send and ACK spans,
 *   with samples taken while the application had nothing to send marked app-limited;
 * - the bottleneck bandwidth: the largest sample of the last BW_WINDOW_ROUNDS round trips
 *   (app-limited samples only when they raise it);
 * - the minimum RTT of the last MIN_RTT_WINDOW ms, re-probed (PROBE_RTT) when it has not been
 *   seen again for that long;
 * - STARTUP (rate × 2.885 each round until the bandwidth stops growing), DRAIN (the queue startup
 *   built), PROBE_BW (a pacing-gain cycle 1.25, 0.75, then cruising at 1);
 * - pacing at gain × bandwidth, and in flight at most CWND_GAIN × bandwidth × min RTT plus the
 *   ACKs a KCP receiver holds for a flush interval;
 * - loss: random loss below LOSS_THRESH per round is left to FEC and ARQ; a loss rate above it
 *   for LOSS_ROUNDS round trips in a row is a queue overflowing: startup ends, and what is in
 *   flight is held under an upper bound (inflightHi) that grows back while rounds stay clean.
 *
 * Pure: time is an argument (uint32 ms), nothing is scheduled here.
 * @module
 */
import { IKCP_RTO_DEF } from './constants.js';
import type { CcHost, CongestionControl } from './cc.js';

/** STARTUP's pacing and window gain: 2/ln 2, the smallest that doubles the delivery rate each round (BBR draft). */
const STARTUP_GAIN = 2.885;
/** DRAIN's pacing gain: the inverse of STARTUP_GAIN, emptying in one round the queue startup built. */
const DRAIN_GAIN = 1 / STARTUP_GAIN;
/**
 * PROBE_BW's pacing-gain cycle, one phase per min RTT (BBR draft): probe for more bandwidth at
 * 1.25, drain what that queued at 0.75, cruise at 1 for six phases.
 */
const PROBE_BW_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
/**
 * In flight at most this many bandwidth-delay products (BBR draft's cwnd_gain): room for ACKs that
 * come in bunches (KCP receivers send theirs once per flush interval) without stalling the pipe.
 */
const CWND_GAIN = 2;
/** Round trips over which the largest delivery-rate sample is the bandwidth estimate (BBR draft). */
const BW_WINDOW_ROUNDS = 10;
/** How long a minimum RTT stays valid without being seen again before PROBE_RTT (ms, BBR draft). */
const MIN_RTT_WINDOW = 10_000;
/** How long PROBE_RTT holds in flight at PROBE_RTT_SEGMENTS (ms, BBR draft). */
const PROBE_RTT_DURATION = 200;
/** In flight during PROBE_RTT (segments, BBR draft's 4 packets). */
const PROBE_RTT_SEGMENTS = 4;
/** Never fewer than this many segments in flight (BBR draft's minimum window of 4 packets). */
const MIN_SEGMENTS = 4;
/** In flight before the first bandwidth sample (segments): kcp-go's default window, what a KCP sender starts with. */
const INITIAL_SEGMENTS = 32;
/**
 * A lossy round in STARTUP ends it only if the bandwidth grew less than this factor in the round:
 * paced at STARTUP_GAIN with nothing in the way it about doubles each round, random loss or not;
 * at a bottleneck it grows by less, and the loss is the queue overflowing.
 */
const STARTUP_LOSS_GROWTH = 1.5;
/** STARTUP ends when the bandwidth grew less than this factor… */
const FULL_BW_GROWTH = 1.25;
/** …for this many rounds in a row (BBR draft). */
const FULL_BW_ROUNDS = 3;
/**
 * A round whose retransmissions exceed this share of its segments is lossy. Above the random loss
 * of the long, lossy paths KCP is used on (up to about 5 %, which FEC and ARQ repair, plus the
 * fast retransmissions reordering causes), below what an overflowing queue drops when a sender
 * overshoots it by a quarter (PROBE_BW's 1.25).
 */
const LOSS_THRESH = 0.1;
/** …counted only with at least this many retransmissions in the round (a few segments are noise). */
const LOSS_MIN_SEGMENTS = 3;
/**
 * Weight of each round in the average share of segments sent again (`lossShare`): about the last
 * eight rounds, as the bandwidth filter's ten.
 */
const LOSS_EWMA = 1 / 8;
/** Lossy rounds in a row that mean a queue overflows (random loss rarely repeats above the threshold). */
const LOSS_ROUNDS = 2;
/** On persistent loss, inflightHi is what was in flight times this (BBRv2's beta). */
const LOSS_BETA = 0.7;
/** A clean round in PROBE_BW lets inflightHi grow by this share of itself (probing up again). */
const INFLIGHT_HI_GROWTH = 1 / 8;
/**
 * A round whose shortest RTT sample is above this many minimum RTTs (plus a flush interval for
 * held ACKs) ran with a queue that never emptied…
 */
const STANDING_RTT_GAIN = 1.25;
/**
 * …and this many such rounds in a row in PROBE_BW, whose drain phase empties any queue the model
 * explains, mean the bandwidth estimate is above the path's (its rate fell, or another flow took a
 * share): the estimate restarts from the last round's samples instead of waiting BW_WINDOW_ROUNDS
 * rounds for the filter to forget.
 */
const STANDING_ROUNDS = 2;
/** A timeout with una still for this long (ms) is a path gone silent: the model starts over. */
const RESTART_STALL = 4 * IKCP_RTO_DEF;

const enum Mode {
  Startup,
  Drain,
  ProbeBw,
  ProbeRtt,
}

/** Per-segment send state, by sn in a ring sized to the send window. */
const F_SN = 0;
const F_SENT = 1;
const F_DELIVERED = 2;
const F_DELIVERED_AT = 3;
const F_FIRST_SENT = 4;
const F_APP_LIMITED = 5;
const FIELDS = 6;

export class BbrCc implements CongestionControl {
  readonly name: string = 'bbr';
  private mode = Mode.Startup;
  private pacingGain = STARTUP_GAIN;
  private cwndGain = STARTUP_GAIN;

  // delivery-rate estimation
  private ring = new Float64Array(0);
  private mask = -1;
  /** Payload bytes delivered in all, when the last was, and when the segment behind the newest sample left. */
  private delivered = 0;
  private deliveredAt = 0;
  private firstSentAt = 0;
  /** Nothing was in flight: the next segment sent starts the spans afresh. */
  private restart = true;
  /** Delivered count until which samples are app-limited (0: not app-limited). */
  private appLimitedUntil = 0;
  // the sample being built from one input's ACKs
  private haveSample = false;
  private priorDelivered = 0;
  private priorAt = 0;
  private sendSpan = 0;
  private ackSpan = 0;
  private sampleAppLimited = false;

  // the model
  private readonly bwRing = new Float64Array(BW_WINDOW_ROUNDS);
  private bw = 0;
  private minRtt = -1;
  private minRttAt = 0;
  private round = 0;
  private nextRoundDelivered = 0;
  private fullBw = 0;
  private fullBwRounds = 0;
  private filledPipe = false;
  private cycleIndex = 0;
  private cycleAt = 0;
  private probeRttDone = -1;
  private probeRttRound = 0;
  private pacing = 0;

  // standing queue
  private roundMinRtt = Infinity;
  private roundMaxBw = 0;
  private standingRounds = 0;

  // loss
  private roundSent = 0;
  private roundLost = 0;
  private lossyRounds = 0;
  /** Average share of each round's segments that were sent again (see LOSS_EWMA). */
  private lossShare = 0;
  private inflightHi = Infinity;

  constructor(private readonly host: CcHost) {}

  get cwnd(): number {
    const limit = this.inflightLimit(this.deliveredAt);
    return Math.ceil(limit / this.host.mss);
  }

  /** Estimated bottleneck bandwidth (payload bytes per ms; 0 before a sample). */
  get bandwidth(): number {
    return this.bw;
  }

  /** Estimated propagation round trip (ms; -1 before a sample). */
  get minRttMs(): number {
    return this.minRtt;
  }

  /** The phase: startup, drain, probe-bw or probe-rtt. */
  get state(): 'startup' | 'drain' | 'probe-bw' | 'probe-rtt' {
    return (['startup', 'drain', 'probe-bw', 'probe-rtt'] as const)[this.mode];
  }

  window(wnd: number): number {
    return wnd;
  }

  /** `gain` bandwidth-delay products (bytes) at the current estimates. */
  private bdp(gain: number): number {
    return gain * this.bw * Math.max(1, this.minRtt);
  }

  /** What a receiver holding its ACKs for a flush interval keeps in flight beyond the path (bytes). */
  private ackHold(): number {
    return this.bw * this.host.interval;
  }

  inflightLimit(_now: number): number {
    const mss = this.host.mss;
    if (this.mode === Mode.ProbeRtt) return PROBE_RTT_SEGMENTS * mss;
    if (this.bw <= 0 || this.minRtt < 0) return INITIAL_SEGMENTS * mss;
    const limit = Math.min(this.bdp(this.cwndGain) + this.ackHold(), this.inflightHi);
    return Math.max(MIN_SEGMENTS * mss, limit);
  }

  pacingRate(_now: number): number {
    return this.pacing > 0 ? this.pacing : Infinity;
  }

  onSent(sn: number, bytes: number, xmit: number, now: number): void {
    const host = this.host;
    if (this.ring.length === 0 || this.mask + 1 < host.sndWnd) this.grow(host.sndWnd);
    if (this.restart) {
      this.restart = false;
      this.firstSentAt = now;
      this.deliveredAt = now;
    }
    const i = (sn & this.mask) * FIELDS;
    const r = this.ring;
    r[i + F_SN] = sn;
    r[i + F_SENT] = now;
    r[i + F_DELIVERED] = this.delivered;
    r[i + F_DELIVERED_AT] = this.deliveredAt;
    r[i + F_FIRST_SENT] = this.firstSentAt;
    r[i + F_APP_LIMITED] = this.appLimitedUntil !== 0 ? 1 : 0;
    if (xmit === 1) this.roundSent++;
    void bytes;
  }

  private grow(wnd: number): void {
    let size = 64;
    while (size < wnd) size *= 2;
    this.ring = new Float64Array(size * FIELDS).fill(-1);
    this.mask = size - 1;
  }

  onAck(sn: number, bytes: number, now: number): void {
    this.delivered += bytes;
    this.deliveredAt = now;
    if (this.host.inflightBytes <= 0) this.restart = true;
    if (this.appLimitedUntil !== 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
    if (this.mask < 0) return;
    const i = (sn & this.mask) * FIELDS;
    const r = this.ring;
    if (r[i + F_SN] !== sn) return;
    const prior = r[i + F_DELIVERED]!;
    if (this.haveSample && prior < this.priorDelivered) return;
    this.haveSample = true;
    this.priorDelivered = prior;
    this.priorAt = r[i + F_DELIVERED_AT]!;
    this.sampleAppLimited = r[i + F_APP_LIMITED] === 1;
    const sent = r[i + F_SENT]!;
    this.sendSpan = (sent - r[i + F_FIRST_SENT]!) | 0;
    this.ackSpan = (now - this.priorAt) | 0;
    this.firstSentAt = sent;
    r[i + F_SN] = -1; // one sample per transmission
  }

  onRtt(rtt: number, now: number): void {
    if (rtt < this.roundMinRtt) this.roundMinRtt = rtt;
    const expired = this.minRtt >= 0 && ((now - this.minRttAt) | 0) > MIN_RTT_WINDOW;
    if (this.minRtt < 0 || rtt <= this.minRtt || expired) {
      // not seen again for MIN_RTT_WINDOW: take the sample, and drain the pipe to measure anew
      if (expired && rtt > this.minRtt && this.mode !== Mode.ProbeRtt && this.filledPipe) this.enterProbeRtt();
      this.minRtt = rtt;
      this.minRttAt = now;
    }
  }

  onInput(now: number, _unaAdvanced: boolean): void {
    if (!this.haveSample) return;
    this.haveSample = false;
    // a round trip ends when a segment sent after the previous one ended is acknowledged
    let roundStart = false;
    if (this.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = this.delivered;
      this.round++;
      roundStart = true;
      // the slot the new round writes forgets the sample of BW_WINDOW_ROUNDS rounds ago, before
      // this input's sample (the new round's first) goes in; the estimate itself moves with the
      // next sample taken, never to nothing for want of samples
      this.bwRing[this.round % BW_WINDOW_ROUNDS] = 0;
    }
    const span = Math.max(this.sendSpan, this.ackSpan);
    const bytes = this.delivered - this.priorDelivered;
    // a span shorter than the minimum RTT measures how ACKs bunch, not the path
    if (span > 0 && bytes > 0 && span >= this.minRtt) {
      const sample = bytes / span;
      if (!this.sampleAppLimited || sample >= this.bw) this.takeBw(sample);
      if (!this.sampleAppLimited && sample > this.roundMaxBw) this.roundMaxBw = sample;
    }
    if (roundStart) this.endRound(now);
    this.advance(now);
  }

  private takeBw(sample: number): void {
    const slot = this.round % BW_WINDOW_ROUNDS;
    if (sample > this.bwRing[slot]!) this.bwRing[slot] = sample;
    let max = 0;
    for (let i = 0; i < BW_WINDOW_ROUNDS; i++) if (this.bwRing[i]! > max) max = this.bwRing[i]!;
    this.bw = max;
  }

  /** A round trip ended: the bandwidth filter moves on, startup checks for a full pipe, loss is judged. */
  private endRound(now: number): void {
    // in STARTUP a lossy round is the queue only once the bandwidth stopped growing as fast: with
    // random loss and no queue in the way it keeps growing round after round, and ending startup
    // on that loss would leave the estimate at a fraction of the path, for good (20 % random loss
    // used to end it in the third round)
    const growing = this.mode === Mode.Startup && this.bw >= this.fullBw * STARTUP_LOSS_GROWTH;
    const manyLost = this.roundLost >= LOSS_MIN_SEGMENTS && this.roundLost > LOSS_THRESH * this.roundSent;
    const lossy = manyLost && !growing;
    this.lossyRounds = lossy ? this.lossyRounds + 1 : 0;
    if (this.lossyRounds >= LOSS_ROUNDS) {
      // a queue overflows: hold what is in flight under what it was, but never under one
      // bandwidth-delay product with the held ACKs (random loss does not shrink the pipe)
      const floor = this.bdp(1) + this.ackHold();
      this.inflightHi = Math.max(floor, LOSS_BETA * this.host.inflightBytes);
      if (!this.filledPipe) this.filledPipe = true;
      this.lossyRounds = 0;
    } else if (!lossy && this.mode === Mode.ProbeBw && this.inflightHi !== Infinity) {
      this.inflightHi += this.inflightHi * INFLIGHT_HI_GROWTH;
      if (this.inflightHi > this.bdp(CWND_GAIN) + this.ackHold()) this.inflightHi = Infinity;
    }
    // the share pacing makes up for is random loss: a lossy round is a queue overflowing, and
    // counting its drops would pace faster still into the queue that dropped them (on a short
    // queue, pacing a tenth above the path's rate overflows it again every round)
    if (this.roundSent > 0 && !manyLost) this.lossShare += (Math.min(1, this.roundLost / this.roundSent) - this.lossShare) * LOSS_EWMA;
    this.roundLost = 0;
    this.roundSent = 0;
    const standing = this.mode === Mode.ProbeBw && this.roundMaxBw > 0 && this.roundMinRtt > STANDING_RTT_GAIN * this.minRtt + this.host.interval;
    this.standingRounds = standing ? this.standingRounds + 1 : 0;
    if (this.standingRounds >= STANDING_ROUNDS) {
      this.bwRing.fill(0);
      this.bwRing[this.round % BW_WINDOW_ROUNDS] = this.roundMaxBw;
      this.bw = this.roundMaxBw;
      this.standingRounds = 0;
    }
    this.roundMinRtt = Infinity;
    this.roundMaxBw = 0;
    if (!this.filledPipe && !this.sampleAppLimited) {
      if (this.bw >= this.fullBw * FULL_BW_GROWTH) {
        this.fullBw = this.bw;
        this.fullBwRounds = 0;
      } else if (++this.fullBwRounds >= FULL_BW_ROUNDS) {
        this.filledPipe = true;
      }
    }
    if (this.mode === Mode.ProbeRtt && this.probeRttDone < 0 && this.host.inflightBytes <= PROBE_RTT_SEGMENTS * this.host.mss) {
      this.probeRttDone = now + PROBE_RTT_DURATION;
      this.probeRttRound = this.round;
    }
  }

  /** The state machine after each input with a sample. */
  private advance(now: number): void {
    const host = this.host;
    if (this.mode === Mode.Startup && this.filledPipe) {
      this.mode = Mode.Drain;
      this.pacingGain = DRAIN_GAIN;
      this.cwndGain = STARTUP_GAIN;
    }
    if (this.mode === Mode.Drain && host.inflightBytes <= this.bdp(1)) this.enterProbeBw(now);
    if (this.mode === Mode.ProbeBw) {
      const gain = PROBE_BW_GAINS[this.cycleIndex]!;
      const elapsed = ((now - this.cycleAt) | 0) > this.minRtt;
      const inflight = host.inflightBytes;
      // probing up lasts until the pipe holds gain × BDP (or loss); draining lasts until no more
      // than one BDP is in flight, so a queue left by a rate that fell (or by another flow) is
      // emptied, not kept standing as an average gain of 1 would
      let next = elapsed;
      if (gain > 1) next = elapsed && (inflight >= this.bdp(gain) || this.roundLost > 0 || this.inflightHi !== Infinity);
      else if (gain < 1) next = inflight <= this.bdp(1);
      if (next) {
        this.cycleIndex = (this.cycleIndex + 1) % PROBE_BW_GAINS.length;
        this.cycleAt = now;
        this.pacingGain = PROBE_BW_GAINS[this.cycleIndex]!;
      }
    }
    if (this.mode === Mode.ProbeRtt) {
      if (this.probeRttDone < 0 && host.inflightBytes <= PROBE_RTT_SEGMENTS * host.mss) {
        this.probeRttDone = now + PROBE_RTT_DURATION;
        this.probeRttRound = this.round;
      } else if (this.probeRttDone >= 0 && this.round > this.probeRttRound && ((now - this.probeRttDone) | 0) >= 0) {
        this.minRttAt = now;
        if (this.filledPipe) this.enterProbeBw(now);
        else {
          this.mode = Mode.Startup;
          this.pacingGain = this.cwndGain = STARTUP_GAIN;
        }
      }
    }
    this.setPacing();
  }

  private enterProbeBw(now: number): void {
    this.mode = Mode.ProbeBw;
    this.cwndGain = CWND_GAIN;
    // start in a cruising phase picked from the round count (deterministic, and flows that start
    // together still probe at different times)
    this.cycleIndex = 2 + (this.round % (PROBE_BW_GAINS.length - 2));
    this.cycleAt = now;
    this.pacingGain = PROBE_BW_GAINS[this.cycleIndex]!;
  }

  private enterProbeRtt(): void {
    this.mode = Mode.ProbeRtt;
    this.pacingGain = 1;
    this.probeRttDone = -1;
  }

  private setPacing(): void {
    // the delivery rate leaves out what the path lost after its bottleneck, which still took its
    // turn there, and retransmissions need their share too: pacing adds the share sent again
    // (random loss up to LOSS_THRESH; more than that is a queue overflowing, not to be fed)
    const rate = this.pacingGain * this.bw * (1 + Math.min(this.lossShare, LOSS_THRESH));
    // startup never slows down before the pipe is full (a low early sample is not the path)
    if (rate > 0 && (this.filledPipe || rate > this.pacing)) this.pacing = rate;
  }

  onFlush(fast: number, lost: number, _window: number, queued: number, now: number): void {
    this.roundLost += fast + lost;
    const host = this.host;
    // nothing waits to be sent and the limits left room: what is measured now is the application
    if (queued === 0 && host.inflightBytes < this.inflightLimit(now)) this.appLimitedUntil = Math.max(1, this.delivered + host.inflightBytes);
  }

  onSpurious(_late: number, _now: number): number {
    return 0;
  }

  rtoFloor(_now: number): number {
    return 0;
  }

  /**
   * A timeout of a segment nothing has overtaken waits while una keeps moving (as TCP restarts its
   * timer on an ACK of new data); after a long silence the model starts over.
   */
  holdTimeout(rto: number, _xmit: number, _inflight: number, unaStill: number): boolean {
    if (unaStill >= RESTART_STALL) this.reset();
    return !(unaStill < 0 || unaStill >= rto);
  }

  private reset(): void {
    this.mode = Mode.Startup;
    this.pacingGain = this.cwndGain = STARTUP_GAIN;
    this.bwRing.fill(0);
    this.bw = 0;
    this.pacing = 0;
    this.filledPipe = false;
    this.fullBw = 0;
    this.fullBwRounds = 0;
    this.inflightHi = Infinity;
    this.restart = true;
  }
}
