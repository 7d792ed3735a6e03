/**
 * Dials a kcp-go-compatible peer: binds an ephemeral UDP socket (on the loopback interface when
 * the peer is loopback), picks a random conv, and hears only the peer: the socket is connected,
 * so the kernel drops datagrams from any other source (kcp-go HEAD's read loop drops them and
 * counts InErrs; here they never arrive). No handshake: the first datagram creates the session.
 * @module
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { asyncScheduler } from 'rxjs';
import { KcpError } from '../../src/errors.js';
import { Clock } from '../update-clock.js';
import { resolveCrypt, Session, type SessionOptions } from './session.js';
import { parseHostPort, sendDatagram, setSocketBuffers, socketTypeFor, udpDatagrams } from './udp.js';

export interface DialOptions extends SessionOptions {
  /** `HOST:PORT` or `[IPv6]:PORT` of the peer. */
  connect: string;
  /** Conversation id (default: random, as kcp-go). */
  conv?: number;
  /** Local port to bind (default: an ephemeral one). */
  localPort?: number;
}

let sharedClock: Clock | null = null;

/** The clock dialled sessions share when none is given: one per process. */
function defaultClock(): Clock {
  sharedClock ??= new Clock(asyncScheduler);
  return sharedClock;
}

export async function dial(options: DialOptions): Promise<Session> {
  const target = parseHostPort(options.connect);
  const address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
  const crypt = resolveCrypt(options);
  const clock = options.clock ?? (options.scheduler ? new Clock(options.scheduler) : defaultClock());
  const socket = createSocket(socketTypeFor(address));
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
  const session = new Session(
    conv,
    { address, port: target.port },
    (dg) => sendDatagram(socket, dg, undefined, undefined, session.stats),
    crypt,
    options,
    clock,
    'active'
  );
  session.localPort = socket.address().port;
  // a connected socket hears ICMP port-unreachable as ECONNREFUSED: like kcp-go, keep going and
  // let the dead-link limit decide (the peer may come back)
  const refused = (e: Error) => (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' && (session.stats.InErrs++, true);
  const sub = udpDatagrams(socket, refused).subscribe({
    next: (d) => {
      if (d.port !== target.port || d.address !== address) session.stats.InErrs++;
      else session.input(d.data);
    },
    error: (e: unknown) => session.fail(new KcpError('SOCKET_ERROR', `socket error: ${String(e)}`, { conv, cause: e })),
    complete: () => session.fail(new KcpError('SOCKET_CLOSED', 'socket closed', { conv })),
  });
  session.ended$.subscribe(() => {
    sub.unsubscribe();
    socket.close();
  });
  return session;
}
