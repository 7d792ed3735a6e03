/**
 * A whole KCP conversation assembled from the layer operators, transport-agnostic: datagrams in
 * through `input`, finished datagrams out on `datagrams$`, bytes in through `write`, bytes out on
 * `data$`. The UDP sessions of `rxkcp/io` bind one to a socket; tests bind two to a virtual link.
 *
 *     inbound:  input ─▶ decrypt ─▶ crcCheck ─▶ fecDecode ─▶ kcpInput ─▶ (reassemble) ─▶ data$
 *     outbound: write ─▶ Kcp ─▶ clock/packet-clocked flush ─▶ fecEncode ─▶ crcSeal ─▶ encrypt ─▶ pace ─▶ datagrams$
 *
 * A user operator goes between any two layers through `layers` (see `LayerSlot`). Without one
 * (and without `rateLimit`), the layers' steps are called directly, fused into plain calls, and no
 * Subject or subscriber stands between layers; with one, the layer operators made of the same
 * steps are piped (conversation-chain.ts). The conversation
 * registers with one shared `Clock`; pass the same clock to every conversation of a process.
 * When the core flushes (clock ticks, sleeping while idle, packet clocking, the linger after
 * close) and what writers are told is `ConversationPolicy`'s (conversation-policy.ts); this class
 * wires the layers and holds the public API.
 * @module
 */
import { asyncScheduler, Observable, Subject, type OperatorFunction, type SchedulerLike, type Subscriber } from 'rxjs';
import { createCrypt, cryptHeaderSizeOf, cryptTrailerSizeOf, type PacketCrypt } from '../../src/crypt/crypt.js';
import { KcpError } from '../../src/errors.js';
import { assertFecOptions, type FecOptions } from '../../src/fec/fec-options.js';
import { encodeOOB } from '../../src/fec/fec-packet.js';
import { DrivenKcp } from '../../src/kcp/driven-kcp.js';
import type { Kcp, KcpOptions } from '../../src/kcp/kcp.js';
import type { Sink } from '../../src/sink.js';
import { Snmp } from '../../src/stats.js';
import { fecHeaderSizePlus2 } from '../../src/wire/constants.js';
import { readOneByOne } from '../adapters/async-iteration.js';
import { FusedChain, PipedChain, type Chain, type ChainHost } from './conversation-chain.js';
import { layerError } from '../layers/layer.js';
import { assertOptions } from './options.js';
import { defaultPaceMaxQueue, type PaceBacklog } from '../layers/pace.js';
import { readReady } from '../layers/reassemble.js';
import { ConversationPolicy, type PolicyHost } from './conversation-policy.js';
import { Clock } from './update-clock.js';

/** Places where a user operator can sit, named after the layer it follows or precedes. */
export type LayerSlot =
  | 'afterDecrypt'
  | 'afterCrcCheck'
  | 'afterFecDecode'
  | 'beforeFecEncode'
  | 'afterFecEncode'
  | 'afterCrcSeal'
  | 'afterEncrypt';

export interface ConversationOptions {
  /** Conversation id; both ends must use the same. */
  conv: number;
  /** Packet crypto (default: none, kcp-go's `block == nil`). */
  crypt?: PacketCrypt;
  /** FEC geometry to send with and expect (null: none sent; a peer's FEC is still decoded, adapting to its geometry). */
  fec?: FecOptions | null;
  /** Largest UDP payload (bytes, 50..1500, default 1400); the KCP mtu is this less the headers. */
  mtu?: number;
  /** Windows, nodelay parameters, stream mode, ackNoDelay, deadLink. */
  kcp?: Omit<KcpOptions, 'mtu'>;
  /** kcp-go SetWriteDelay: writes wait for the next clock tick instead of flushing at once. */
  writeDelay?: boolean;
  /** Bytes per second to pace sending at (kcp-go SetRateLimit); absent = unpaced. */
  rateLimit?: number;
  /** The shared clock (default: a new one on `scheduler`). */
  clock?: Clock;
  /** Used when no clock is given (default asyncScheduler). */
  scheduler?: SchedulerLike;
  /** Counters (default: a new Snmp). */
  stats?: Snmp;
  /** User operators to insert between layers. */
  layers?: Partial<Record<LayerSlot, OperatorFunction<Uint8Array, Uint8Array>>>;
  /** Receives OOB payloads (kcp-go type 0xF3). */
  onOob?: (payload: Uint8Array) => void;
  /** AEAD only: drop datagrams whose nonce was among the last this many (see `ReplayWindow`). */
  antiReplay?: number;
  /**
   * End with a `DEAD_LINK` error once a segment has been sent `kcp.deadLink` times. Default false,
   * as kcp-go: it marks the link dead (counted here in `DeadLinks`) and keeps retransmitting, so
   * an outage is ridden through and a gone peer is left to an idle timeout.
   */
  failOnDeadLink?: boolean;
}

