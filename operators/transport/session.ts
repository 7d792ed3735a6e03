/**
 * A KCP session over UDP: a `Conversation` bound to one remote address, with kcp-go's session
 * options by their kcptun names, an idle timeout kcp-go lacks, and SNMP counters per session and
 * for the whole process.
 * @module
 */
import { AsyncSubject, asyncScheduler, interval, map, type Observable, type SchedulerLike } from 'rxjs';
import { AEAD_CRYPT_NAMES, type CryptName, type PacketCrypt, type RandomSource } from '../../src/crypt/crypt.js';
import { KcpError, type KcpErrorCode } from '../../src/errors.js';
import { createNodeCrypt, nodeCryptFromPassword, nodeCryptFromPasswordAsync } from '../../src/node/crypt.js';
import { IKCP_OVERHEAD } from '../../src/kcp/constants.js';
import type { KcpOptions } from '../../src/kcp/kcp.js';
import { Snmp, type SnmpField } from '../../src/stats.js';
import { Conversation, kcpMtuFor, type ConversationOptions } from '../conversation/conversation.js';
import { assertOptions, assertShards, timingOf, type Mode } from '../conversation/options.js';
import { Clock, type ClockEntry } from '../conversation/update-clock.js';

/** KCP tuning a session passes straight to its core (windows, NoDelay, stream, ACK no-delay, dead link). */
type SessionKcpOptions = Omit<KcpOptions, 'mtu' | 'startSn'>;

export interface SessionOptions extends SessionKcpOptions {
  /**
   * kcptun's `--mode`: nodelay, interval, resend and nc from `MODES` (normal, fast, fast2, fast3);
   * any of the four given explicitly wins. Without it, kcp-go's defaults (nodelay 0, interval
   * 100, resend 0, nc 0), which are slow: 'fast3' is what kcptun users run.
   */
  mode?: Mode;
  /** kcptun `--crypt` name (default 'null' without a key, else 'aes'). */
  crypt?: CryptName;
  /**
   * A string is kcptun's `--key` secret: the key is derived from it with PBKDF2-HMAC-SHA1(key,
   * "kcp-go", 4096, 32) and sliced per cipher (off the event loop in `dial` and
   * `Listener.listen`; not at all for 'none' and 'null'). A Uint8Array is the raw key itself, of
   * the cipher's length.
   */
  key?: string | Uint8Array;
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
   * its protocol's longest silence, with `maxSessions` (see there). An idle timeout is an end
   * asked for: `data$` completes and `ended$` says 'idle-timeout'.
   */
  idleTimeout?: number;
  /**
   * Notices a peer that went away, with nothing on the wire that a kcp-go peer does not already
   * answer: after `interval` ms without a segment from the peer the session sends KCP's window
   * probe (WASK), which every KCP peer answers (WINS) whatever its windows, and repeats it each
   * `interval`; when nothing at all has come back for `timeout` ms the session ends: `ended$` says
   * 'keepalive-timeout', `data$` completes, and pending and later `send`/`drain`/`write` reject
   * with a `KcpError` `KEEPALIVE_TIMEOUT` (or `KEY_MISMATCH` when every datagram that came back
   * failed the CRC or AEAD check). A number is the interval, with a timeout of three intervals.
   * Default `{ interval: 10_000, timeout: 30_000 }` (kcptun's smux keepalive has the same
   * cadence); `false` turns it off (kcp-go's behaviour: a vanished peer goes unnoticed).
   */
  keepalive?: false | number | { interval: number; timeout: number };
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
  const name = cryptNameOf(o);
  const options = o.random ? { random: o.random } : {};
  const secret = secretOf(o);
  if (name === 'null') return createNodeCrypt('null', new Uint8Array(0));
  if (o.key instanceof Uint8Array) return createNodeCrypt(name, o.key, options);
  if (secret !== undefined) return nodeCryptFromPassword(name, secret, options);
  if (name === 'none') return createNodeCrypt('none', new Uint8Array(0), options);
  throw new TypeError(`session: crypt ${name} needs a key (kcptun's secret string, or raw key bytes)`);
}

/** `resolveCrypt` deriving a secret's key in node:crypto's thread pool, never on the event loop. */
export async function resolveCryptAsync(o: SessionOptions): Promise<PacketCrypt> {
  const name = cryptNameOf(o);
  const secret = secretOf(o);
  if (secret === undefined || name === 'null') return resolveCrypt(o);
  return nodeCryptFromPasswordAsync(name, secret, o.random ? { random: o.random } : {});
}

