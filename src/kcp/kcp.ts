/**
 * The KCP ARQ state machine, behaving as the newest kcp-go's kcp.go (docs/protocol.md#kcp), with
 * three deliberate changes of shape:
 * - time is an argument (`now`, uint32 ms) where kcp-go reads `currentMs()` inside `Input` and
 *   `flush`;
 * - counters go to the injected `stats`, not a global;
 * - datagrams are written to the `Sink` handed to each `flush`/`input` call, not to an output
 *   callback captured at construction.
 * @module
 */
import type { Sink } from '../sink.js';
import { Snmp } from '../stats.js';
import { readU16, readU32 } from '../wire/bytes.js';
import { mtuLimit } from '../wire/constants.js';
import {
  IKCP_ASK_SEND,
  IKCP_ASK_TELL,
  IKCP_CMD_ACK,
  IKCP_CMD_PUSH,
  IKCP_CMD_WASK,
  IKCP_CMD_WINS,
  IKCP_DEADLINK,
  IKCP_FRG_MAX,
  IKCP_INTERVAL,
  IKCP_MTU_DEF,
  IKCP_OVERHEAD,
  IKCP_PROBE_INIT,
  IKCP_PROBE_LIMIT,
  IKCP_RTO_DEF,
  IKCP_RTO_MAX,
  IKCP_RTO_MIN,
  IKCP_RTO_NDL,
  IKCP_WND_RCV,
  IKCP_WND_SND,
} from './constants.js';
import type { CcFactory, CcHost, CcName, CongestionControl } from './cc.js';
import { ccFactory } from './cc-names.js';
import { Deque } from './deque.js';
import { Segment, encodeHeader } from './segment.js';
import { copyHeldBytes, takeHeldBytes } from '../wire/slab.js';
import { DatagramWriter } from './datagram-writer.js';
import { SendScan } from './send-scan.js';

/** kcp-go `_itimediff`: `later - earlier` as a signed 32-bit number. Every sn/ts comparison goes through it. */
export function itimediff(later: number, earlier: number): number {
  return (later - earlier) | 0;
}


/**
 * What `receive` returns for an input that wants a full flush at once (kcp-go's packet clocking).
 * @internal
 */
export const INPUT_WANTS_FLUSH = 1;

const FASTACK_LOCKED = 0xffffffff; // fast/early retransmit disabled for a segment until its next RTO

/**
 * Pacing: the least a paced sender may send at once, in ms of its rate (at least two segments).
 * Drivers wake a core on whole ms, so a budget of one ms would leave the rate unreached whenever a
 * wake-up comes a little late. A wake-up later than this (a busy event loop, a timer's slack) is
 * owed the time it lost, up to one flush interval: otherwise every late timer would lower the rate
 * the strategy asked for, and on a busy machine the sender would fall far below it.
 */
const PACE_BURST_MS = 2;

export interface KcpOptions {
  /** KCP mtu: the largest datagram flush writes (bytes, 25..1500). Default 1400. */
  mtu?: number;
  /** Send window (segments). Default 32, as kcp-go. */
  sndWnd?: number;
  /** Receive window (segments). Default 32, as kcp-go. */
  rcvWnd?: number;
  /** kcp-go NoDelay(nodelay, interval, resend, nc); each applied when given. */
  nodelay?: number;
  interval?: number;
  resend?: number;
  nc?: number;
  /** Stream mode: sends coalesce into the last queued segment and carry frg = 0. */
  stream?: boolean;
  /** Flush queued ACKs right after every input that produced some. */
  ackNoDelay?: boolean;
  /** Transmissions of one segment after which the link is marked dead (`isDead`, counted in DeadLinks). Default 20. */
  deadLink?: number;
  /**
   * First sequence number of both directions (default 0, as every kcp-go peer). Both ends must agree;
   * it exists so tests and simulations can start near the 2^32 wrap.
   */
  startSn?: number;
  /**
   * The sender's congestion control (docs/congestion-control.md): the name of a strategy rxkcp
   * ships, or a factory making one per core. Either works with any peer (the receiver's side is
   * the same). `adaptive` (default) sends what kcp-go sends on a path without a queue and keeps
   * about twice the measured bandwidth-delay product in flight once a queue shows itself;
   * `kcp-go` sends exactly what kcp-go does: everything the windows allow, on kcp-go's timers.
   */
  cc?: CcName | CcFactory;
}

/**
 * What a flush sends: `full` is kcp-go's flush; `acks` sends ACKs and window probes only (queued
 * segments still move into the send buffer); `new` sends only segments never sent, leaving
 * retransmissions to the next full flush (rxkcp's writes use it).
 */
export type FlushKind = 'full' | 'acks' | 'new';

/**
 * Where an input's datagram comes from: `wire` as received, or `fec` rebuilt by the FEC decoder
 * (kcp-go's FEC input: it neither updates the remote window nor samples the RTT).
 */
export type InputSource = 'wire' | 'fec';

function checkInt(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`kcp: ${name} must be an integer, got ${String(v)}`);
  if (v < lo || v > hi) throw new RangeError(`kcp: ${name} must be ${lo}..${hi}, got ${v}`);
  return v;
}

export class Kcp {
  readonly conv: number;
  private _mtu = IKCP_MTU_DEF;
  private _mss = IKCP_MTU_DEF - IKCP_OVERHEAD;
  private state = 0;

