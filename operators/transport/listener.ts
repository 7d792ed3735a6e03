/**
 * A kcp-go-compatible listener: one UDP socket, one cipher and one clock shared by every session,
 * sessions keyed by remote address (kcp-go `Listener.packetInput`, spec §5.4). Decryption and the
 * CRC check come before demultiplexing, as in kcp-go; a session with an `afterDecrypt` layer still
 * sees every datagram it is given, decrypted, before its own CRC check. Adds what kcp-go lacks:
 * admission control (below), `maxSessions` and `idleTimeout`.
 *
 * Admission (docs/design.md#admission): a source becomes a session only when it sends sn 0 of its
 * conv, the first segment of a fresh peer's stream (kcp-go opens one on any datagram). Until then
 * a source whose datagrams a fresh peer could have sent (its sn-0 datagram lost or overtaken) is
 * *half-open*: an entry of a few dozen bytes (conv and deadline) in a table of its own, bounded by
 * `maxHalfOpen` with the oldest evicted first, expired at `snZeroWait` by one clock entry for the
 * whole table. A half-open source has no KCP core, no timer, gets no reply (not even an ACK: the
 * peer retransmits, as it would after a loss) and does not count against `maxSessions`. A
 * session, once made, is *proven*: only `maxSessions` limits them and nothing evicts one.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { asyncScheduler, Observable, Subject, type Subscription } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { openDatagram } from '../../src/crypt/packet.js';
import { ReplayWindow } from '../../src/crypt/replay-window.js';
import { KcpError } from '../../src/errors.js';
import { classify, type BodyKind } from '../../src/fec/fec-packet.js';
import { IKCP_CMD_PUSH, IKCP_OVERHEAD, IKCP_RTO_MAX } from '../../src/kcp/constants.js';
import { Snmp } from '../../src/stats.js';
import { readU32 } from '../../src/wire/bytes.js';
import { fecHeaderSizePlus2 } from '../../src/wire/constants.js';
import { Clock, type ClockEntry } from '../conversation/update-clock.js';
import { prepareSession, Session, type SessionOptions } from './session.js';
import { addressKey, literalLookup, parseHostPort, sendDatagram, setSocketBuffers, socketTypeFor, udpDatagrams, type Datagram } from './udp.js';

/** kcp-go's accept backlog: sessions created but not yet taken by a subscriber. */
export const acceptBacklog = 128;

/**
 * The highest sn a fresh peer can have sent before it hears from us, plus one: a KCP sender starts
 * with the peer's window assumed at IKCP_WND_RCV (32 in kcp-go, 128 in ikcp.c) and sends no
 * further until an ACK tells it more. A first segment at or past it comes from a peer that is
 * mid-stream in a session this listener no longer has.
 */
export const firstFlight = 128;
/** Most ended sessions remembered at once (the oldest are forgotten first). */
export const endedMemoryLimit = 16384;
/**
 * Default `maxHalfOpen`: half-open sources held at once. An entry is its address key, conv and
 * deadline (about 150 bytes), so the table stays under about 3 MB whatever a flood sends; a real
 * client needs no entry to be admitted (its sn 0 makes its session at once), only one whose sn-0
 * datagram was lost waits in it, and it is promoted by its retransmission of sn 0 even if the
 * entry was evicted meanwhile.
 */
export const defaultMaxHalfOpen = 16384;

/** A source that sent first-flight datagrams of `conv` but not yet sn 0 (see the module note). */
interface HalfOpen {
  conv: number;
  /** Clock time it is dropped at if sn 0 has not come. */
  until: number;
}

