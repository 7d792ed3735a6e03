/**
 * Congestion control of the KCP sender as a strategy object (docs/congestion-control.md). The core
 * keeps KCP's ARQ (what is sent again and when a segment is due); a strategy decides how much may
 * be in flight and how fast it leaves. The core tells it, at the points skywind's KCP 2.0 hooks
 * name, what happened: a segment went out (`onSent`), segments were acknowledged (`onAck`, with the
 * bytes they delivered) and an RTT sample taken (`onRtt`), an input ended (`onInput`), a flush
 * retransmitted by fast/early retransmit or by timeout and found the queue empty or not
 * (`onFlush`: the app-limited signal), and a timeout an ACK shows was not needed (`onSpurious`).
 * It asks for the window in segments (`window`), the bytes in flight allowed (`inflightLimit`) and
 * the pacing rate (`pacingRate`). A strategy owns its state and its constants.
 *
 * Pure: time is an argument (uint32 ms), nothing is scheduled here.
 * @module
 */
import { IKCP_RTO_DEF, IKCP_RTO_MAX, IKCP_THRESH_INIT, IKCP_THRESH_MIN } from './constants.js';
import { DeliveryRate } from './delivery-rate.js';

/** What a strategy may read of the core it steers (the `Kcp` itself). */
export interface CcHost {
  /** Largest segment payload (bytes). */
  readonly mss: number;
  /** Largest datagram (bytes). */
  readonly mtu: number;
  /** Flush interval (ms): how long a kcp-go receiver may hold its ACKs. */
  readonly interval: number;
  /** kcp-go's nc: 1 turns kcp-go's congestion window off. */
  readonly nc: number;
  /** kcp-go's nodelay (0, 1, 2). */
  readonly nodelay: number;
  /** The RTO floor nodelay sets (30 or 100 ms). */
  readonly rxMinrto: number;
  /** Smoothed RTT (ms, 0 before the first sample). */
  readonly rxSrtt: number;
  /** Send window (segments). */
  readonly sndWnd: number;
  /** The peer's advertised receive window (segments). */
  readonly rmtWnd: number;
  /** Payload bytes sent and not yet acknowledged. */
  readonly inflightBytes: number;
  /** snd_nxt - snd_una (segments). */
  readonly inflightSegments: number;
  /** kcp-go's `resent`: the fast-resend threshold, or 0xFFFFFFFF when fast resend is off. */
  readonly resendThreshold: number;
}

/**
 * A congestion-control strategy. One instance steers one core (create it in a `CcFactory`).
 * Hooks may be empty; the queries are asked at every flush.
 */
export interface CongestionControl {
  /** Name shown by `Kcp.cc` and in stats. */
  readonly name: string;
  /** The strategy's own window (segments), for gauges and tests; Infinity when it keeps none. */
  readonly cwnd: number;
  /** The segment window a flush may fill, given `wnd` = min(send window, peer's window). */
  window(wnd: number): number;
  /** Payload bytes allowed in flight now (Infinity: the windows alone limit). */
  inflightLimit(now: number): number;
  /**
   * Pacing rate (payload bytes per ms) new segments leave at, or Infinity for none: a flush then
   * sends everything the limits allow at once, as kcp-go does.
   */
  pacingRate(now: number): number;
  /** A PUSH segment of `bytes` payload went out (`xmit` is its transmission count, 1 the first). */
  onSent(sn: number, bytes: number, xmit: number, now: number): void;
  /**
   * `bytes` of payload were acknowledged for the first time (one selective ACK, or everything una
   * passed at once); `sn` is the newest segment among them.
   */
  onAck(sn: number, bytes: number, now: number): void;
  /** An RTT sample (ms) from the last ACK of a datagram, after the core's RTO estimator took it. */
  onRtt(rtt: number, now: number): void;
  /**
   * true: every datagram's last ACK is an RTT sample, as in kcp-go 5.6.1, even one for a segment
   * already acknowledged, whose echoed ts can be of any age (a copy the peer's FEC decoder rebuilt
   * late, a datagram the network duplicated). Otherwise (the default) only an ACK of a segment
   * still in flight is one, as TCP's RTTM rule (RFC 7323, section 4.1).
   */
  readonly rttFromEveryAck?: boolean;
  /** An input datagram has been taken in; `unaAdvanced` when it moved una. */
  onInput(now: number, unaAdvanced: boolean): void;
  /**
   * A full flush ended: `fast` segments went again by fast or early retransmit, `lost` by timeout;
   * `window` is the segment window it used; `queued` is how many segments still wait for the
   * window (0 with room left in it means the sender is application-limited).
   */
  onFlush(fast: number, lost: number, window: number, queued: number, now: number): void;
  /**
   * A retransmission by timeout turned out not needed: the original was acknowledged `late` ms
   * after it was sent. Returns an RTO the core must not go below now (0: none).
   */
  onSpurious(late: number, now: number): number;
  /** The RTO floor for the core's estimator at this sample (0: nodelay's alone). */
  rtoFloor(now: number): number;
  /**
   * Asked only for a segment due by its timer that nothing sent after it has overtaken (fastack 0):
   * true holds its timeout back. `unaStill` is how long una has not moved (ms, negative when too
   * long for int32), `inflight` the segments in the send buffer.
   */
  holdTimeout(rto: number, xmit: number, inflight: number, unaStill: number): boolean;
}

