/**
 * A KCP session over UDP: a `Conversation` bound to one remote address, with kcp-go's session
 * options by their kcptun names, an idle timeout kcp-go lacks, and SNMP counters per session and
 * for the whole process.
 * @module
 */
import { AsyncSubject, asyncScheduler, interval, map, type Observable, type SchedulerLike } from 'rxjs';
import type { CryptName, PacketCrypt, RandomSource } from '../../src/crypt/crypt.js';
import { KcpError, type KcpErrorCode } from '../../src/errors.js';
import { createNodeCrypt, nodeCryptFromPassword, nodeCryptFromPasswordAsync } from '../../src/node/crypt.js';
import type { KcpOptions } from '../../src/kcp/kcp.js';
import { Snmp, type SnmpField } from '../../src/stats.js';
import { Conversation, type ConversationOptions } from '../conversation.js';
import { Clock, type ClockEntry } from '../update-clock.js';

/** KCP tuning a session passes straight to its core (windows, NoDelay, stream, ACK no-delay, dead link). */
type SessionKcpOptions = Omit<KcpOptions, 'mtu' | 'startSn'>;

export interface SessionOptions extends SessionKcpOptions {
  /** kcptun `--crypt` name (default 'null' without key or password, else 'aes'). */
  crypt?: CryptName;
  /**
   * kcptun `--key`: derived with PBKDF2-HMAC-SHA1(key, "kcp-go", 4096, 32) and sliced per cipher
   * (off the event loop in `dial` and `Listener.listen`; not at all for 'none' and 'null').
   */
  password?: string;
  /** A raw key of the cipher's length instead of a password. */
  key?: Uint8Array;
  /** kcptun `--datashard` / `--parityshard`; FEC is on when both are > 0. */
  dataShards?: number;
  parityShards?: number;
  /** Largest UDP payload (default 1400, at most 1500). */
  mtu?: number;
  /** kcp-go SetWriteDelay. */
  writeDelay?: boolean;
  /** kcp-go SetRateLimit, bytes per second. */
  rateLimit?: number;
  /** AEAD only: drop datagrams whose nonce was among the last this many (kcp-go has no such check). */
  antiReplay?: number;
  /** UDP socket send and receive buffer sizes in bytes (default 4 MiB, kcptun's --sockbuf). */
  sockbuf?: number;
  /**
   * End a session that received nothing for this many ms (default: never, as kcp-go). There is no
   * default because only the application knows how long it may stay silent: KCP has no keepalive
   * of its own (kcptun's smux sends one every 10 s), and a listener's session dropped while its
   * peer still uses it cannot resume (the peer's next datagram makes a new session, which waits
   * for segments the old one had taken). A listener exposed to the internet should set it above
   * its protocol's longest silence, with `maxSessions` (see there).
   */
  idleTimeout?: number;
  /**
   * End the session with `DEAD_LINK` once a segment has been sent `deadLink` times. Default false,
   * as kcp-go: the link is marked dead (`DeadLinks`) and retransmission goes on through an outage.
   */
  failOnDeadLink?: boolean;
  /** Receives OOB messages (off unless given: kcp-go 5.6.1 peers misread them). */
  onOob?: (payload: Uint8Array, session: Session) => void;
  /** User operators between layers (see `Conversation`), e.g. tracing or loss injection. */
  layers?: ConversationOptions['layers'];
  /** Nonce source, for tests. */
  random?: RandomSource;
  /** The clock every session shares (default: one per listener or dialer scheduler). */
  clock?: Clock;
  scheduler?: SchedulerLike;
}

/**
 * The crypto a set of session options asks for, on Node's fast paths. A password's key is derived
 * on the event loop (6-18 ms): `dial` and `Listener.listen` use `resolveCryptAsync`.
 */
export function resolveCrypt(o: SessionOptions): PacketCrypt {
  const name: CryptName = o.crypt ?? (o.password !== undefined || o.key !== undefined ? 'aes' : 'null');
  const options = o.random ? { random: o.random } : {};
  if (name === 'null') return createNodeCrypt('null', new Uint8Array(0));
  if (o.key !== undefined) return createNodeCrypt(name, o.key, options);
  if (o.password !== undefined) return nodeCryptFromPassword(name, o.password, options);
  if (name === 'none') return createNodeCrypt('none', new Uint8Array(0), options);
  throw new TypeError(`session: crypt ${name} needs a password or a key`);
}