  private _sndUna = 0;
  private _sndNxt = 0;
  private _rcvNxt = 0;

  private _rxRttvar = 0;
  private _rxSrtt = 0;
  private _rxRto = IKCP_RTO_DEF;
  private rxMinrto_ = IKCP_RTO_MIN;

  private _sndWnd = IKCP_WND_SND;
  private _rcvWnd = IKCP_WND_RCV;
  private _rmtWnd = IKCP_WND_RCV;
  private probe = 0;
  private _interval = IKCP_INTERVAL;
  private tsProbe = 0;
  private probeWait = 0;
  private deadLink = IKCP_DEADLINK;

  private _nodelay = 0;
  private fastresend = 0;
  private nocwnd = 0;
  private stream = false;
  /** The congestion-control strategy (see `KcpOptions.cc`). */
  private readonly ccs: CongestionControl;
  /** Payload bytes of the segments in snd_buf not yet acknowledged. */
  private _inflightBytes = 0;
  /**
   * Pacing budget (payload bytes, negative when overdrawn) and when it was last refilled: while
   * the strategy's pacing rate is finite, new segments leave only while it is positive, and every
   * PUSH sent is paid from it.
   */
  private paceTokens = 0;
  private paceAt = 0;
  /** The last flush left nothing queued and nothing in flight: the sender was idle since. */
  private paceIdle = true;
  /**
   * When una last moved, or a flush found nothing in flight: a strategy may restart the
   * retransmission timers from it (`CongestionControl.holdTimeout`).
   */
  private unaAdvancedAt = 0;
  /** Flush queued ACKs right after every input that produced some (kcp-go SetACKNoDelay). */
  private readonly ackNoDelay: boolean;
  /** The strategy's `rttFromEveryAck`: an ACK of a segment already acknowledged is an RTT sample. */
  private readonly rttFromEveryAck: boolean;

  private readonly sndQueue = new Deque<Segment>();
  private readonly rcvQueue = new Deque<Segment>();
  private readonly sndBuf = new Deque<Segment>();
  /** Out-of-order received segments by sn. Every key is in [rcvNxt, rcvNxt + rcvWnd). */
  private readonly rcvBuf = new Map<number, Segment>();

  private ackSn: number[] = [];
  private ackTs: number[] = [];
  private ackCount = 0;

  /** Where datagrams are assembled and how they leave (see `DatagramWriter`; `setUpFlush`). */
  private writer = new DatagramWriter(0, undefined);
  /** How much of the send buffer a flush visits (see `SendScan`; `setUpFlush`). */
  private scan = new SendScan(false);

  constructor(
    conv: number,
    options: KcpOptions = {},
    private readonly stats: Snmp = new Snmp()
  ) {
    this.conv = checkInt('conv', conv, 0, 0xffffffff);
    if (options.mtu !== undefined) checkInt('mtu', options.mtu, IKCP_OVERHEAD + 1, mtuLimit);
    if (options.sndWnd !== undefined) checkInt('sndWnd', options.sndWnd, 1, 0xffff);
    if (options.rcvWnd !== undefined) checkInt('rcvWnd', options.rcvWnd, 1, 0xffff);
    if (options.interval !== undefined) checkInt('interval', options.interval, 0, 0x7fffffff);
    if (options.deadLink !== undefined) checkInt('deadLink', options.deadLink, 1, 0x7fffffff);
    if (options.startSn !== undefined) checkInt('startSn', options.startSn, 0, 0xffffffff);
    const makeCc = ccFactory(options.cc);
    if (options.mtu !== undefined) this.setMtu(options.mtu);
    this.windowSize(options.sndWnd ?? 0, options.rcvWnd ?? 0);
    this.noDelay(options.nodelay ?? -1, options.interval ?? -1, options.resend ?? -1, options.nc ?? -1);
    this.stream = options.stream ?? false;
    this.ackNoDelay = options.ackNoDelay ?? false;
    if (options.deadLink !== undefined) this.deadLink = options.deadLink;
    if (options.startSn !== undefined) this._sndUna = this._sndNxt = this._rcvNxt = options.startSn >>> 0;
    // last: the strategy may read the settings above
    this.ccs = makeCc(this);
    this.rttFromEveryAck = this.ccs.rttFromEveryAck === true;
  }

  /**
   * How this core's flushes meet their driver (see `DatagramWriter`, `SendScan`): `headroom` bytes
   * left free in front of every datagram emitted, a `clock` re-read after each datagram goes out,
   * and whether a flush visits the whole send buffer. What is sent is decided by the state machine
   * alone. Called once, before the first flush.
   * @internal For the package's own drivers (`DrivenKcp`).
   */
  protected setUpFlush(headroom: number, clock: (() => number) | undefined, scanEveryFlush: boolean): void {
    this.writer = new DatagramWriter(headroom, clock);
    this.scan = new SendScan(scanEveryFlush);
  }