const SLOTS: readonly LayerSlot[] = ['afterDecrypt', 'afterCrcCheck', 'afterFecDecode', 'beforeFecEncode', 'afterFecEncode', 'afterCrcSeal', 'afterEncrypt'];

/**
 * The KCP mtu for a UDP mtu and framing (docs/protocol.md#mtu): headers come out of the datagram
 * budget.
 */
export function kcpMtuFor(mtu: number, crypt: PacketCrypt, fec: FecOptions | null): number {
  return mtu - cryptHeaderSizeOf(crypt) - cryptTrailerSizeOf(crypt) - (fec ? fecHeaderSizePlus2 : 0);
}

export class Conversation {
  readonly kcp: Kcp;
  readonly stats: Snmp;
  readonly clock: Clock;
  readonly crypt: PacketCrypt;
  /**
   * Finished datagrams to put on the wire. Hot: subscribe before the first write or input. Each is
   * the subscriber's to keep; like Node's pooled Buffers it may be a view into a larger shared
   * allocation (`byteOffset` is not 0), so read it through its own bounds, never its whole `buffer`.
   */
  readonly datagrams$: Observable<Uint8Array>;
  /**
   * Received data: one emission per message (stream mode: per chunk), each a new array. Reading is
   * what opens the window: while nothing subscribes, data waits in the core, and unsubscribing
   * pauses reading without losing anything. One reader at a time: a second subscriber while one is
   * active gets a `KcpError` 'READER_BUSY' (use `share()` to fan out). Errors with a `KcpError`
   * when the conversation cannot go on; completes after `close()`.
   */
  readonly data$: Observable<Uint8Array>;
  /** Emits when a write that was refused (window full) may be retried. */
  readonly writable$: Observable<void>;
  /**
   * OOB payloads received (kcp-go type 0xF3: unreliable, unordered, beside the stream), as they
   * arrive; hot. Completes when the conversation ends. `onOob` receives the same.
   */
  readonly oob$: Observable<Uint8Array>;
  private readonly oobIn = new Subject<Uint8Array>();

  /** The layers, fused or piped (conversation-chain.ts): where datagrams enter and the core's output goes. */
  private readonly chain: Chain;
  private readonly onOob: ((payload: Uint8Array) => void) | undefined;
  private readonly fec: FecOptions | null;
  private readonly outbound = new Subject<Uint8Array>();
  /** What the `rateLimit` pacer holds: the core flushes only ACKs while it holds half its bound. */
  private readonly paceBacklog: PaceBacklog = { bytes: 0, dropped: 0 };
  /** The one `data$` subscriber (see `data$`), told after every input and when the conversation ends. */
  private reader: Subscriber<Uint8Array> | null = null;
  /** When the core flushes and what writers are told (see conversation-policy.ts). */
  private readonly policy: ConversationPolicy;
  /** data$ has a reader (one at a time). */
  private reading = false;
  /** `end()` was called: no more writes. */
  private ending = false;
  private readonly kcpSink: Sink<Uint8Array>;
  /** Bit i: a user operator sits in SLOTS[i]. */
  private readonly layerMask: number;
  private _closed = false;
  /** The pipelines are torn down and the clock entry removed (after close's linger, or at once). */
  private down = false;
  private _error: KcpError | null = null;
  /** Set by `abandon`: what pending and later writes reject with. */
  private abandoned: KcpError | null = null;