/** `resolveCrypt` deriving a password's key in node:crypto's thread pool, never on the event loop. */
export async function resolveCryptAsync(o: SessionOptions): Promise<PacketCrypt> {
  const name: CryptName = o.crypt ?? (o.password !== undefined || o.key !== undefined ? 'aes' : 'null');
  if (o.password === undefined || o.key !== undefined || name === 'null') return resolveCrypt(o);
  return nodeCryptFromPasswordAsync(name, o.password, o.random ? { random: o.random } : {});
}


/**
 * Why a session ended. Ends someone asked for, `close()` ('closed') and `idleTimeout`
 * ('idle-timeout'), complete `data$`; faults error it with a `KcpError`: the peer stopped
 * answering with `failOnDeadLink` ('dead-link'), the socket failed or closed under the session
 * ('socket-error'), a listener replaced it on a conv reset ('reset'), the peer cannot be reached
 * ('unreachable': an ICMP error with `failFast`, or nothing heard within `connectTimeout`), or a
 * layer threw or errored ('layer-error').
 */
export type SessionEndReason = 'closed' | 'idle-timeout' | 'dead-link' | 'socket-error' | 'reset' | 'unreachable' | 'layer-error';

/** What `Session.ended$` emits: the reason, and for a fault the error `data$` ended with. */
export interface SessionEnd {
  reason: SessionEndReason;
  error?: KcpError;
}

const REASONS: Partial<Record<KcpErrorCode, SessionEndReason>> = {
  IDLE_TIMEOUT: 'idle-timeout',
  DEAD_LINK: 'dead-link',
  SOCKET_ERROR: 'socket-error',
  SOCKET_CLOSED: 'socket-error',
  RESET: 'reset',
  UNREACHABLE: 'unreachable',
  CONNECT_TIMEOUT: 'unreachable',
};

/** The end a fault makes: its reason by the error's code ('layer-error' for any other code). */
export function sessionEndOf(error: unknown): SessionEnd {
  if (!(error instanceof KcpError)) return { reason: 'layer-error', error: new KcpError('LAYER_ERROR', String(error), { cause: error }) };
  return { reason: REASONS[error.code] ?? 'layer-error', error };
}

/** Counters of sessions that have ended, so the process aggregate keeps them. */
const retired = new Snmp();
const live = new Set<Session>();

/** Process-wide SNMP: every live session plus every ended one (kcp-go's `DefaultSnmp`). */
export function aggregateStats(): Snmp {
  const total = new Snmp().add(retired);
  for (const s of live) total.add(s.stats);
  return total;
}

export class Session {
  readonly conversation: Conversation;
  readonly stats: Snmp;
  /** The local UDP port (dialled sessions; a listener's sessions share its port). */
  localPort = 0;
  private readonly ended = new AsyncSubject<SessionEnd>();
  /** Set by an end someone asked for, before the conversation closes. */
  private asked: SessionEnd | null = null;
  private idleEntry: ClockEntry | null = null;
  private lastInput: number;

  constructor(
    readonly conv: number,
    readonly remote: { address: string; port: number },
    send: (datagram: Uint8Array) => void,
    crypt: PacketCrypt,
    options: SessionOptions,
    readonly clock: Clock,
    /** 'active' for dialled sessions, 'passive' for accepted ones (ActiveOpens / PassiveOpens). */
    readonly side: 'active' | 'passive'
  ) {
    const fec = (options.dataShards ?? 0) > 0 && (options.parityShards ?? 0) > 0 ? { dataShards: options.dataShards!, parityShards: options.parityShards! } : null;
    this.stats = new Snmp();
    this.conversation = new Conversation({
      conv,
      crypt,
      fec,
      clock,
      mtu: options.mtu,
      kcp: {
        sndWnd: options.sndWnd,
        rcvWnd: options.rcvWnd,
        nodelay: options.nodelay,
        interval: options.interval,
        resend: options.resend,
        nc: options.nc,
        stream: options.stream,
        ackNoDelay: options.ackNoDelay,
        deadLink: options.deadLink,
      } satisfies SessionKcpOptions,
      writeDelay: options.writeDelay,
      rateLimit: options.rateLimit,
      stats: this.stats,
      layers: options.layers,
      antiReplay: options.antiReplay,
      failOnDeadLink: options.failOnDeadLink,
      onOob: options.onOob ? (p) => options.onOob!(p, this) : undefined,
    });
    if (side === 'active') this.stats.ActiveOpens++;
    else this.stats.PassiveOpens++;
    this.stats.CurrEstab = 1;
    this.stats.MaxConn = 1;
    live.add(this);
    this.lastInput = clock.now();
    this.conversation.datagrams$.subscribe({ next: send, error: (e: unknown) => this.retire(sessionEndOf(e)), complete: () => this.retire(this.asked ?? { reason: 'closed' }) });
    const idle = options.idleTimeout;
    if (idle !== undefined) {
      if (!(idle > 0)) throw new RangeError(`session: idleTimeout must be > 0 ms, got ${idle}`);
      this.idleEntry = clock.add(
        {
          flush: (now) => {
            const quiet = now - this.lastInput;
            if (quiet < idle) return idle - quiet;
            this.stats.IdleTimeouts++;
            this.finish({ reason: 'idle-timeout' }); // asked for: data$ completes
            return idle;
          },
        },
        this.lastInput + idle
      );
    }
  }