  // ---- read-only views of the state -------------------------------------------------------
  get mtu(): number { return this._mtu; }
  get mss(): number { return this._mss; }
  get interval(): number { return this._interval; }
  get sndUna(): number { return this._sndUna; }
  get sndNxt(): number { return this._sndNxt; }
  get rcvNxt(): number { return this._rcvNxt; }
  get sndWnd(): number { return this._sndWnd; }
  /** Segments waiting for the window (not yet sent). */
  get queuedSegments(): number { return this.sndQueue.length; }
  get rcvWnd(): number { return this._rcvWnd; }
  get rmtWnd(): number { return this._rmtWnd; }
  /** The strategy's own window (segments; see `CongestionControl.cwnd`). */
  get cwnd(): number { return this.ccs.cwnd; }
  /** kcp-go's nc (1: no congestion window). */
  get nc(): number { return this.nocwnd; }
  /** kcp-go's nodelay. */
  get nodelay(): number { return this._nodelay; }
  /** The RTO floor nodelay sets (ms). */
  get rxMinrto(): number { return this.rxMinrto_; }
  /** Payload bytes sent and not yet acknowledged. */
  get inflightBytes(): number { return this._inflightBytes; }
  /** snd_nxt - snd_una (segments). */
  get inflightSegments(): number { return (this._sndNxt - this._sndUna) >>> 0; }
  /** kcp-go's `resent`: the fast-resend threshold, or 0xFFFFFFFF when fast resend is off. */
  get resendThreshold(): number { return this.fastresend > 0 ? this.fastresend >>> 0 : 0xffffffff; }
  get rxRto(): number { return this._rxRto; }
  get rxSrtt(): number { return this._rxSrtt; }
  get rxRttvar(): number { return this._rxRttvar; }
  /**
   * A segment reached `deadLink` transmissions (kcp-go `state == 0xFFFFFFFF`). Sticky, as in
   * kcp-go; it ends nothing by itself: kcp-go keeps retransmitting and so does this core.
   */
  get isDead(): boolean { return this.state !== 0; }
  /**
   * Asks the peer for its window: the next flush sends a WASK, which every KCP peer (kcp-go's
   * included) answers with WINS at its next flush, whatever its windows. A liveness probe that
   * needs nothing new on the wire.
   */
  askWindow(): void { this.probe |= IKCP_ASK_SEND; }
  /** Segments queued plus in flight (kcp-go WaitSnd). */
  waitSnd(): number { return this.sndBuf.length + this.sndQueue.length; }
  /**
   * Whether a flush has nothing to do until an input, a send or a read changes that: no ACK or
   * window probe queued, nothing queued or in flight (so no retransmission timer), the peer's
   * window open (no probe timer), and nothing received waiting to be read (a read may reopen the
   * window, which a flush must tell). Segments held out of order past a gap do not count: a flush
   * sends nothing for them, and only an input (the peer's retransmission) can move them. A driver
   * may stop flushing such a KCP until one of those happens (rxkcp's conversations sleep on their
   * clock); flushing it sends nothing.
   */
  get idle(): boolean {
    return this.ackCount === 0 && this.probe === 0 && this.sndBuf.length === 0 && this.sndQueue.length === 0 && this._rmtWnd !== 0 && this.rcvQueue.length === 0;
  }
  /** Segments ready for the user (whole or partial messages). */
  get rcvQueueLength(): number { return this.rcvQueue.length; }
  /** Stream mode: sends coalesce and message boundaries carry no meaning. */
  get isStream(): boolean { return this.stream; }
  /** The name of the congestion-control strategy (see `KcpOptions.cc`). */
  get cc(): string { return this.ccs.name; }