  constructor(options: ConversationOptions) {
    // the same rules and words as dial and Listener.listen (see options.ts)
    const { conv, mtu: udpMtu, writeDelay, rateLimit, antiReplay, failOnDeadLink, onOob } = options;
    assertOptions('conversation', { conv, mtu: udpMtu, writeDelay, rateLimit, antiReplay, failOnDeadLink, onOob, ...options.kcp });
    const mtu = udpMtu ?? 1400;
    const fec = options.fec ?? null;
    if (fec !== null) assertFecOptions(fec);
    for (const k of Object.keys(options.layers ?? {})) {
      if (!SLOTS.includes(k as LayerSlot)) throw new RangeError(`conversation: unknown layer slot ${k}`);
    }
    this.crypt = options.crypt ?? createCrypt('null', new Uint8Array(0));
    this.fec = fec;
    this.stats = options.stats ?? new Snmp();
    this.clock = options.clock ?? new Clock(options.scheduler ?? asyncScheduler);
    const scheduler = this.clock.scheduler;
    const kcpMtu = kcpMtuFor(mtu, this.crypt, fec);
    if (kcpMtu <= 24) throw new RangeError(`conversation: mtu ${mtu} leaves no room for KCP after the headers`);
    // deferFlush: replies to input go out once the datagrams at hand are taken (ConversationPolicy.inputTaken)
    // headroom: FEC and CRC/nonce headers are written in front of the KCP datagram where no user layer has seen it
    const driven = new DrivenKcp(options.conv, { ...options.kcp, mtu: kcpMtu }, { clock: () => scheduler.now(), deferFlush: true, headroom: mtu - kcpMtu - cryptTrailerSizeOf(this.crypt) }, this.stats);
    this.kcp = driven;
    let mask = 0;
    for (const k of Object.keys(options.layers ?? {})) mask |= 1 << SLOTS.indexOf(k as LayerSlot);
    this.layerMask = mask;
    this.onOob = onOob;
    const host: ChainHost = {
      isDown: () => this.down,
      fail: (e) => this.fail(e),
      wake: () => this.policy.wake(),
      took: () => {
        this.policy.peerSpoke();
        this.readTo(this.reader);
        this.policy.inputTaken();
      },
      oob: (p) => this.oobReceived(p),
      emit: (dg) => this.outbound.next(dg),
    };
    const chainOptions = { crypt: this.crypt, fec, stats: this.stats, kcp: this.kcp, scheduler, antiReplay, layers: options.layers, rateLimit: options.rateLimit, paceBacklog: this.paceBacklog };
    this.chain = mask === 0 && options.rateLimit === undefined ? new FusedChain(chainOptions, host) : new PipedChain(chainOptions, host);
    this.kcpSink = this.chain.kcp;

    this.datagrams$ = this.outbound.asObservable();
    const kcp = driven;
    const stats = this.stats;
    // the subscriber reads what `reassemble` would (see `readTo`), first what arrived before it
    // subscribed (even after close), then after every input
    this.data$ = new Observable<Uint8Array>((s) => {
      if (this.reading) {
        s.error(new KcpError('READER_BUSY', `conversation ${kcp.conv}: data$ already has a reader (one at a time: share it with share() to fan out)`, { conv: kcp.conv }));
        return undefined;
      }
      this.reading = true;
      s.add(() => {
        this.reading = false;
        if (this.reader === s) this.reader = null;
      });
      if (this._error || this._closed) {
        // what arrived before the end stays readable, then the end
        this.readTo(s);
        if (this._error) s.error(this._error);
        else s.complete();
        return undefined;
      }
      // listen for the end first: a reader that closes the conversation inside its first next
      // must see data$ complete there and then, not read on
      this.reader = s;
      this.readTo(s);
      return undefined;
    });
    this.policy = new ConversationPolicy(kcp, this.clock, this.kcpSink, stats, new Host(this, host, () => this.lingerOver()), {
      writeDelay: options.writeDelay ?? false,
      failOnDeadLink: options.failOnDeadLink ?? false,
    });
    this.writable$ = this.policy.writable$;
    this.oob$ = this.oobIn.asObservable();
  }

  /** True after `close()` or a fatal error. */
  get closed(): boolean {
    return this._closed;
  }

  /** Whether `write` would accept data now (kcp-go: WaitSnd < snd_wnd). */
  get writable(): boolean {
    return this.policy.writable;
  }

  /** Segments queued or in flight and not yet acknowledged (kcp-go `WaitSnd`); 0 once all are acknowledged. */
  waitSnd(): number {
    return this.kcp.waitSnd();
  }

  /**
   * `for await (const m of conversation)`: `data$` one message at a time, reading only while the
   * loop asks for the next; `break` stops reading with nothing taken.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return readOneByOne(this.data$);
  }

  /** Feeds one datagram from the wire. Ignored after close. Never throws on its content. */
  input(datagram: Uint8Array): void {
    if (this.down) return;
    this.chain.input(datagram);
  }