function cryptNameOf(o: SessionOptions): CryptName {
  return o.crypt ?? (o.key !== undefined ? 'aes' : 'null');
}

/** kcptun's secret: a string `key`. */
function secretOf(o: SessionOptions): string | undefined {
  return typeof o.key === 'string' ? o.key : undefined;
}

/**
 * Checks every session option (see `assertOptions`) and how they go together; throws
 * TypeError/RangeError as `${where}: …`. What needs the cipher (a raw key's length, room for KCP
 * in the mtu) is checked by `prepareSession`.
 */
export function assertSessionOptions(where: string, o: SessionOptions): void {
  assertOptions(where, o);
  // a `password` would otherwise be ignored, leaving a session without crypt unencrypted
  if ((o as { password?: unknown }).password !== undefined) throw new TypeError(`${where}: there is no password option: kcptun's secret is key`);
  assertShards(where, o.dataShards, o.parityShards);
  keepaliveOf(where, o.keepalive);
  const name = cryptNameOf(o);
  if (name !== 'null' && name !== 'none' && o.key === undefined) {
    throw new TypeError(`${where}: crypt ${name} needs a key (kcptun's secret string, or raw key bytes)`);
  }
  if (o.antiReplay !== undefined && !(AEAD_CRYPT_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`${where}: antiReplay needs an AEAD cipher (${AEAD_CRYPT_NAMES.join(', ')}), got crypt ${name}`);
  }
}

/**
 * What `dial` and `Listener.listen` do before they bind a socket: check the options and resolve
 * the cipher (a secret's key derived off the event loop), so a bad option throws at the call.
 */
export async function prepareSession(where: string, o: SessionOptions): Promise<PacketCrypt> {
  assertSessionOptions(where, o);
  let crypt: PacketCrypt;
  try {
    crypt = await resolveCryptAsync(o);
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`${where}: ${e.message}`, { cause: e });
    if (e instanceof TypeError) throw new TypeError(`${where}: ${e.message}`, { cause: e });
    throw e;
  }
  const mtu = o.mtu ?? 1400;
  if (kcpMtuFor(mtu, crypt, fecOf(o)) <= IKCP_OVERHEAD) {
    throw new RangeError(`${where}: mtu ${mtu} leaves no room for KCP after the ${cryptNameOf(o)}${fecOf(o) ? ' and FEC' : ''} headers`);
  }
  return crypt;
}

/** The keepalive a session runs when none is given (see `SessionOptions.keepalive`). */
export const DEFAULT_KEEPALIVE = { interval: 10_000, timeout: 30_000 } as const;

/** Smallest keepalive interval: one probe per KCP flush interval at most (the largest is 5000 ms). */
const MIN_KEEPALIVE_INTERVAL = 10;

/** The keepalive `value` asks for (null: off), or a RangeError/TypeError naming it. */
export function keepaliveOf(where: string, value: SessionOptions['keepalive']): { interval: number; timeout: number } | null {
  if (value === false) return null;
  if (value === undefined) return DEFAULT_KEEPALIVE;
  const ka = typeof value === 'number' ? { interval: value, timeout: 3 * value } : value;
  const { interval, timeout } = ka;
  if (typeof interval !== 'number' || typeof timeout !== 'number') throw new TypeError(`${where}: keepalive must be false, a number of ms, or { interval, timeout } in ms, got ${JSON.stringify(value)}`);
  if (!(Number.isFinite(interval) && interval >= MIN_KEEPALIVE_INTERVAL)) throw new RangeError(`${where}: keepalive interval must be a number >= ${MIN_KEEPALIVE_INTERVAL} (ms), got ${interval}`);
  if (!(Number.isFinite(timeout) && timeout > interval)) throw new RangeError(`${where}: keepalive timeout must be a number > its interval (${interval} ms), got ${timeout}`);
  return { interval, timeout };
}

function fecOf(o: SessionOptions): { dataShards: number; parityShards: number } | null {
  return (o.dataShards ?? 0) > 0 && (o.parityShards ?? 0) > 0 ? { dataShards: o.dataShards!, parityShards: o.parityShards! } : null;
}


