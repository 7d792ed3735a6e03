/**
 * Dials a kcp-go-compatible peer: binds an ephemeral UDP socket (on the loopback interface when
 * the peer is loopback), picks a random conv, and hears only the peer: the socket is connected,
 * so the kernel drops datagrams from any other source (kcp-go HEAD's read loop drops them and
 * counts InErrs; here they never arrive). No handshake: the first datagram creates the session.
 *
 * A connected socket also hears the ICMP errors that quote it (port or host unreachable,
 * administratively prohibited, ...), which kcp-go's unconnected socket never sees. They are not
 * authenticated: anyone who sees or guesses the 4-tuple can forge one. So by default each is
 * counted in InErrs and the session goes on, as kcp-go's would; `failFast` ends the session at
 * the first one instead, and `connectTimeout` ends one that never heard from its peer at all.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { asyncScheduler, type Subscription } from 'rxjs';
import { KcpError } from '../../src/errors.js';
import { Clock } from '../conversation/update-clock.js';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { prepareSession, Session, type SessionOptions } from './session.js';
import { addressKey, icmpReported, parseHostPort, sendDatagram, setSocketBuffers, socketTypeFor, udpDatagrams } from './udp.js';

export interface DialOptions extends SessionOptions {
  /** `HOST:PORT` or `[IPv6]:PORT` of the peer. */
  connect: string;
  /** Conversation id (default: random, as kcp-go). */
  conv?: number;
  /** Local port to bind (default: an ephemeral one). */
  localPort?: number;
  /**
   * End the session at the first ICMP error about the peer (port, host or network unreachable,
   * administratively prohibited, ...: see `ICMP_ERRNO_CODES`), with a `KcpError` of code
   * `UNREACHABLE` whose `cause` is the socket error. Default false: such errors are counted in
   * InErrs and the session goes on (until `connectTimeout`, `idleTimeout` or `failOnDeadLink`
   * ends it, if set), because
   * ICMP is unauthenticated (one forged message would otherwise end a transfer) and a peer that
   * is restarting comes back. Other socket errors end the session either way (`SOCKET_ERROR`).
   */
  failFast?: boolean;
  /**
   * Fail the session when not one datagram that passes the CRC or AEAD check has come back from
   * the peer within this many ms of the first one sent (the first write or keepalive probe):
   * `ended$` says 'unreachable' and the `KcpError` says what the evidence shows: `KEY_MISMATCH`
   * when datagrams came back but none passed the check (the key or crypt differs), else
   * `CONNECT_TIMEOUT`, naming ICMP refusals when there were some (nothing listens). KCP has no
   * handshake, so `dial` resolves at once even where nothing listens; this is what tells. Once the
   * peer has answered it never fires (`keepalive` watches from then on). Default
   * `DEFAULT_CONNECT_TIMEOUT` (10 s); `false` waits for ever, as kcp-go does.
   */
  connectTimeout?: number | false;
}

/**
 * How long a dial waits for its peer's first answer by default: a few seconds more than any
 * round trip on Earth plus kcp-go's first retransmissions, short enough that a wrong address or
 * key is reported while the user still waits for it.
 */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;

let sharedClock: Clock | null = null;

/** The clock dialled sessions share when none is given: one per process. */
function defaultClock(): Clock {
  sharedClock ??= new Clock(asyncScheduler);
  return sharedClock;
}

/**
 * Opens a session to `options.connect`. Every option is checked first (a bad one throws a
 * TypeError or RangeError naming it before any socket exists); if anything fails after the
 * socket is made, the socket is closed before the promise rejects.
 */
export async function dial(options: DialOptions): Promise<Session> {
  if (typeof options?.connect !== 'string') throw new TypeError(`dial: connect must be a string HOST:PORT, got ${String(options?.connect)}`);
  const crypt = await prepareSession('dial', options);
  const target = parseHostPort(options.connect);
  const address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
  const socket = createSocket(socketTypeFor(address));
  try {
    return await open(options, crypt, target, address, socket);
  } catch (e) {
    try {
      socket.close();
    } catch {
      // never bound: nothing to close
    }
    throw e;
  }
}

async function open(options: DialOptions, crypt: PacketCrypt, target: { port: number }, address: string, socket: Socket): Promise<Session> {
  const clock = options.clock ?? (options.scheduler ? new Clock(options.scheduler) : defaultClock());
  const loopback = address === '::1' || address.startsWith('127.');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.localPort ?? 0, loopback ? address : undefined, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  setSocketBuffers(socket, options.sockbuf);
  const conv = options.conv ?? globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
  // a connected socket sends faster and only hears from the peer (the kernel drops other sources)
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(target.port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const failFast = options.failFast === true;
  // an ICMP error reaches whichever comes first, the next receive or the next send: both count
  const unreachable = (e: Error): boolean => {
    if (!icmpReported(e)) return false;
    if (session.closed) return true;
    session.stats.InErrs++;
    if (failFast) {
      const remote = addressKey(address, target.port);
      session.fail(new KcpError('UNREACHABLE', `${remote} unreachable: ${e.message}`, { conv, remote, cause: e }));
    }
    return true;
  };
  // other send errors (ENOBUFS, ...) stay dropped, as a lost datagram: KCP resends it
  const sent = (e: Error | null): void => void (e !== null && unreachable(e));
  // connectTimeout: armed by the first datagram out, disarmed by the first one in
  const connectTimeout = options.connectTimeout === false ? undefined : (options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT);
  let heard = false;
  let waiting: Subscription | undefined;
  const arm = (): void => {
    waiting = clock.scheduler.schedule(() => {
      if (heard || session.closed) return;
      session.fail(session.silenceError('CONNECT_TIMEOUT', connectTimeout!));
    }, connectTimeout);
  };
  const session = new Session(
    conv,
    { address, port: target.port },
    (dg) => {
      if (connectTimeout !== undefined && waiting === undefined && !heard) arm();
      sendDatagram(socket, dg, undefined, undefined, session.stats, sent);
    },
    crypt,
    options,
    clock,
    'active'
  );
  session.localPort = socket.address().port;
  const sub = udpDatagrams(socket, unreachable).subscribe({
    next: (d) => {
      if (d.port !== target.port || d.address !== address) return void session.stats.InErrs++;
      session.input(d.data);
      // answered: a datagram that passed the CRC or AEAD check and held a KCP segment
      if (!heard && session.stats.InSegs > 0) (heard = true, waiting?.unsubscribe());
    },
    error: (e: unknown) => session.fail(new KcpError('SOCKET_ERROR', `socket error: ${String(e)}`, { conv, cause: e })),
    complete: () => session.fail(new KcpError('SOCKET_CLOSED', 'socket closed', { conv })),
  });
  session.ended$.subscribe(() => {
    waiting?.unsubscribe();
    sub.unsubscribe();
    socket.close();
  });
  return session;
}