  /**
   * Feeds a body already decrypted and checked (what a listener does: kcp-go decrypts before it
   * demultiplexes, with one cipher for all sessions). Enters after `crcCheck`.
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  inputBody(body: Uint8Array): void {
    if (this.down) return;
    this.chain.inputBody(body);
  }

  /**
   * Feeds a datagram already decrypted (`framed` crypts: in place, nonce and CRC still in front;
   * AEAD: the body), as `decrypt` emits it: it passes the `afterDecrypt` layer and `crcCheck`. A listener
   * uses it for sessions with an `afterDecrypt` layer.
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  inputDecrypted(datagram: Uint8Array): void {
    if (this.down) return;
    this.chain.inputDecrypted(datagram);
  }

  /** Whether a user operator sits in `slot`. */
  hasLayer(slot: LayerSlot): boolean {
    return (this.layerMask & (1 << SLOTS.indexOf(slot))) !== 0;
  }

  /** Sends an OOB message (kcp-go type 0xF3): unreliable, unordered, needs FEC configured. */
  sendOob(payload: Uint8Array): void {
    if (this._error) throw this._error;
    if (this._closed) throw new KcpError('CLOSED', 'sendOob after close', { conv: this.kcp.conv });
    if (!this.fec) throw new RangeError('conversation: OOB requires FEC to be enabled');
    if (4 + payload.length > this.kcp.mtu) throw new RangeError(`conversation: OOB payload too large (max ${this.kcp.mtu - 4})`);
    this.chain.sendOob(encodeOOB(payload, this.kcp.conv));
  }

  /**
   * Queues bytes to send, cut into mss-sized pieces as kcp-go's WriteBuffers does. Returns false
   * (accepting nothing) while the send queue is at the send window or earlier `send` calls still
   * wait: then wait for `writable$`, or use `send`, which cannot drop. Throws a `KcpError`
   * ('CLOSED') after `close()` or `end()`.
   */
  write(data: Uint8Array): boolean {
    this.assertWritable('write');
    return this.policy.offer(data);
  }