/**
 * Why a session ended. Ends that are no local fault complete `data$`: `close()` ('closed'),
 * `idleTimeout` ('idle-timeout'), a peer that stopped answering the keepalive
 * ('keepalive-timeout'), and a listener replacing the session because its peer restarted
 * ('reset': sn 0 of a new conv from the same address; a datagram from the network must not be
 * able to throw into an application). Faults error it with a `KcpError`: the peer stopped
 * answering with `failOnDeadLink` ('dead-link'), the socket failed or closed under the session
 * ('socket-error'), the peer cannot be reached ('unreachable': an ICMP error with `failFast`, or
 * nothing heard within `connectTimeout`), or a layer threw or errored ('layer-error').
 */
export type SessionEndReason = 'closed' | 'idle-timeout' | 'keepalive-timeout' | 'dead-link' | 'socket-error' | 'reset' | 'unreachable' | 'layer-error';

/**
 * What `Session.ended$` emits: the reason, and for a fault the error `data$` ended with (for
 * 'keepalive-timeout', the error pending writes rejected with).
 */
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
  KEY_MISMATCH: 'unreachable',
  KEEPALIVE_TIMEOUT: 'keepalive-timeout',
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
  private keepaliveEntry: ClockEntry | null = null;
  private lastInput: number;
  /** The cipher's name, for errors that name it. */
  private readonly cryptName: CryptName;

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
    const fec = fecOf(options);
    const timing = timingOf(options);
    this.stats = new Snmp();
    this.cryptName = cryptNameOf(options);
    this.conversation = new Conversation({
      conv,
      crypt,
      fec,
      clock,
      mtu: options.mtu,
      kcp: {
        sndWnd: options.sndWnd,
        rcvWnd: options.rcvWnd,
        nodelay: timing.nodelay,
        interval: timing.interval,
        resend: timing.resend,
        nc: timing.nc,
        stream: options.stream,
        ackNoDelay: options.ackNoDelay,
        deadLink: options.deadLink,
        cc: options.cc,
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
            this.finish({ reason: 'idle-timeout' }, { linger: false }); // asked for: data$ completes; the peer is silent
            return idle;
          },
        },
        this.lastInput + idle
      );
    }
    const ka = keepaliveOf('session', options.keepalive);
    if (ka !== null) this.startKeepalive(ka);
  }

  /**
   * Runs the keepalive (see `SessionOptions.keepalive`): a segment counted in `InSegs` since the
   * last run means the peer spoke (at the last datagram's time); a probe goes out each `interval`
   * of silence, and `timeout` of silence ends the session.
   */
  private startKeepalive(ka: { interval: number; timeout: number }): void {
    let seen = this.stats.InSegs;
    let heardAt = this.lastInput;
    let probedAt = -Infinity;
    let confirming = false;
    this.keepaliveEntry = this.clock.add(
      {
        flush: (now) => {
          if (this.stats.InSegs !== seen) {
            seen = this.stats.InSegs;
            heardAt = Math.max(heardAt, this.lastInput);
          }
          const quiet = now - heardAt;
          if (quiet >= ka.timeout && !confirming) {
            // after a stall of this process, timers run before the datagrams that arrived meanwhile
            // are read: look once more after the next turn of I/O before declaring the peer gone
            confirming = true;
            return 1;
          }
          confirming = false;
          if (quiet >= ka.timeout) {
            const error = this.silenceError('KEEPALIVE_TIMEOUT', quiet);
            this.asked ??= { reason: 'keepalive-timeout', error };
            this.conversation.abandon(error);
            this.retire(this.asked);
            return ka.timeout;
          }
          if (quiet >= ka.interval && now - probedAt >= ka.interval) {
            probedAt = now;
            this.conversation.probePeer();
          }
          const nextProbe = quiet < ka.interval ? heardAt + ka.interval : probedAt + ka.interval;
          return Math.max(1, Math.min(nextProbe, heardAt + ka.timeout) - now);
        },
      },
      this.lastInput + ka.interval
    );
  }

  /**
   * The error for a peer silent for `ms`, naming what the counters show: every datagram that came
   * back failed the CRC or AEAD check (`KEY_MISMATCH`), ICMP refusals (nothing listens), nothing at
   * all, or a peer that answered before and stopped.
   * @internal Called by the package itself (the dialler, the keepalive); not for users.
   */
  silenceError(code: 'CONNECT_TIMEOUT' | 'KEEPALIVE_TIMEOUT', ms: number): KcpError {
    const remote = this.remote.address.includes(':') ? `[${this.remote.address}]:${this.remote.port}` : `${this.remote.address}:${this.remote.port}`;
    const info = { conv: this.conv, remote };
    const s = this.stats;
    if (s.InSegs === 0 && s.InCsumErrors > 0) {
      return new KcpError('KEY_MISMATCH', `${remote}: ${s.InCsumErrors} datagrams came back and none passed the ${this.cryptName} check: the key or crypt probably differs from the peer's`, info);
    }
    if (s.InSegs === 0 && s.InErrs > 0) {
      return new KcpError(code, `${remote}: nothing listens there (${s.InErrs} ICMP unreachable replies, no answer in ${ms} ms)`, info);
    }
    if (s.InSegs === 0) {
      return new KcpError(code, `${remote}: no answer in ${ms} ms (nothing listens, a firewall drops the datagrams, or the peer's key or crypt differs: a kcp-go peer drops what it cannot open without replying)`, info);
    }
    return new KcpError(code, `${remote}: the peer stopped answering (nothing from it, window probes included, for ${ms} ms)`, info);
  }

  /** Received data (see `Conversation.data$`). */
  get data$(): Observable<Uint8Array> {
    return this.conversation.data$;
  }

  /** OOB payloads received (see `Conversation.oob$`); `onOob` gets the same with the session. */
  get oob$(): Observable<Uint8Array> {
    return this.conversation.oob$;
  }

  /**
   * `for await (const m of session)`: `data$` one message at a time, reading only while the loop
   * asks for the next (data waits in KCP meanwhile); `break` stops reading with nothing taken, so
   * a later reader continues where the loop stopped.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.conversation[Symbol.asyncIterator]();
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

  /**
   * Feeds one raw datagram from the remote.
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  input(datagram: Uint8Array): void {
    this.lastInput = this.clock.now();
    this.conversation.input(datagram);
  }

  /**
   * Feeds a body a listener already decrypted and checked.
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  inputBody(body: Uint8Array): void {
    this.lastInput = this.clock.now();
    this.conversation.inputBody(body);
  }

  /**
   * Feeds what a listener decrypted and checked: `decrypted` (as `decrypt` emits it) through the
   * session's own `afterDecrypt` layer and CRC check when it has one, else `body` directly.
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  inputOpened(decrypted: Uint8Array, body: Uint8Array): void {
    this.lastInput = this.clock.now();
    if (this.conversation.hasLayer('afterDecrypt')) this.conversation.inputDecrypted(decrypted);
    else this.conversation.inputBody(body);
  }

  /**
   * Ends the session at once (idempotent), discarding what is not yet acknowledged: `await end()`
   * first for a graceful end. Data already received stays readable. Nothing is sent to the peer
   * but the acknowledgements of its retransmissions while the session lingers (see
   * `Conversation.close`); `ended$` fires after that, or at once with `{ linger: false }`.
   */
  close(options?: { linger?: boolean }): void {
    this.finish({ reason: 'closed' }, options);
  }

  /**
   * Ends the session because its peer restarted its conversation (a listener saw sn 0 of a new
   * conv from the same address; kcp-go replaces the session the same way): an end, not a fault,
   * so `data$` completes and `ended$` says 'reset'. Nothing lingers: the peer is gone.
   * @internal Called by the package itself (the listener); not for users.
   */
  reset(): void {
    this.finish({ reason: 'reset' }, { linger: false });
  }

  /**
   * Ends the session with an error on its streams (`ended$` gives the reason by its code).
   * @internal Called by the package itself (the listener, the session); not for users.
   */
  fail(e: KcpError): void {
    this.conversation.fail(e);
    this.retire(sessionEndOf(e));
  }

  private finish(end: SessionEnd, options?: { linger?: boolean }): void {
    this.asked ??= end;
    this.conversation.close(options);
    if (!this.conversation.lingering) this.retire(end);
  }

  private retire(end: SessionEnd): void {
    if (!live.has(this)) return;
    live.delete(this);
    if (this.idleEntry) this.clock.remove(this.idleEntry);
    if (this.keepaliveEntry) this.clock.remove(this.keepaliveEntry);
    this.stats.CurrEstab = 0;
    retired.add(this.stats);
    this.ended.next(end);
    this.ended.complete();
  }
}