  /** Received data (see `Conversation.data$`). */
  get data$(): Observable<Uint8Array> {
    return this.conversation.data$;
  }

  /** Emits when a refused write may be retried. */
  get writable$(): Observable<void> {
    return this.conversation.writable$;
  }

  get writable(): boolean {
    return this.conversation.writable;
  }

  get closed(): boolean {
    return this.conversation.closed;
  }

  /** Segments queued or in flight and not yet acknowledged (kcp-go `WaitSnd`). */
  waitSnd(): number {
    return this.conversation.waitSnd();
  }

  /**
   * Emits once when the session ends, saying why (see `SessionEndReason`), then completes; a
   * subscriber that comes later gets the same. `data$` has completed or errored by then.
   */
  get ended$(): Observable<SessionEnd> {
    return this.ended.asObservable();
  }

  /** Queues bytes (false while the send window is full: wait for `writable$`, or use `send`). */
  write(data: Uint8Array): boolean {
    return this.conversation.write(data);
  }

  /** Queues bytes, waiting for room in the window: it cannot drop (see `Conversation.send`). */
  send(data: Uint8Array): Promise<void> {
    return this.conversation.send(data);
  }

  /** Resolves when everything written has been acknowledged (see `Conversation.drain`). */
  drain(options?: { signal?: AbortSignal }): Promise<void> {
    return this.conversation.drain(options);
  }

  /**
   * No more writes; resolves once everything written is acknowledged. Then `close()`. The peer
   * is not told (KCP has no FIN; see `Conversation.end`).
   */
  end(options?: { signal?: AbortSignal }): Promise<void> {
    return this.conversation.end(options);
  }

  /** kcp-go SendOOB (FEC must be on; never to kcp-go 5.6.1 peers). */
  sendOob(payload: Uint8Array): void {
    this.conversation.sendOob(payload);
  }

  /** A sample of the counters every `period` ms. */
  stats$(period = 1000, scheduler: SchedulerLike = this.clock.scheduler ?? asyncScheduler): Observable<Record<SnmpField, number>> {
    return interval(period, scheduler).pipe(map(() => this.stats.snapshot()));
  }

  /** Feeds one raw datagram from the remote. */
  input(datagram: Uint8Array): void {
    this.lastInput = this.clock.now();
    this.conversation.input(datagram);
  }

  /** Feeds a body a listener already decrypted and checked. */
  inputBody(body: Uint8Array): void {
    this.lastInput = this.clock.now();
    this.conversation.inputBody(body);
  }

  /**
   * Feeds what a listener decrypted and checked: `decrypted` (as `decrypt` emits it) through the
   * session's own `afterDecrypt` layer and CRC check when it has one, else `body` directly.
   */
  inputOpened(decrypted: Uint8Array, body: Uint8Array): void {
    this.lastInput = this.clock.now();
    if (this.conversation.hasLayer('afterDecrypt')) this.conversation.inputDecrypted(decrypted);
    else this.conversation.inputBody(body);
  }

  /**
   * Ends the session at once (idempotent), discarding what is not yet acknowledged: `await end()`
   * first for a graceful end. Data already received stays readable. Nothing is sent to the peer.
   */
  close(): void {
    this.finish({ reason: 'closed' });
  }

  /** Ends the session with an error on its streams (`ended$` gives the reason by its code). */
  fail(e: KcpError): void {
    this.conversation.fail(e);
    this.retire(sessionEndOf(e));
  }

  private finish(end: SessionEnd): void {
    this.asked ??= end;
    this.conversation.close();
    this.retire(end);
  }

  private retire(end: SessionEnd): void {
    if (!live.has(this)) return;
    live.delete(this);
    if (this.idleEntry) this.clock.remove(this.idleEntry);
    this.stats.CurrEstab = 0;
    retired.add(this.stats);
    this.ended.next(end);
    this.ended.complete();
  }
}