  /**
   * Everything readable now as one array, or null (stream mode's read: kcp-go's Read hands over
   * as much as the caller's buffer holds). Message boundaries are not kept.
   */
  recvAll(): Uint8Array | null {
    const first = this.recv();
    if (first === null) return null;
    const second = this.recv();
    if (second === null) return first;
    const parts = [first, second];
    let total = first.length + second.length;
    for (let m = this.recv(); m !== null; m = this.recv()) {
      parts.push(m);
      total += m.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  // ---- user side --------------------------------------------------------------------------

  /**
   * Queues `data` for sending (copied). Returns 0, -1 for empty data, or -2 if it needs more than
   * 255 fragments (kcp-go Send).
   */
  send(data: Uint8Array): number {
    let len = data.length;
    if (len === 0) return -1;
    let off = 0;
    const mss = this._mss;
    if (this.stream) {
      const last = this.sndQueue.last();
      if (last !== undefined && last.len < mss) {
        const extend = Math.min(len, mss - last.len);
        // DIVERGES(kcp-go): a send refused for needing too many segments leaves the queue as it
        // was; kcp-go has already filled the last segment with part of it when it returns -2
        if (Math.ceil((len - extend) / mss) > IKCP_FRG_MAX) return -2;
        if (last.data.length < last.len + extend) {
          const grown = takeHeldBytes(mss);
          grown.set(last.data.subarray(0, last.len));
          last.data = grown;
        }
        last.data.set(data.subarray(0, extend), last.len);
        last.len += extend;
        off = extend;
        len -= extend;
        if (len === 0) return 0;
      }
    }
    const count = len <= mss ? 1 : Math.ceil(len / mss);
    if (count > IKCP_FRG_MAX) return -2;
    for (let i = 0; i < count; i++) {
      const size = Math.min(len, mss);
      // stream mode keeps room to coalesce later sends into this segment
      const buf = takeHeldBytes(this.stream ? mss : size);
      buf.set(data.subarray(off, off + size));
      const seg = new Segment(buf, size);
      seg.frg = this.stream ? 0 : count - i - 1;
      this.sndQueue.push(seg);
      off += size;
      len -= size;
    }
    return 0;
  }

  /**
   * Size of the next whole message, or -1 if none is complete (kcp-go PeekSize). May drop
   * fragments that can never form a message (see `wholeHead`).
   */
  peekSize(): number {
    const count = this.wholeHead();
    if (count === 0) return -1;
    let length = 0;
    for (let i = 0; i < count; i++) length += this.rcvQueue.at(i).len;
    return length;
  }

  /** Takes the next whole message (a new array, the caller's to keep), or null (kcp-go Recv). */
  recv(): Uint8Array | null {
    const fastRecover = this.rcvQueue.length >= this._rcvWnd;
    const count = this.wholeHead();
    if (count === 0) return null;
    const q = this.rcvQueue;
    let size = 0;
    for (let i = 0; i < count; i++) size += q.at(i).len;
    const out = new Uint8Array(size);
    let n = 0;
    for (let i = 0; i < count; i++) {
      const seg = q.shift()!;
      out.set(seg.data.subarray(0, seg.len), n);
      n += seg.len;
    }
    this.moveToRcvQueue();
    // the window was full and now has room: tell the peer at the next flush
    if (fastRecover && q.length < this._rcvWnd) this.probe |= IKCP_ASK_TELL;
    return out;
  }

  /**
   * How many segments the message at the head of rcv_queue has when it is whole, else 0 (the
   * queue is empty or the last fragment has not arrived).
   *
   * A sender cuts a message into fragments whose frg counts down by one to 0, so only such a run
   * is a message. kcp-go also waits for frg + 1 segments, then hands out everything up to the next
   * frg 0, or the whole queue when none has frg 0; rxkcp never delivers a run that is not a
   * message. A run that a later segment breaks (frg 1 followed by frg 1, frg 3 followed by 0) can
   * never complete: it is dropped, each segment counted in KCPInErrors, and the segment that
   * broke it starts the next message. Dropping frees room in the queue, so segments waiting in
   * rcv_buf move up, and a peer that saw a full window is told it reopened.
   * DIVERGES(kcp-go): kcp-go delivers such runs as messages.
   */
  private wholeHead(): number {
    const q = this.rcvQueue;
    for (;;) {
      const first = q.peek();
      if (first === undefined) return 0;
      const frg = first.frg;
      if (frg === 0) return 1;
      let i = 1;
      while (i <= frg && i < q.length && q.at(i).frg === frg - i) i++;
      if (i > frg) return frg + 1;
      if (i === q.length) return 0; // a well-formed start, waiting for the rest
      const wasFull = q.length >= this._rcvWnd;
      q.drop(i);
      this.stats.KCPInErrors += i;
      this.moveToRcvQueue();
      if (wasFull && q.length < this._rcvWnd) this.probe |= IKCP_ASK_TELL;
    }
  }

  // ---- tuning -----------------------------------------------------------------------------

  /** kcp-go NoDelay: each argument applied only if ≥ 0; interval clamped to 10..5000 ms. */
  noDelay(nodelay: number, interval: number, resend: number, nc: number): void {
    if (nodelay >= 0) {
      this._nodelay = nodelay;
      this.rxMinrto_ = nodelay !== 0 ? IKCP_RTO_NDL : IKCP_RTO_MIN;
    }
    if (interval >= 0) this._interval = Math.min(5000, Math.max(10, interval));
    if (resend >= 0) this.fastresend = resend;
    if (nc >= 0) this.nocwnd = nc;
  }

  /** kcp-go WndSize: values ≤ 0 are ignored. */
  windowSize(snd: number, rcv: number): void {
    if (snd > 0) this._sndWnd = snd;
    if (rcv > 0) this._rcvWnd = rcv;
  }

  /**
   * Sets the KCP mtu (largest datagram written). False for ≤ 24 (kcp-go SetMtu -1).
   * DIVERGES(kcp-go): also false above 1500, so no datagram ever exceeds kcp-go's receive buffer.
   */
  setMtu(mtu: number): boolean {
    if (!Number.isInteger(mtu) || mtu <= IKCP_OVERHEAD || mtu > mtuLimit) return false;
    this._mtu = mtu;
    this._mss = mtu - IKCP_OVERHEAD;
    return true;
  }

  // ---- input ------------------------------------------------------------------------------

  /**
   * Feeds one datagram of packed segments (kcp-go Input). Returns 0, or -1 (shorter than a header,
   * or another conv), -2 (a segment longer than the bytes left), -3 (unknown command); never
   * throws. Datagrams from `fec` (rebuilt by the FEC decoder) neither update the remote window
   * nor sample the RTT. Flushes the input triggers (una advanced, fast-retransmit threshold, a
   * datagram's worth of ACKs, ackNoDelay) are written to `out`.
   */
  input(data: Uint8Array, now: number, out: Sink<Uint8Array>, source: InputSource = 'wire'): number {
    const r = this.receive(data, now, out, source);
    if (r !== INPUT_WANTS_FLUSH) return r;
    this.flush(now, out, 'full');
    return 0;
  }

  /**
   * `input` up to its packet-clocking flush: when una advanced or a segment reached the
   * fast-retransmit threshold it returns 1 and flushes nothing, and the caller owes the core
   * `flush(now, out, 'full')` (kcp-go makes it inside Input); otherwise it writes the ACK flushes
   * the input triggers to `out` and returns what `input` returns.
   * @internal For the package's own drivers, which decide when that flush happens.
   */
  protected receive(data: Uint8Array, now: number, out: Sink<Uint8Array>, source: InputSource): number {
    if (source !== 'wire' && source !== 'fec') throw new TypeError(`kcp: input source must be 'wire' or 'fec', got ${String(source)}`);
    const regular = source === 'wire';
    const prevUna = this._sndUna;
    if (data.length < IKCP_OVERHEAD) return -1;
    let latest = 0;
    let updateRtt = false;
    let flushSegments = false;
    let inSegs = 0;
    let off = 0;
    const end = data.length;
    while (end - off >= IKCP_OVERHEAD) {
      if (readU32(data, off) !== this.conv) return -1;
      const cmd = data[off + 4]!;
      const frg = data[off + 5]!;
      const wnd = readU16(data, off + 6);
      const ts = readU32(data, off + 8);
      const sn = readU32(data, off + 12);
      const una = readU32(data, off + 16);
      const len = readU32(data, off + 20);
      off += IKCP_OVERHEAD;
      if (end - off < len) return -2;
      if (cmd < IKCP_CMD_PUSH || cmd > IKCP_CMD_WINS) return -3;

      if (regular) this._rmtWnd = wnd;
      // an ACK's own segment is looked at before una takes it away (parseAck's comment says why)
      const acked = cmd === IKCP_CMD_ACK && this.parseAck(sn, ts, now >>> 0);
      if (this.parseUna(una, now >>> 0) > 0) {
        flushSegments = true;
        this.unaAdvancedAt = now >>> 0;
      }
      this.shrinkBuf();

      if (cmd === IKCP_CMD_ACK) {
        if (this.parseFastack(sn, ts)) flushSegments = true;
        if (acked || this.rttFromEveryAck) {
          updateRtt = true;
          latest = ts;
        }
      } else if (cmd === IKCP_CMD_PUSH) {
        let repeat = true;
        if (itimediff(sn, (this._rcvNxt + this._rcvWnd) >>> 0) < 0) {
          this.ackPush(sn, ts);
          if (itimediff(sn, this._rcvNxt) >= 0) repeat = this.parseData(sn, frg, data, off, len);
        }
        if (regular && repeat) this.stats.RepeatSegs++;
      } else if (cmd === IKCP_CMD_WASK) {
        this.probe |= IKCP_ASK_TELL;
      }
      // IKCP_CMD_WINS: nothing beyond the window update above
      inSegs++;
      off += len;
    }
    this.stats.InSegs += inSegs;

    // one RTT sample per datagram, from the last ACK in it (that acknowledged a segment in flight,
    // unless the strategy takes every ACK as kcp-go does).
    // DIVERGES(kcp-go): kcp-go 5.6.1 samples the last ACK whatever it acknowledges. An ACK of a
    // segment already acknowledged can echo a transmission of any age: the peer's FEC decoder
    // rebuilds a lost datagram when the parity of its group arrives, which with little traffic
    // can be minutes later, and acknowledges the rebuilt copy with the ts it carries; so can a
    // datagram the network duplicated or held. One such sample sets the RTO to its 60 s ceiling,
    // and the timeouts of a segment lost after that (each adds the RTO) run to minutes. As TCP's
    // RTTM rule (RFC 7323, section 4.1), the default strategies measure only ACKs of new data.
    if (updateRtt && regular) {
      const rtt = itimediff(now >>> 0, latest);
      if (rtt >= 0) {
        this.updateAck(rtt, now >>> 0);
        this.ccs.onRtt(rtt, now >>> 0);
      }
    }
    this.ccs.onInput(now >>> 0, itimediff(this._sndUna, prevUna) > 0);

    // packet clocking: answer at once instead of waiting for the timer
    if (flushSegments) return INPUT_WANTS_FLUSH;
    if (this.ackCount >= Math.floor(this._mtu / IKCP_OVERHEAD)) this.flush(now, out, 'acks');
    else if (this.ackNoDelay && this.ackCount > 0) this.flush(now, out, 'acks');
    return 0;
  }

  private updateAck(rtt: number, now: number): void {
    // RFC 6298 as kcp-go does it: int32 arithmetic, arithmetic shifts, updated srtt in the test
    if (this._rxSrtt === 0) {
      this._rxSrtt = rtt;
      this._rxRttvar = rtt >> 1;
    } else {
      let delta = (rtt - this._rxSrtt) | 0;
      this._rxSrtt = (this._rxSrtt + (delta >> 3)) | 0;
      if (delta < 0) delta = -delta;
      if (rtt < this._rxSrtt - this._rxRttvar) {
        // a sample below the usual range moves rttvar with 1/8 of the usual weight
        this._rxRttvar = (this._rxRttvar + ((delta - this._rxRttvar) >> 5)) | 0;
      } else {
        this._rxRttvar = (this._rxRttvar + ((delta - this._rxRttvar) >> 2)) | 0;
      }
    }
    const rto = (this._rxSrtt >>> 0) + Math.max(this._interval, (this._rxRttvar << 2) >>> 0);
    this._rxRto = Math.min(Math.max(this.rxMinrto_, this.ccs.rtoFloor(now), rto), IKCP_RTO_MAX);
  }

  private shrinkBuf(): void {
    const first = this.sndBuf.peek();
    this._sndUna = first !== undefined ? first.sn : this._sndNxt;
  }

  /**
   * Marks the acknowledged segment. The ACK echoes the ts of the transmission it answers: when
   * that is earlier than the segment's last transmission, the segment had arrived and sending it
   * again was not needed (Eifel detection, RFC 3522), counted in SpuriousRetrans (nothing is
   * undone). Called before una is applied, so the segment is still there to compare; marking one
   * that una then removes changes nothing. Returns whether the segment was in flight (the ACK
   * acknowledged new data).
   */
  private parseAck(sn: number, ts: number, now: number): boolean {
    if (itimediff(sn, this._sndUna) < 0 || itimediff(sn, this._sndNxt) >= 0) return false;
    const buf = this.sndBuf;
    for (let i = 0, n = buf.length; i < n; i++) {
      const seg = buf.at(i);
      if (sn === seg.sn) {
        if (seg.acked) break;
        if (seg.xmit > 1 && itimediff(ts, seg.ts) < 0) {
          this.stats.SpuriousRetrans++;
          // the Eifel response is to a timeout (a fast or early retransmission locks fastack)
          if (seg.fastack !== FASTACK_LOCKED) {
            const floor = this.ccs.onSpurious(itimediff(now, ts), now);
            if (this._rxRto < floor) this._rxRto = floor;
          }
        }
        this._inflightBytes -= seg.len;
        this.ccs.onAck(sn, seg.len, now);
        // marked in place; it leaves snd_buf when una passes it
        this.scan.left(seg.resendts);
        seg.acked = true;
        seg.data = EMPTY;
        seg.len = 0;
        return true;
      }
      if (itimediff(sn, seg.sn) < 0) break;
    }
    return false;
  }

  /** Counts an out-of-order ACK against earlier segments; true when one reached the fast-resend threshold. */
  private parseFastack(sn: number, ts: number): boolean {
    if (itimediff(sn, this._sndUna) < 0 || itimediff(sn, this._sndNxt) >= 0) return false;
    const buf = this.sndBuf;
    const threshold = this.fastresend >>> 0;
    let reached = false;
    for (let i = 0, n = buf.length; i < n; i++) {
      const seg = buf.at(i);
      if (itimediff(sn, seg.sn) < 0) break;
      // only segments sent no later than the acked one count (kcp-go's "conserve" rule)
      if (sn !== seg.sn && itimediff(seg.ts, ts) <= 0 && seg.fastack !== FASTACK_LOCKED) {
        seg.fastack++;
        this.scan.counted();
        if (seg.fastack >= threshold) reached = true;
      }
    }
    return reached;
  }

  /**
   * Drops segments below `una`, and the acknowledged ones that then lead the buffer; returns how
   * many.
   *
   * DIVERGES(kcp-go): kcp-go 5.6.1 leaves a selectively acknowledged segment in snd_buf until a
   * una passes it. A receiver whose queue is full acknowledges with una below the segment; if the
   * window update that carries una further is lost, the receiver has nothing more to say, and a
   * kcp-go sender keeps counting the segment in WaitSnd for ever, holding its place in the send
   * window (with a window of one segment, nothing more is ever sent). The peer has the segment
   * (an ACK is only sent for one stored or already delivered), so rxkcp lets una pass it: a
   * drain or end() resolves, and the window moves on.
   */
  private parseUna(una: number, now: number): number {
    const buf = this.sndBuf;
    let count = 0;
    let bytes = 0;
    let newest = 0;
    while (buf.length > count) {
      const seg = buf.at(count);
      if (itimediff(una, seg.sn) > 0) {
        if (!seg.acked) {
          bytes += seg.len;
          newest = seg.sn;
          this.scan.left(seg.resendts);
        }
      } else if (!seg.acked) break;
      count++;
    }
    if (bytes > 0) {
      this._inflightBytes -= bytes;
      this.ccs.onAck(newest, bytes, now);
    }
    if (count > 0) buf.drop(count);
    return count;
  }

  private ackPush(sn: number, ts: number): void {
    this.ackSn[this.ackCount] = sn;
    this.ackTs[this.ackCount] = ts;
    this.ackCount++;
  }

  /** Stores a PUSH payload; returns true if it was a repeat (outside the window or already held). */
  private parseData(sn: number, frg: number, data: Uint8Array, off: number, len: number): boolean {
    if (itimediff(sn, (this._rcvNxt + this._rcvWnd) >>> 0) >= 0 || itimediff(sn, this._rcvNxt) < 0) return true;
    let repeat = true;
    if (!this.rcvBuf.has(sn)) {
      const seg = new Segment(copyHeldBytes(data, off, off + len));
      seg.sn = sn;
      seg.frg = frg;
      this.rcvBuf.set(sn, seg);
      repeat = false;
    }
    this.moveToRcvQueue();
    return repeat;
  }

  private moveToRcvQueue(): void {
    while (this.rcvQueue.length < this._rcvWnd) {
      const seg = this.rcvBuf.get(this._rcvNxt);
      if (seg === undefined) break;
      this.rcvBuf.delete(this._rcvNxt);
      this.rcvQueue.push(seg);
      this._rcvNxt = (this._rcvNxt + 1) >>> 0;
    }
  }

  private wndUnused(): number {
    const free = this._rcvWnd - this.rcvQueue.length;
    return free > 0 ? free & 0xffff : 0;
  }

  // ---- output -----------------------------------------------------------------------------

  /**
   * Writes what is due to `out` (kcp-go flush): ACKs, window probes, then new and retransmitted
   * PUSH segments, packed up to the mtu; `kind` narrows that (see `FlushKind`). Returns how many ms
   * until it wants to run again.
   */
  flush(now: number, out: Sink<Uint8Array>, kind: FlushKind = 'full'): number {
    if (kind !== 'full' && kind !== 'acks' && kind !== 'new') throw new TypeError(`kcp: flush kind must be 'full', 'acks' or 'new', got ${String(kind)}`);
    now = now >>> 0;
    const stats = this.stats;
    const conv = this.conv;
    const wnd = this.wndUnused();
    const una = this._rcvNxt;
    const w = this.writer;
    const mtu = this._mtu;
    w.len = 0;
    let outSegs = 0;

    // 1. ACKs; ones below rcv_nxt are dropped as jitter, except the last
    let lastSn = 0;
    let lastTs = 0;
    for (let i = 0, n = this.ackCount; i < n; i++) {
      w.makeSpace(IKCP_OVERHEAD, mtu, out);
      const sn = this.ackSn[i]!;
      if (itimediff(sn, this._rcvNxt) >= 0 || i === n - 1) {
        lastSn = sn;
        lastTs = this.ackTs[i]!;
        w.len = encodeHeader(w.buffer, w.len, conv, IKCP_CMD_ACK, 0, wnd, lastTs, lastSn, una, 0);
        outSegs++;
      }
    }
    this.ackCount = 0;

    // 2. zero-window probe timer
    if (this._rmtWnd === 0) {
      if (this.probeWait === 0) {
        this.probeWait = IKCP_PROBE_INIT;
        this.tsProbe = (now + this.probeWait) >>> 0;
      } else if (itimediff(now, this.tsProbe) >= 0) {
        if (this.probeWait < IKCP_PROBE_INIT) this.probeWait = IKCP_PROBE_INIT;
        this.probeWait += Math.floor(this.probeWait / 2);
        if (this.probeWait > IKCP_PROBE_LIMIT) this.probeWait = IKCP_PROBE_LIMIT;
        this.tsProbe = (now + this.probeWait) >>> 0;
        this.probe |= IKCP_ASK_SEND;
      }
    } else {
      this.tsProbe = 0;
      this.probeWait = 0;
    }

    // 3. WASK / WINS carry the sn and ts of the last ACK written
    if (this.probe & IKCP_ASK_SEND) {
      w.makeSpace(IKCP_OVERHEAD, mtu, out);
      w.len = encodeHeader(w.buffer, w.len, conv, IKCP_CMD_WASK, 0, wnd, lastTs, lastSn, una, 0);
      outSegs++;
    }
    if (this.probe & IKCP_ASK_TELL) {
      w.makeSpace(IKCP_OVERHEAD, mtu, out);
      w.len = encodeHeader(w.buffer, w.len, conv, IKCP_CMD_WINS, 0, wnd, lastTs, lastSn, una, 0);
      outSegs++;
    }
    this.probe = 0;

    // 4. move segments from the queue into the window
    const ccs = this.ccs;
    const cwndEff = ccs.window(Math.min(this._sndWnd, this._rmtWnd));
    let newSegs = 0;
    const limit = (this._sndUna + cwndEff) >>> 0;
    // no more bytes in flight than the strategy allows
    const cap = ccs.inflightLimit(now);
    // and, when it paces, no more new bytes than the pacing budget holds
    const pace = ccs.pacingRate(now);
    const paced = pace !== Infinity;
    let budget = Infinity;
    if (paced) {
      const elapsed = itimediff(now, this.paceAt);
      // a wake-up that came late is owed the time it lost, up to one flush interval; a sender that
      // was idle (nothing queued, nothing in flight) is owed nothing, however long ago its last
      // flush was, so its budget does not depend on how often an idle core was woken
      const owed = this.paceIdle ? 0 : Math.min(elapsed, this._interval);
      const burst = Math.max(2 * this._mss, pace * Math.max(PACE_BURST_MS, owed));
      if (elapsed > 0) this.paceTokens += elapsed * pace;
      if (this.paceTokens > burst) this.paceTokens = burst;
      this.paceAt = now;
      // an ACK-only flush sends no PUSH: it leaves new segments to a flush that pays for them
      budget = kind === 'acks' ? 0 : this.paceTokens;
    }
    // nothing was in flight: the retransmission timers start now (see unaAdvancedAt)
    if (this.sndBuf.length === 0) this.unaAdvancedAt = now;
    while (itimediff(this._sndNxt, limit) < 0 && this.sndQueue.length > 0 && this._inflightBytes < cap && budget > 0) {
      const seg = this.sndQueue.shift()!;
      this._inflightBytes += seg.len;
      budget -= seg.len;
      seg.conv = conv;
      seg.cmd = IKCP_CMD_PUSH;
      seg.sn = this._sndNxt;
      this._sndNxt = (this._sndNxt + 1) >>> 0;
      this.sndBuf.push(seg);
      newSegs++;
    }

    if (kind === 'acks') {
      w.emit(out);
      stats.OutSegs += outSegs;
      this.storeGauges();
      return this._interval;
    }

    // 5. transmit: new, fast retransmit, early retransmit, RTO; first matching rule wins
    const resent = this.fastresend > 0 ? this.fastresend >>> 0 : 0xffffffff;
    const rxRto = this._rxRto;
    let nextUpdate = this._interval;
    let change = 0;
    let lost = 0;
    let fast = 0;
    let early = 0;
    const items = this.sndBuf.items;
    const head = this.sndBuf.head;
    const n = items.length;
    // DIVERGES(kcp-go): when no segment can be due for a retransmission, only the unsent tail is
    // visited (`SendScan`); kcp-go scans the whole window on every flush. What is sent, and the
    // returned wait, are the same. With nothing in flight kcp-go returns interval.
    let start = head;
    const quiet = this.scan.quiet(now, kind, n !== head);
    if (quiet) {
      start = n;
      while (start > head && items[start - 1]!.xmit === 0) start--;
      const due = this.scan.due(now);
      if (due < nextUpdate) nextUpdate = due;
    }
    let minResend = 0;
    let haveMin = false;
    let pending = false;
    w.mark();
    for (let i = start; i < n; i++) {
      const seg = items[i]!;
      if (seg.acked) continue;
      let needsend = false;
      if (seg.xmit === 0) {
        needsend = true;
        seg.rto = rxRto;
        seg.resendts = (now + seg.rto) >>> 0;
      } else if (seg.fastack >= resent && seg.fastack !== FASTACK_LOCKED) {
        needsend = true;
        seg.fastack = FASTACK_LOCKED;
        seg.rto = rxRto;
        seg.resendts = (now + seg.rto) >>> 0;
        change++;
        fast++;
      } else if (seg.fastack > 0 && seg.fastack !== FASTACK_LOCKED && newSegs === 0) {
        needsend = true;
        seg.fastack = FASTACK_LOCKED;
        seg.rto = rxRto;
        seg.resendts = (now + seg.rto) >>> 0;
        change++;
        early++;
      } else if (itimediff(now, seg.resendts) >= 0 && (seg.fastack !== 0 || !ccs.holdTimeout(seg.rto, seg.xmit, n - head, itimediff(now, this.unaAdvancedAt)))) {
        // a segment that nothing sent after it has overtaken (fastack 0) may be held by the
        // strategy (adaptive restarts its timer whenever una moves); one that was overtaken is
        // likely lost: kcp-go's timer
        needsend = true;
        seg.rto += this._nodelay === 0 ? rxRto : rxRto >>> 1;
        seg.fastack = 0;
        seg.resendts = (now + seg.rto) >>> 0;
        lost++;
      }

      if (needsend) {
        const len = seg.len;
        w.makeSpace(IKCP_OVERHEAD + len, mtu, out);
        const left = w.stamp();
        if (left >= 0) {
          // DIVERGES(kcp-go): a datagram just went out through a synchronous sink, which took real
          // time; this segment is stamped with the time it actually leaves, so its RTO starts
          // then and the peer's echo of ts measures the path, not this flush's length
          now = left;
          seg.resendts = (now + seg.rto) >>> 0;
        }
        seg.xmit++;
        seg.ts = now;
        if (paced) this.paceTokens -= len;
        ccs.onSent(seg.sn, len, seg.xmit, now);
        seg.wnd = wnd;
        seg.una = una;
        const b = w.buffer;
        let p = encodeHeader(b, w.len, conv, IKCP_CMD_PUSH, seg.frg, wnd, now, seg.sn, una, len);
        if (len > 0) {
          b.set(len === seg.data.length ? seg.data : seg.data.subarray(0, len), p);
          p += len;
        }
        w.len = p;
        outSegs++;
        if (seg.xmit >= this.deadLink && this.state === 0) {
          // kcp-go marks its state field here and nothing reads it: its session goes on
          // retransmitting. The mark is kept (isDead) and counted once; a driver decides.
          this.state = 0xffffffff;
          stats.DeadLinks++;
        }
      }

      const due = itimediff(seg.resendts, now);
      if (due > 0 && due < nextUpdate) nextUpdate = due;
      if (!haveMin || itimediff(seg.resendts, minResend) < 0) {
        minResend = seg.resendts;
        haveMin = true;
      }
      if (seg.fastack > 0 && seg.fastack !== FASTACK_LOCKED) pending = true;
    }
    this.scan.record(quiet, minResend, haveMin, pending);
    w.emit(out);

    // 6. counters and congestion control
    stats.OutSegs += outSegs;
    if (lost + fast + early > 0) {
      stats.RetransSegs += lost + fast + early;
      stats.LostSegs += lost;
      stats.FastRetransSegs += fast;
      stats.EarlyRetransSegs += early;
    }
    ccs.onFlush(change, lost, cwndEff, this.sndQueue.length, now);
    this.paceIdle = this.sndQueue.length === 0 && this.sndBuf.length === 0;
    if (paced && this.sndQueue.length > 0 && this.paceTokens <= 0) {
      // new segments wait for the budget: run again when it holds some
      const wait = Math.max(1, Math.ceil(-this.paceTokens / pace));
      if (wait < nextUpdate) nextUpdate = wait;
    }
    this.storeGauges();
    return nextUpdate;
  }

  private storeGauges(): void {
    this.stats.RingBufferSndQueue = this.sndQueue.length;
    this.stats.RingBufferRcvQueue = this.rcvQueue.length;
    this.stats.RingBufferSndBuffer = this.sndBuf.length;
  }
}

const EMPTY = new Uint8Array(0);