export interface ListenOptions extends SessionOptions {
  /** `HOST:PORT`, `[::1]:PORT` or a port (binds 127.0.0.1). Port 0 picks a free one. */
  listen: string;
  /**
   * Most sessions held at once; datagrams that would create more are dropped (SessionsRefused).
   * Default: no limit, as kcp-go. A listener exposed to the internet needs this and `idleTimeout`
   * both: one datagram from a new source address creates a session (with 'none' or 'null' anyone
   * can send one; with a cipher, anyone can replay a captured one), KCP sends nothing while idle,
   * and an idle session holds about 16 KB (about 53 KB with FEC 10/3, most of it the FEC coders'
   * shard buffers). A limit without `idleTimeout` is filled by one flood
   * for good. `rxkcp echo` and `sink` default to 4096 sessions and 60 s.
   */
  maxSessions?: number;
  /** Use this bound socket instead of creating one (the listener then never closes it). */
  socket?: Socket;
  /**
   * How long (ms after the last datagram it dropped) an ended session's address and conv are
   * remembered: its peer's late retransmissions are dropped (LatePkts) instead of opening a second
   * session that would deliver the same data again. Default 120 000, twice kcp-go's largest RTO;
   * 0 remembers nothing. At most 16 384 are kept.
   */
  endedMemory?: number;
  /**
   * How long (ms) a half-open source (first-flight datagrams of a conv, no sn 0 yet) is held
   * waiting for sn 0 before it is dropped (HalfOpenTimeouts), whether or not it sends again.
   * Default 60 000 (kcp-go's largest RTO: a peer retransmits sn 0 within it).
   */
  snZeroWait?: number;
  /**
   * Most half-open sources held at once (default 16 384, about 2.5 MB); a new one beyond it evicts
   * the oldest (HalfOpenEvicted). They never count against `maxSessions`.
   */
  maxHalfOpen?: number;
}

export class Listener {
  /** Counters of the listener itself (decrypt/CRC failures, refused sessions, datagrams sent). */
  readonly stats = new Snmp();
  readonly clock: Clock;
  private readonly sessionsByAddr = new Map<string, Session>();
  private readonly pending: Session[] = [];
  private readonly accepted = new Subject<Session>();
  private acceptors = 0;
  private readonly sub: Subscription;
  private readonly crypt: PacketCrypt;
  private readonly replay: ReplayWindow | undefined;
  private _closed = false;
  /** `address/conv` of sessions that ended → when to forget it; in order of last use. */
  private readonly ended = new Map<string, number>();
  private readonly endedMemory: number;
  private readonly snZeroWait: number;
  private readonly maxHalfOpen: number;
  /** Half-open sources by address key, oldest first (all wait the same, so also by deadline). */
  private readonly halfOpenByAddr = new Map<string, HalfOpen>();
  /** The one clock entry that drops the whole table's expired entries (sleeps while it is empty). */
  private readonly halfOpenEntry: ClockEntry;

  private constructor(
    readonly socket: Socket,
    private readonly ownsSocket: boolean,
    private readonly options: ListenOptions,
    crypt: PacketCrypt
  ) {
    this.crypt = crypt;
    if (options.antiReplay !== undefined && this.crypt.kind !== 'aead') throw new RangeError('listen: antiReplay needs an AEAD cipher');
    this.replay = options.antiReplay !== undefined ? new ReplayWindow(options.antiReplay) : undefined;
    this.clock = options.clock ?? new Clock(options.scheduler ?? asyncScheduler);
    if (options.maxSessions !== undefined && !(Number.isInteger(options.maxSessions) && options.maxSessions > 0)) {
      throw new RangeError(`listen: maxSessions must be a positive integer, got ${options.maxSessions}`);
    }
    this.endedMemory = options.endedMemory ?? 2 * IKCP_RTO_MAX;
    if (!(this.endedMemory >= 0 && Number.isFinite(this.endedMemory))) throw new RangeError(`listen: endedMemory must be >= 0 ms, got ${options.endedMemory}`);
    this.snZeroWait = options.snZeroWait ?? IKCP_RTO_MAX;
    if (!(this.snZeroWait > 0 && Number.isFinite(this.snZeroWait))) throw new RangeError(`listen: snZeroWait must be > 0 ms, got ${options.snZeroWait}`);
    this.maxHalfOpen = options.maxHalfOpen ?? defaultMaxHalfOpen;
    if (!(Number.isInteger(this.maxHalfOpen) && this.maxHalfOpen > 0)) throw new RangeError(`listen: maxHalfOpen must be a positive integer, got ${options.maxHalfOpen}`);
    this.halfOpenEntry = this.clock.add({ flush: (now) => this.expireHalfOpen(now) }, Infinity);
    this.sub = udpDatagrams(socket).subscribe({
      next: (d) => this.packetInput(d),
      error: (e: unknown) => this.failAll(new KcpError('SOCKET_ERROR', `listener socket error: ${String(e)}`, { cause: e })),
      complete: () => this.failAll(new KcpError('SOCKET_CLOSED', 'listener socket closed')),
    });
  }

