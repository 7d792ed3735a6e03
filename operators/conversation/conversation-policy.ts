/**
 * When a conversation's KCP core flushes, and what its writers are told: the scheduling policy
 * that `Conversation` wires to its pipelines.
 *
 * - A clock tick is a full flush; an idle core leaves the clock (sleeps) and is put back on the
 *   tick it would have had (wake), so the wire sees what an always-ticking kcp-go session sends.
 * - The flush an input asks for (packet clocking) is deferred by the core and done in the clock's
 *   next `soon` action, after every datagram at hand has been taken in.
 * - A write flushes its new segments at once (unless `writeDelay`), leaving retransmissions to
 *   the clock.
 * - With `failOnDeadLink`, a dead link ends the conversation.
 * - After `close()`, a conversation that heard its peer lingers, acknowledging only, until the
 *   peer has been quiet for three RTOs (200 ms .. 10 s in all).
 * - Writers: refused writes get `writable$`, queued `send`s are served in order, `drain`s resolve
 *   once everything is acknowledged.
 *
 * The conversation owns the pipelines and its life (closed, torn down, failed); the policy asks
 * it through `PolicyHost`.
 * @module
 */
import { Subject, type Observable } from 'rxjs';
import { KcpError } from '../../src/errors.js';
import type { DrivenKcp } from '../../src/kcp/driven-kcp.js';
import type { Sink } from '../../src/sink.js';
import type { Snmp } from '../../src/stats.js';
import { layerError } from '../layers/layer.js';
import type { Clock, ClockEntry } from './update-clock.js';

/** What the policy needs from the conversation it schedules. */
export interface PolicyHost {
  /** Closed for its user (after `close()` or an error); a linger may still go on. */
  readonly closed: boolean;
  /** The pipelines are torn down. */
  readonly down: boolean;
  /**
   * What was flushed has not gone out yet (a `rateLimit` pacer holds much of its bound): flushes
   * send ACKs only, so the core's window, not the pacer's queue, holds what waits.
   */
  readonly backlogged: boolean;
  /** Ends the conversation with an error (a dead link, a flush that threw). */
  fail(e: unknown): void;
  /** The linger after close is over: tear everything down. */
  lingerOver(): void;
}

export interface ConversationPolicyOptions {
  /** kcp-go SetWriteDelay: writes wait for the next clock tick instead of flushing at once. */
  writeDelay: boolean;
  /** End with DEAD_LINK once a segment has been sent `deadLink` times. */
  failOnDeadLink: boolean;
}

/** Bounds of the linger after `close()` (ms). */
const lingerMin = 200;
const lingerMax = 10_000;

export class ConversationPolicy {
  /**
   * Idle conversations leave the clock until input or a write (default). False keeps every
   * conversation ticking each interval as kcp-go's sessions do (for tests that compare the two).
   * @internal
   */
  static sleepWhenIdle = true;

  /** Emits when a write that was refused (window full) may be retried. */
  readonly writable$: Observable<void>;

  private readonly drained = new Subject<void>();
  /** `send` calls waiting for room in the send window, in order. */
  private readonly sendQueue: { data: Uint8Array; resolve: () => void; reject: (e: KcpError) => void }[] = [];
  /** `drain`/`end` calls waiting for every written byte to be acknowledged. */
  private drainers: { resolve: () => void; reject: (e: KcpError) => void }[] = [];
  /** Queued sends were rejected (the conversation ended before they were taken). */
  private discarded = false;
  /** A write was refused: `writable$` owes it a signal. */
  private blocked = false;
  /** Something from the peer was taken in: a close lingers to acknowledge its retransmissions. */
  private _heard = false;
  /** While lingering after close: the clock time the linger ends unless the peer speaks (-1: not lingering). */
  private lingerUntil = -1;
  private lingerQuiet = 0;
  private lingerEnd = 0;
  /** Clock time the conversation went to sleep (idle KCP), or -1 while it ticks. */
  private sleepingSince = -1;
  private readonly entry: ClockEntry;

  constructor(
    private readonly kcp: DrivenKcp,
    private readonly clock: Clock,
    /** Where the core's datagrams go. */
    private readonly sink: Sink<Uint8Array>,
    private readonly stats: Snmp,
    private readonly host: PolicyHost,
    private readonly options: ConversationPolicyOptions
  ) {
    this.writable$ = this.drained.asObservable();
    this.entry = clock.add({ flush: (now) => this.tick(now), soon: (now) => this.soon(now), fail: (e) => host.fail(layerError('flush', e)) });
  }