/** Makes the strategy of one core. */
export type CcFactory = (host: CcHost) => CongestionControl;

/** The strategies rxkcp ships (docs/congestion-control.md). */
export type CcName = 'adaptive' | 'kcp-go' | 'bbr';

/** kcp-go: `window`/`inflightLimit` need no more than kcp-go's own rules. */
const UNLIMITED = Infinity;

/**
 * kcp-go's congestion window (kcp.go, nc 0): slow start to ssthresh, then about one segment per
 * RTT; halved to the inflight on fast retransmit, 1 on a timeout. With nc 1 it is left alone (0).
 * uint32 arithmetic as kcp-go. Shared by the `kcp-go` and `adaptive` strategies.
 */
export class KcpGoWindow {
  cwnd = 0;
  private ssthresh = IKCP_THRESH_INIT;
  private incr = 0;

  constructor(private readonly host: CcHost) {}

  window(wnd: number): number {
    return this.host.nc === 0 ? Math.min(this.cwnd, wnd) : wnd;
  }

  /** kcp-go Input's tail: una moved, so the window grows. */
  grow(): void {
    const host = this.host;
    const rmtWnd = host.rmtWnd;
    if (host.nc !== 0 || this.cwnd >= rmtWnd) return;
    const mss = host.mss;
    if (this.cwnd < this.ssthresh) {
      this.cwnd++;
      this.incr += mss;
    } else {
      if (this.incr < mss) this.incr = mss;
      this.incr += Math.floor((mss * mss) / this.incr) + Math.floor(mss / 16);
      if ((this.cwnd + 1) * mss <= this.incr) this.cwnd = Math.ceil(this.incr / mss);
    }
    if (this.cwnd > rmtWnd) {
      this.cwnd = rmtWnd;
      this.incr = rmtWnd * mss;
    }
  }

  /** kcp-go flush's tail. `inflight` is snd_nxt - snd_una, `resend` the fast-resend threshold as uint32. */
  flushed(fast: number, lost: number, window: number, inflight: number, resend: number): void {
    const mss = this.host.mss;
    if (this.host.nc === 0) {
      if (fast > 0) {
        this.ssthresh = Math.max(Math.floor(inflight / 2), IKCP_THRESH_MIN);
        // uint32 as kcp-go: with fast resend off, resent is 0xFFFFFFFF and this is ssthresh - 1
        this.cwnd = (this.ssthresh + resend) >>> 0;
        this.incr = Math.imul(this.cwnd, mss) >>> 0;
      }
      if (lost > 0) {
        this.ssthresh = Math.max(Math.floor(window / 2), IKCP_THRESH_MIN);
        this.cwnd = 1;
        this.incr = mss;
      }
      // with nc 1 the window stays 0, as kcp-go's: turning nc off later starts it from there
      if (this.cwnd < 1) {
        this.cwnd = 1;
        this.incr = mss;
      }
    }
  }
}

/** `kcp-go`: kcp-go's rules and nothing else (docs/congestion-control.md#kcp-go). */
export class KcpGoCc implements CongestionControl {
  readonly name: string = 'kcp-go';
  readonly rttFromEveryAck: boolean = true;
  protected readonly win: KcpGoWindow;

  constructor(protected readonly host: CcHost) {
    this.win = new KcpGoWindow(host);
  }

  get cwnd(): number {
    return this.win.cwnd;
  }
  window(wnd: number): number {
    return this.win.window(wnd);
  }
  inflightLimit(_now: number): number {
    return UNLIMITED;
  }
  pacingRate(_now: number): number {
    return UNLIMITED;
  }
  onSent(_sn: number, _bytes: number, _xmit: number, _now: number): void {}
  onAck(_sn: number, _bytes: number, _now: number): void {}
  onRtt(_rtt: number, _now: number): void {}
  onInput(_now: number, unaAdvanced: boolean): void {
    if (unaAdvanced) this.win.grow();
  }
  onFlush(fast: number, lost: number, window: number, _queued: number, _now: number): void {
    this.win.flushed(fast, lost, window, this.host.inflightSegments, this.host.resendThreshold);
  }
  onSpurious(_late: number, _now: number): number {
    return 0;
  }
  rtoFloor(_now: number): number {
    return 0;
  }
  holdTimeout(_rto: number, _xmit: number, _inflight: number, _unaStill: number): boolean {
    return false;
  }
}