  /** Binds a UDP socket and starts listening. */
  static async listen(options: ListenOptions): Promise<Listener> {
    const crypt = await prepareSession('listen', options); // every option checked, a secret's key derived off the event loop
    if (options.socket) return new Listener(options.socket, false, options, crypt);
    const { host, port } = parseHostPort(options.listen);
    const socket = createSocket({ type: socketTypeFor(host), reuseAddr: false, lookup: literalLookup });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    setSocketBuffers(socket, options.sockbuf);
    try {
      return new Listener(socket, true, options, crypt);
    } catch (e) {
      socket.close(); // bad options: do not leave the port bound
      throw e;
    }
  }

  /** The bound address. */
  get address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Sessions held now (proven: half-open sources are not sessions, see `halfOpen`). */
  get size(): number {
    return this.sessionsByAddr.size;
  }

  /** Half-open sources held now (first-flight datagrams, no sn 0 yet; see the module note). */
  get halfOpen(): number {
    return this.halfOpenByAddr.size;
  }

  /** The sessions held now, in creation order. */
  get sessions(): Session[] {
    return [...this.sessionsByAddr.values()];
  }

  /**
   * New sessions (kcp-go Accept). Up to 128 created before anyone subscribes wait here; beyond
   * that, new addresses are refused until they are taken.
   */
  get sessions$(): Observable<Session> {
    return new Observable<Session>((subscriber) => {
      this.acceptors++;
      const sub = this.accepted.subscribe(subscriber);
      while (this.pending.length > 0 && !subscriber.closed) subscriber.next(this.pending.shift()!);
      return () => {
        this.acceptors--;
        sub.unsubscribe();
      };
    });
  }

  private packetInput(d: Datagram): void {
    const body = openDatagram(this.crypt, d.data, this.stats, this.replay);
    if (body === null || body.length < 12) return;
    // the conv and sn a new session would be keyed on (docs/protocol.md#demux, step 2)
    let conv = -1;
    let sn = 0;
    const kind = classify(body);
    switch (kind) {
      case 'data':
        if (body.length >= 8 + IKCP_OVERHEAD) {
          conv = readU32(body, 8);
          sn = readU32(body, 20);
        }
        break;
      case 'parity':
        break;
      case 'oob':
        conv = readU32(body, 8);
        break;
      case 'kcp':
        if (body.length < IKCP_OVERHEAD) return;
        conv = readU32(body, 0);
        sn = readU32(body, 12);
    }
    const key = addressKey(d.address, d.port);
    const existing = this.sessionsByAddr.get(key);
    if (existing !== undefined) {
      if (conv < 0 || conv === existing.conv) return existing.inputOpened(this.crypt.kind === 'aead' ? body : d.data, body);
      if (this.late(key, conv)) return;
      if (sn !== 0 || kind === 'oob') return void this.stats.StrayPkts++; // another conv mid-stream: not ours
      if (!this.fresh(body, kind)) return;
      // sn 0 with another conv: the peer restarted; kcp-go replaces the session. An end, not a
      // fault: the datagram that says so could come from anyone who can forge this address
      existing.reset();
    }
    if (conv < 0 || this.late(key, conv) || !this.fresh(body, kind)) return;
    if (sn !== 0 || kind === 'oob') return this.holdHalfOpen(key, conv);
    this.halfOpenByAddr.delete(key); // promoted (or replaced by a new conv's sn 0)
    if (this.pending.length >= acceptBacklog || (this.options.maxSessions !== undefined && this.sessionsByAddr.size >= this.options.maxSessions)) {
      this.stats.SessionsRefused++;
      return;
    }
    const socket = this.socket;
    const { address, port } = d; // what the session's send keeps: not the first datagram
    const session: Session = new Session(
      conv,
      { address, port },
      (dg) => sendDatagram(socket, dg, port, address, session.stats),
      this.crypt,
      this.options,
      this.clock,
      'passive'
    );
    this.sessionsByAddr.set(key, session);
    session.ended$.subscribe(() => {
      if (this.sessionsByAddr.get(key) === session) this.sessionsByAddr.delete(key);
      const i = this.pending.indexOf(session);
      if (i >= 0) this.pending.splice(i, 1);
      if (!this._closed) this.remember(`${key}/${session.conv}`);
    });
    session.inputOpened(this.crypt.kind === 'aead' ? body : d.data, body);
    this.offer(session);
  }