  // ---- writers ----------------------------------------------------------------------------

  /** Whether a write would be accepted now (kcp-go: WaitSnd < snd_wnd). */
  get writable(): boolean {
    return !this.host.closed && this.kcp.waitSnd() < this.kcp.sndWnd;
  }

  /** Takes `data` if the send window has room and no `send` waits; else marks the writer blocked. */
  offer(data: Uint8Array): boolean {
    if (this.sendQueue.length > 0 || this.kcp.waitSnd() >= this.kcp.sndWnd) {
      this.blocked = true;
      return false;
    }
    this.accept(data);
    return true;
  }

  /** Queues a refused `send`: it is taken, in order, when the window opens. */
  enqueue(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.sendQueue.push({ data, resolve, reject }));
  }

  /**
   * Nothing waits to be sent or acknowledged, and nothing was discarded: a `send` that close()
   * rejected never reaches the peer, so no later drain may say everything arrived.
   */
  get allAcknowledged(): boolean {
    return !this.discarded && this.sendQueue.length === 0 && this.kcp.waitSnd() === 0;
  }

  /**
   * Resolves once everything is acknowledged, or with the signal's reason on abort. The abort
   * listener is removed however it settles: a signal shared by many calls (one per connection, say)
   * does not collect a listener per call.
   */
  whenDrained(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal === undefined) return void this.drainers.push({ resolve, reject });
      const onAbort = () => {
        this.drainers = this.drainers.filter((d) => d !== drainer);
        reject(signal.reason);
      };
      const drainer = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: KcpError) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.drainers.push(drainer);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Settles what waits on the send side when the conversation ends. */
  rejectWaiting(err: KcpError): void {
    const sends = this.sendQueue.splice(0);
    if (sends.length > 0) this.discarded = true;
    const drainers = this.drainers;
    this.drainers = [];
    for (const s of sends) s.reject(err);
    for (const d of drainers) d.reject(err);
  }

  /** `writable$` completes (the conversation closed). */
  completeWritable(): void {
    this.drained.complete();
  }

  /** `writable$` errors (the conversation failed). */
  failWritable(err: KcpError): void {
    this.drained.error(err);
  }

  private accept(data: Uint8Array): void {
    const mss = this.kcp.mss;
    for (let off = 0; off < data.length; off += mss) this.kcp.send(data.subarray(off, Math.min(data.length, off + mss)));
    this.stats.BytesSent += data.length;
    this.wake();
    if (!this.options.writeDelay || this.kcp.waitSnd() >= this.kcp.sndWnd) {
      // DIVERGES(kcp-go): a write sends its new segments at once, as kcp-go's does, but leaves
      // retransmissions to the clock, where they are decided after the ACKs at hand are read
      if (!this.host.closed && !this.host.backlogged) this.kcp.flush(this.clock.now() >>> 0, this.sink, 'new');
    }
  }

  private checkWritable(): void {
    // queued sends first, in order, then the writable signal for plain writes
    while (this.sendQueue.length > 0 && this.writable) {
      const next = this.sendQueue.shift()!;
      this.accept(next.data);
      next.resolve();
    }
    if (this.blocked && this.writable && this.sendQueue.length === 0) {
      this.blocked = false;
      this.drained.next();
    }
    if (this.drainers.length > 0 && this.sendQueue.length === 0 && this.kcp.waitSnd() === 0) {
      const waiting = this.drainers;
      this.drainers = [];
      for (const d of waiting) d.resolve();
    }
  }

  // ---- input ------------------------------------------------------------------------------

  /** A datagram from the peer is about to reach the core: a sleeping conversation wakes. */
  wake(): void {
    const since = this.sleepingSince;
    if (since < 0 || this.host.closed) return;
    this.sleepingSince = -1;
    const interval = this.kcp.interval;
    const now = this.clock.now();
    // back on the tick it would have had had it kept ticking every interval, so what goes on the
    // wire and when is what an always-ticking conversation (kcp-go's) would send. On that cadence
    // at this very moment, the tick is still due if the clock has not run this moment's action
    // yet; if it has, that action would have flushed an always-ticking conversation before this
    // input (sending nothing: it was idle), and the next tick is an interval away
    const offGrid = (now - since) % interval;
    const next = offGrid !== 0 ? now + interval - offGrid : this.clock.lastTickAt === now ? now + interval : now;
    this.clock.at(this.entry, next);
  }

  /** The core took a datagram from the peer (before its reader is told): a linger goes on. */
  peerSpoke(): void {
    this._heard = true;
    if (this.lingerUntil >= 0) this.lingerUntil = Math.min(this.lingerEnd, this.clock.now() + this.lingerQuiet);
  }

  /**
   * The reader was told: the packet-clocked flush and the writable signal wait for the clock's
   * next action, after every datagram already received has been taken in.
   */
  inputTaken(): void {
    if (this.kcp.flushDeferred || (this.blocked && this.writable) || (this.drainers.length > 0 && this.kcp.waitSnd() === 0)) {
      this.clock.soon(this.entry);
    }
  }

  // ---- flushing ---------------------------------------------------------------------------

  /** Sends the ACKs and window probes due, nothing else; the clock's deadline is unchanged. */
  flushAcks(): void {
    if (!this.host.closed) this.kcp.flush(this.clock.now() >>> 0, this.sink, 'acks');
  }

  /** Flushes at once (as kcp-go does on Write); the clock's deadline is unchanged. */
  flushNow(): void {
    if (!this.host.closed) this.kcp.flush(this.clock.now() >>> 0, this.sink);
  }

  private soon(now: number): void {
    if (this.host.down) return;
    if (this.lingerUntil >= 0) {
      if (this.kcp.takeDeferredFlush()) this.kcp.flush(now >>> 0, this.sink, 'acks');
      return;
    }
    if (this.kcp.takeDeferredFlush()) {
      this.kcp.flush(now >>> 0, this.sink, this.host.backlogged ? 'acks' : 'full');
      if (this.failIfDead()) return;
    }
    this.checkWritable();
  }

  private tick(now: number): number {
    if (this.lingerUntil >= 0) return this.lingerTick(now);
    if (this.host.backlogged) {
      // the pacer has not sent what earlier flushes gave it: acknowledge, send nothing more yet
      this.kcp.takeDeferredFlush();
      this.kcp.flush(now >>> 0, this.sink, 'acks');
      return this.kcp.interval;
    }
    this.kcp.takeDeferredFlush(); // a full flush covers it
    const wait = this.kcp.flush(now >>> 0, this.sink);
    if (this.failIfDead()) return wait;
    this.checkWritable();
    if (ConversationPolicy.sleepWhenIdle && this.kcp.idle && !this.host.closed) {
      // nothing to flush until input or a write: stop ticking (an idle flush sends nothing)
      this.sleepingSince = now;
      return Infinity;
    }
    return wait;
  }

  /** With `failOnDeadLink`, ends the conversation with DEAD_LINK once a segment has been sent `deadLink` times. */
  private failIfDead(): boolean {
    if (!this.options.failOnDeadLink || !this.kcp.isDead) return false;
    this.host.fail(new KcpError('DEAD_LINK', `conversation ${this.kcp.conv}: peer unreachable (dead link)`, { conv: this.kcp.conv }));
    return true;
  }

  // ---- after close --------------------------------------------------------------------------

  /** Something from the peer was taken in since the conversation began. */
  get heard(): boolean {
    return this._heard;
  }

  /** True while a closed conversation still acknowledges its peer. */
  get lingering(): boolean {
    return this.lingerUntil >= 0;
  }

  /** Starts the linger of a conversation just closed: acknowledgements only, until the peer is quiet. */
  linger(): void {
    const now = this.clock.now();
    this.lingerQuiet = Math.min(lingerMax, Math.max(lingerMin, 3 * this.kcp.rxRto));
    this.lingerUntil = now + this.lingerQuiet;
    this.lingerEnd = now + lingerMax;
    this.sleepingSince = -1;
    this.clock.at(this.entry, Math.min(now + this.kcp.interval, this.lingerUntil));
  }

  /** Ends a linger now (the host tears down); nothing if not lingering. */
  finishLinger(): void {
    if (this.lingerUntil < 0) return;
    this.lingerUntil = -1;
    this.host.lingerOver();
  }

  /** Leaves the clock for good. */
  stop(): void {
    this.clock.remove(this.entry);
  }

  /** A lingering conversation's tick: acknowledgements only, until the peer has been quiet. */
  private lingerTick(now: number): number {
    if (now >= this.lingerUntil) {
      this.finishLinger();
      return Infinity;
    }
    this.kcp.takeDeferredFlush();
    this.kcp.flush(now >>> 0, this.sink, 'acks');
    return Math.max(1, Math.min(this.kcp.interval, this.lingerUntil - now));
  }
}