/** `adaptive`: in flight at most this many times the estimated bandwidth-delay product… */
const INFLIGHT_GAIN = 2;
/** …and never fewer segments than this (kcp-go's default window). */
const INFLIGHT_FLOOR = 32;
/** …with this many flush intervals allowed for a receiver holding its ACKs (kcp-go sends them once per interval). */
const ACK_DELAY_INTERVALS = 2;
/** `adaptive`: an RTO floor raised by a spurious timeout halves after this many ms without another. */
const RTO_FLOOR_DECAY = 5000;
/** `adaptive`: the in-flight cap is lifted again after this many ms without a sign of a queue. */
const CAP_RELEASE = 1000;
/**
 * `adaptive`: with more than INFLIGHT_FLOOR segments in flight, a segment's first transmission
 * that nothing sent after it has overtaken times out only after una has stood still for at least
 * this long (ms), however short its RTO.
 */
const BURST_STALL = IKCP_RTO_DEF;

/**
 * `adaptive` (docs/congestion-control.md#adaptive): kcp-go's window, plus
 * - once a queue shows itself (an RTT sample above INFLIGHT_GAIN × min RTT + the ACK delay, or a
 *   timeout shown spurious), at most about twice the measured bandwidth-delay product in flight
 *   (`DeliveryRate`), lifted CAP_RELEASE ms after the last such sign;
 * - the timer of a segment nothing has overtaken restarts whenever una moves (as TCP's on an ACK
 *   of new data), and a large burst's first transmissions wait out a BURST_STALL stall of una;
 * - a timeout an ACK shows was not needed raises an RTO floor to that ACK's delay (Eifel response),
 *   halved after RTO_FLOOR_DECAY ms without another.
 */
export class AdaptiveCc extends KcpGoCc {
  override readonly name: string = 'adaptive';
  override readonly rttFromEveryAck: boolean = false;
  private readonly rate = new DeliveryRate();
  /** Whether the in-flight cap applies (see the class comment). */
  private capped = false;
  /** When the last sign of a standing queue was seen. */
  private queueSeenAt = 0;
  /** RTO floor above rxMinrto raised by a spurious timeout, or 0; and when it was last set or halved. */
  private floor = 0;
  private floorAt = 0;

  override inflightLimit(now: number): number {
    // …once a queue has shown itself; until then (and CAP_RELEASE ms after the last sign of one)
    // the windows alone limit, as in kcp-go
    if (this.capped && ((now - this.queueSeenAt) | 0) > CAP_RELEASE) this.capped = false;
    if (!this.capped) return UNLIMITED;
    return this.rate.inflightCap(this.host.mss, ACK_DELAY_INTERVALS * this.host.interval, INFLIGHT_GAIN, INFLIGHT_FLOOR);
  }

  override onAck(_sn: number, bytes: number, now: number): void {
    this.rate.delivered(bytes, now);
  }

  override onRtt(rtt: number, now: number): void {
    const rate = this.rate;
    rate.rtt(rtt, now);
    // a sample well above the shortest: segments wait in a queue somewhere
    if (rtt > INFLIGHT_GAIN * rate.minRtt + ACK_DELAY_INTERVALS * this.host.interval) this.queueSeen(now);
  }

  override onInput(now: number, unaAdvanced: boolean): void {
    const host = this.host;
    this.rate.update(now, Math.max(host.rxSrtt, this.rate.minRtt + host.interval, 4 * host.interval));
    super.onInput(now, unaAdvanced);
  }

  /**
   * The original took `late` ms to be acknowledged, so the RTO floor is raised to that plus one
   * flush interval, and the RTO with it. The floor keeps the next stall of the same length (a busy
   * receiver, a paused event loop) from sending everything in flight again.
   */
  override onSpurious(late: number, now: number): number {
    if (late <= 0) return 0;
    const floor = Math.min(late + this.host.interval, IKCP_RTO_MAX);
    if (floor > this.floor) this.floor = floor;
    this.floorAt = now;
    this.queueSeen(now);
    return this.floor;
  }

  override rtoFloor(now: number): number {
    if (this.floor > 0 && ((now - this.floorAt) | 0) > RTO_FLOOR_DECAY) {
      this.floor = this.floor >> 1 > this.host.rxMinrto ? this.floor >> 1 : 0;
      this.floorAt = now;
    }
    return this.floor;
  }

  /**
   * As TCP restarts its retransmission timer on every ACK of new data, a segment that nothing sent
   * after it has overtaken times out only when una has also stood still for its RTO; while the
   * peer keeps acknowledging, a late segment is waiting in a queue, not lost. A large burst's first
   * transmissions wait out a longer stall of una (BURST_STALL): a receiver busy with the burst
   * acknowledges nothing until it is through.
   */
  override holdTimeout(rto: number, xmit: number, inflight: number, unaStill: number): boolean {
    const wait = xmit > 1 || inflight <= INFLIGHT_FLOOR ? rto : Math.max(rto, BURST_STALL);
    return !(unaStill < 0 || unaStill >= wait);
  }

  private queueSeen(now: number): void {
    this.capped = true;
    this.queueSeenAt = now;
  }
}