  /**
   * Holds a source that sent a first-flight datagram of `conv` other than sn 0 (or an OOB
   * message) as half-open: nothing is kept of the datagram and nothing is sent back; a real peer
   * retransmits it with sn 0. DIVERGES(kcp-go): kcp-go opens a session on any datagram from a new
   * address, and one that never sees sn 0 can never deliver.
   */
  private holdHalfOpen(key: string, conv: number): void {
    const held = this.halfOpenByAddr.get(key);
    if (held !== undefined && held.conv === conv) return; // the deadline counts from its first datagram
    if (held !== undefined) this.halfOpenByAddr.delete(key); // the source restarted before sn 0: the new conv waits anew
    else if (this.halfOpenByAddr.size >= this.maxHalfOpen) {
      for (const oldest of this.halfOpenByAddr.keys()) {
        this.halfOpenByAddr.delete(oldest);
        break;
      }
      this.stats.HalfOpenEvicted++;
    }
    const until = this.clock.now() + this.snZeroWait;
    this.halfOpenByAddr.set(key, { conv, until });
    this.stats.HalfOpenOpens++;
    if (this.halfOpenByAddr.size === 1) this.clock.at(this.halfOpenEntry, until);
  }

  /** The table's clock entry: drops every entry past its deadline; due again at the next one. */
  private expireHalfOpen(now: number): number {
    for (const [key, h] of this.halfOpenByAddr) {
      if (h.until > now) return h.until - now;
      this.halfOpenByAddr.delete(key);
      this.stats.HalfOpenTimeouts++;
    }
    return Infinity;
  }

  private offer(session: Session): void {
    if (this.acceptors > 0) this.accepted.next(session);
    else this.pending.push(session);
  }

  /**
   * Whether a datagram can come from a fresh peer (and so make a session at sn 0, or a half-open
   * entry before it): its first KCP segment is what a fresh peer sends first. DIVERGES(kcp-go):
   * kcp-go opens a session on any datagram from a new address; one whose peer is mid-stream
   * (after this listener restarted, or after its session here ended) waits for an sn 0 that never
   * comes and can never deliver. A fresh peer has received nothing, so its segments are PUSHes
   * (no ACKs come before them in a flush) with una 0, at sn below `firstFlight`. Refusals count
   * in StrayPkts. OOB datagrams carry no segment: they can at most make a half-open entry.
   */
  private fresh(body: Uint8Array, kind: BodyKind): boolean {
    if (kind === 'oob') return true;
    const off = kind === 'data' ? fecHeaderSizePlus2 : 0; // a data shard: seqid, type, size, then KCP
    const ok = body[off + 4] === IKCP_CMD_PUSH && readU32(body, off + 16) === 0 && readU32(body, off + 12) < firstFlight;
    if (!ok) this.stats.StrayPkts++;
    return ok;
  }

  /**
   * Whether `conv` from `key` belongs to a session that ended lately (then counted in LatePkts
   * and remembered for longer). DIVERGES(kcp-go): kcp-go opens a new session on a late
   * retransmission of one it closed, which delivers the same message again.
   */
  private late(key: string, conv: number): boolean {
    if (this.ended.size === 0) return false;
    const k = `${key}/${conv}`;
    const until = this.ended.get(k);
    if (until === undefined) return false;
    this.ended.delete(k);
    if (this.clock.now() >= until) return false;
    this.remember(k);
    this.stats.LatePkts++;
    return true;
  }

  /** Remembers an ended session (or refreshes it), forgetting the expired and the oldest beyond the limit. */
  private remember(k: string): void {
    if (this.endedMemory === 0) return;
    const now = this.clock.now();
    this.ended.delete(k);
    this.ended.set(k, now + this.endedMemory);
    for (const [old, until] of this.ended) {
      if (until > now && this.ended.size <= endedMemoryLimit) break;
      this.ended.delete(old);
    }
  }

  private socketClosed = false;

  private failAll(e: KcpError): void {
    if (e.code === 'SOCKET_CLOSED') this.socketClosed = true;
    this.clock.remove(this.halfOpenEntry);
    this.halfOpenByAddr.clear();
    for (const s of [...this.sessionsByAddr.values()]) s.fail(e);
    this.accepted.complete();
  }

  /** Stops listening: closes the socket if the listener made it and ends every session. Idempotent. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.clock.remove(this.halfOpenEntry);
    this.halfOpenByAddr.clear();
    for (const s of [...this.sessionsByAddr.values()]) s.close({ linger: false }); // the socket closes now
    this.sub.unsubscribe();
    this.accepted.complete();
    if (this.ownsSocket && !this.socketClosed) this.socket.close();
  }
}
