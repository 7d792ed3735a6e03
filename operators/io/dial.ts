/**
 * Dials a kcp-go-compatible peer: binds an ephemeral UDP socket (on the loopback interface when
 * the peer is loopback), picks a random conv, and drops datagrams from any other source
 * (`InErrs`), as kcp-go HEAD's client read loop does (spec §5.3, §5.5). No handshake: the first
 * datagram creates the session at the peer.
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
  const session = new Session(
    conv,
    { address, port: target.port },
    (dg) => sendDatagram(socket, dg, target.port, address, session.stats, (e) => session.fail(new KcpError('SOCKET_ERROR', `send failed: ${e.message}`, { conv, cause: e }))),
    crypt,
    options,
    clock,
    'active'
  );
  session.localPort = socket.address().port;
  const sub = udpDatagrams(socket).subscribe({
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
