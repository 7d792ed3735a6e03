/**
 * A kcp-go-compatible listener: one UDP socket, one cipher and one clock shared by every session,
 * sessions keyed by remote address and created by the first valid datagram from a new one
 * (kcp-go `Listener.packetInput`, spec §5.4). Decryption and the CRC check come before
 * demultiplexing, as in kcp-go. Adds what kcp-go lacks: `maxSessions` and `idleTimeout`.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { asyncScheduler, Observable, Subject, type Subscription } from 'rxjs';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { openDatagram } from '../../src/crypt/packet.js';
import { ReplayWindow } from '../../src/crypt/replay-window.js';
import { KcpError } from '../../src/errors.js';
import { classify } from '../../src/fec/fec-packet.js';
import { IKCP_OVERHEAD } from '../../src/kcp/constants.js';
import { Snmp } from '../../src/stats.js';
import { readU32 } from '../../src/wire/bytes.js';
import { Clock } from '../update-clock.js';
import { resolveCryptAsync, Session, type SessionOptions } from './session.js';
import { addressKey, parseHostPort, sendDatagram, setSocketBuffers, socketTypeFor, udpDatagrams, type Datagram } from './udp.js';

/** kcp-go's accept backlog: sessions created but not yet taken by a subscriber. */
export const acceptBacklog = 128;

export interface ListenOptions extends SessionOptions {
  /** `HOST:PORT`, `[::1]:PORT` or a port (binds 127.0.0.1). Port 0 picks a free one. */
  listen: string;
  /**
   * Most sessions held at once; datagrams that would create more are dropped (SessionsRefused).
   * Default: no limit, as kcp-go. A listener exposed to the internet needs this and `idleTimeout`
   * both: one datagram from a new source address creates a session (with 'none' or 'null' anyone
   * can send one; with a cipher, anyone can replay a captured one), KCP sends nothing while idle,
   * and an idle session holds about 45 KiB. A limit without `idleTimeout` is filled by one flood
   * for good. `rxkcp echo` and `sink` default to 4096 sessions and 60 s.
   */
  maxSessions?: number;
  /** Use this bound socket instead of creating one (the listener then never closes it). */
  socket?: Socket;
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
    this.sub = udpDatagrams(socket).subscribe({
      next: (d) => this.packetInput(d),
      error: (e: unknown) => this.failAll(new KcpError('SOCKET_ERROR', `listener socket error: ${String(e)}`, { cause: e })),
      complete: () => this.failAll(new KcpError('SOCKET_CLOSED', 'listener socket closed')),
    });
  }

  /** Binds a UDP socket and starts listening. */
  static async listen(options: ListenOptions): Promise<Listener> {
    const crypt = await resolveCryptAsync(options); // a password's key, off the event loop
    if (options.socket) return new Listener(options.socket, false, options, crypt);
    const { host, port } = parseHostPort(options.listen);
    const socket = createSocket({ type: socketTypeFor(host), reuseAddr: false });
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

  /** Sessions held now. */
  get size(): number {
    return this.sessionsByAddr.size;
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
    switch (classify(body)) {
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
      if (conv < 0 || conv === existing.conv) return existing.inputBody(body);
      if (sn !== 0) return; // another conv mid-stream: not ours
      // sn 0 with another conv: the peer restarted; kcp-go replaces the session
      existing.fail(new KcpError('RESET', `session ${existing.conv} replaced by conv ${conv} from ${key}`, { conv: existing.conv, remote: key }));
    }
    if (conv < 0) return;
    if (this.pending.length >= acceptBacklog || (this.options.maxSessions !== undefined && this.sessionsByAddr.size >= this.options.maxSessions)) {
      this.stats.SessionsRefused++;
      return;
    }
    const socket = this.socket;
    const session: Session = new Session(
      conv,
      { address: d.address, port: d.port },
      (dg) => sendDatagram(socket, dg, d.port, d.address, session.stats),
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
    });
    session.inputBody(body);
    if (this.acceptors > 0) this.accepted.next(session);
    else this.pending.push(session);
  }

  private socketClosed = false;

  private failAll(e: KcpError): void {
    if (e.code === 'SOCKET_CLOSED') this.socketClosed = true;
    for (const s of [...this.sessionsByAddr.values()]) s.fail(e);
    this.accepted.complete();
  }

  /** Stops listening: closes the socket if the listener made it and ends every session. Idempotent. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const s of [...this.sessionsByAddr.values()]) s.close();
    this.sub.unsubscribe();
    this.accepted.complete();
    if (this.ownsSocket && !this.socketClosed) this.socket.close();
  }
}