  /**
   * Queues bytes to send, waiting for room in the send window when it is full: resolves once the
   * bytes are accepted (not yet acknowledged: see `drain`), rejects with the `KcpError` that ends
   * the conversation first. Calls are served in order, before any later `write`. Keep `data`
   * unchanged until the promise settles.
   */
  send(data: Uint8Array): Promise<void> {
    try {
      if (this.write(data)) return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.policy.enqueue(data);
  }

  /**
   * Resolves when everything written so far has been acknowledged by the peer (waitSnd is 0),
   * rejects with the `KcpError` that ends the conversation first, or with the signal's reason.
   * KCP has no FIN: the peer learns nothing from it; an end of stream must be said by a layer
   * above (smux's FIN, a length prefix, ...).
   */
  drain(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this._error) return Promise.reject(this._error);
    if (this.policy.allAcknowledged) return Promise.resolve();
    if (this._closed) return Promise.reject(this.closedError('drain'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.policy.whenDrained(signal);
  }

  /**
   * No more writes: resolves once everything written has been acknowledged (see `drain`). The
   * conversation stays open for reading until `close()`; `end()` then `close()` is the graceful
   * end, `close()` alone discards what is unacknowledged.
   */
  end(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.ending = true;
    return this.drain(options);
  }

  private assertWritable(op: string): void {
    if (this._error) throw this._error;
    if (this.abandoned) throw this.abandoned;
    if (this._closed) throw new KcpError('CLOSED', `${op} after close`, { conv: this.kcp.conv });
    if (this.ending) throw new KcpError('CLOSED', `${op} after end`, { conv: this.kcp.conv });
  }

  private closedError(op: string): KcpError {
    if (this.abandoned) return this.abandoned;
    return new KcpError('CLOSED', `conversation ${this.kcp.conv}: closed before ${op} finished (unacknowledged data was discarded)`, { conv: this.kcp.conv });
  }

  /** Flushes at once (as kcp-go does on Write); the clock's deadline is unchanged. */
  flushNow(): void {
    this.policy.flushNow();
  }

  /**
   * Sends a window probe (WASK) at once, which every KCP peer answers with WINS: a liveness probe
   * (a session's `keepalive`) with nothing new on the wire. Ignored after close.
   */
  probePeer(): void {
    if (this._closed) return;
    this.kcp.askWindow();
    this.policy.flushAcks();
  }

  /**
   * Ends the conversation as `close({ linger: false })` does (`data$` completes: the peer went
   * away, which is not a local fault), except that what waits to be sent, `drain`, and any later
   * write reject with `reason` instead of 'CLOSED'. Idempotent.
   * @internal Called by the package itself (the session's keepalive); not for users.
   */
  abandon(reason: KcpError): void {
    if (!this._closed) this.abandoned = reason;
    this.close({ linger: false });
  }

  /**
   * Ends the conversation at once for its user: a last flush, `data$` completes (what was
   * received stays readable), writes throw, and what is not yet acknowledged is discarded
   * (pending `send`/`drain` calls reject with 'CLOSED'): for a graceful end, `await end()` first.
   * Idempotent.
   *
   * When the peer has sent anything, the conversation then lingers, as TCP's TIME_WAIT does: for
   * a while it only acknowledges what the peer retransmits (the ACKs of the last flush may have
   * been lost, and the peer's `end()` waits for them), until the peer has been quiet for three
   * RTOs (at least 200 ms, at most 10 s in all); `datagrams$` completes after it. `{ linger:
   * false }` ends everything at once (a listener closing its socket does that).
   */
  close(options: { linger?: boolean } = {}): void {
    if (this._closed) {
      if (options.linger === false) this.finishLinger();
      return;
    }
    this.flushNow();
    if (options.linger === false || !this.policy.heard) {
      this.shutdown();
      this.rejectWaiting(this.closedError('the send'));
      this.reader?.complete();
      this.outbound.complete();
      return;
    }
    this._closed = true;
    this.rejectWaiting(this.closedError('the send'));
    this.reader?.complete();
    this.policy.completeWritable();
    this.policy.linger();
  }

  /** True while a closed conversation still acknowledges its peer (see `close`). */
  get lingering(): boolean {
    return this.policy.lingering;
  }

  private finishLinger(): void {
    this.policy.finishLinger();
  }

  /** Settles what waits on the send side when the conversation ends. */
  private rejectWaiting(err: KcpError): void {
    this.policy.rejectWaiting(err);
  }

  /**
   * Ends the conversation with an error (dead link, socket failure, a layer that errored).
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  fail(e: unknown): void {
    if (this._closed) return this.finishLinger();
    const err = e instanceof KcpError ? e : new KcpError('LAYER_ERROR', `conversation ${this.kcp.conv}: ${e instanceof Error ? e.message : String(e)}`, { conv: this.kcp.conv, cause: e });
    this._error = err;
    this.shutdown();
    this.rejectWaiting(err);
    this.reader?.error(err);
    this.outbound.error(err);
    this.policy.failWritable(err);
  }

  private oobReceived(payload: Uint8Array): void {
    this.onOob?.(payload);
    this.oobIn.next(payload);
  }

  /**
   * What `reassemble` does for a reader (`readReady`), each message counted in BytesReceived; a
   * throw ends the reader with a LAYER_ERROR.
   */
  private readTo(reader: Subscriber<Uint8Array> | null): void {
    if (reader === null || reader.closed) return;
    try {
      readReady(this.kcp, reader, this.stats);
    } catch (e) {
      reader.error(layerError('reassemble', e));
    }
  }

  /** The linger after close is over (see `Host`). */
  private lingerOver(): void {
    this.shutdown();
    this.outbound.complete();
  }

  private shutdown(): void {
    this._closed = true;
    this.down = true;
    this.policy.stop();
    this.chain.stop();
    this.oobIn.complete();
    if (!this._error) this.policy.completeWritable();
  }
}

/**
 * What the policy asks its conversation (`PolicyHost`). A class of its own: an object literal with
 * getters would be a property dictionary of about 450 bytes in every conversation.
 */
class Host implements PolicyHost {
  constructor(
    private readonly c: Conversation,
    private readonly chain: ChainHost,
    private readonly onLingerOver: () => void
  ) {}
  get closed(): boolean {
    return this.c.closed;
  }
  get down(): boolean {
    return this.chain.isDown();
  }
  get backlogged(): boolean {
    return this.c['paceBacklog'].bytes >= defaultPaceMaxQueue / 2;
  }
  fail(e: unknown): void {
    this.c.fail(e);
  }
  lingerOver(): void {
    this.onLingerOver();
  }
}
