/**
 * A kcptun-compatible TCP tunnel: TCP connections ⇄ smux streams ⇄ snappy ⇄ KCP over UDP.
 *
 *   tunnelClient: accepts TCP on `listen`, opens one smux stream per connection over KCP sessions
 *                 dialled to `remote` (`conn` of them, round robin, renewed after `autoExpire`)
 *   tunnelServer: accepts KCP sessions on `listen`, connects each stream the peer opens to `target`
 *
 * Either end talks to kcptun's (Debian's 20210922: kcp-go 5.6.1, smux 1.5.16, snappy framing, and
 * the last releases' additions): KCP in stream mode without write delay, as kcptun sets it; snappy
 * framing around smux unless `compress` is false; smux version, buffers, frame size and keepalive
 * as configured. A server takes smux v1 and v2 clients alike, each session in the version of its
 * first frame (up to `smux.version`). Half-close passes through: a TCP FIN becomes an smux FIN and
 * the other way round, `closeWait` seconds after the data (kcptun's --closewait). With `qpp`, each
 * stream's bytes are enciphered with Quantum Permutation Pads as kcptun's --QPP does
 * (`src/qpp`). A server `listen` of `HOST:MIN-MAX` listens on every port of the range; a client
 * `remote` of `HOST:MIN-MAX` dials the range's ports in turn, one per KCP session. A stream
 * whose target cannot be reached is closed.
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Transform } from 'node:stream';
import { asyncScheduler, interval, Subscription, type SchedulerLike } from 'rxjs';
import { QppPads, QppStream, QPP_DEFAULT_PADS } from '../../src/qpp/qpp.js';
import { KcpError } from '../../src/errors.js';
import { Snmp } from '../../src/stats.js';
import { Mux, type ByteDuplex, type MuxStream } from '../conversation/mux.js';
import { compressDuplex } from '../layers/snappy.js';
import { dial } from '../transport/dial.js';
import { Listener } from '../transport/listener.js';
import { muxStreamDuplex } from '../adapters/mux-stream.js';
import { assertSessionOptions, type Session, type SessionOptions } from '../transport/session.js';
import { parseHostPort } from '../transport/udp.js';
import { resolveSmuxConfig, type SmuxConfig, type SmuxStats } from '../../src/smux/mux.js';

export interface TunnelOptions {
  /** KCP session options (crypt, key, FEC shards, mtu, windows, nodelay, ...). Stream mode is always on. */
  session?: SessionOptions;
  /** smux version, receive and stream buffers, keepalive (kcptun: --smuxver, --smuxbuf, --streambuf, --keepalive). */
  smux?: SmuxConfig;
  /** Snappy framing around smux (default true; kcptun's --nocomp turns it off). */
  compress?: boolean;
  /** No "stream opened/closed" lines (kcptun's --quiet). */
  quiet?: boolean;
  /** Where log lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Keepalive and scavenger timing (default asyncScheduler). */
  scheduler?: SchedulerLike;
  /** Seconds between the end of one direction's data and passing its FIN on (kcptun's --closewait; default 0). */
  closeWait?: number;
  /**
   * Quantum Permutation Pads over every stream (kcptun's --QPP, --QPPCount): `seed` is kcptun's
   * --key, `pads` the number of pads (default 61). Both ends must agree; the KCP packets are
   * encrypted as usual underneath.
   */
  qpp?: { seed: string | Uint8Array; pads?: number };
}

export interface TunnelServerOptions extends TunnelOptions {
  /** UDP `HOST:PORT` to listen on, or `HOST:MIN-MAX` for every port of a range; `:PORT` means every interface. */
  listen: string;
  /** TCP `HOST:PORT` (or a Unix socket path) each stream is connected to. */
  target: string;
  /**
   * Most streams one KCP session may have open at once (default 1024): a stream the peer opens
   * beyond it is closed at once, counted in `streamsRefused` and logged (once per 10 s at most).
   */
  maxStreams?: number;
  /**
   * Most TCP connections to `target` at once, over every session (default 4096, one file
   * descriptor each): a stream beyond it is closed at once, counted and logged the same way.
   */
  maxConns?: number;
}

/** Default `TunnelServerOptions.maxStreams`: far more than a kcptun client multiplexes, far fewer than a peer could open. */
export const defaultMaxStreams = 1024;
/** Default `TunnelServerOptions.maxConns`: one descriptor each, well under the usual open-file limits of a server. */
export const defaultMaxConns = 4096;
/** How long a tunnel client waits before dialling again after a dial failed (kcptun waits 1 s). */
const reconnectWait = 1000;
/** At most one log line per this many ms says a tunnel server's cap was reached (with how often since). */
const capLogInterval = 10_000;

export interface TunnelClientOptions extends TunnelOptions {
  /** TCP `HOST:PORT` to accept connections on (`:PORT` means every interface), or a Unix socket path. */
  listen: string;
  /** UDP `HOST:PORT` of the tunnel server, or `HOST:MIN-MAX`: each new KCP session dials the next port of the range, in turn. */
  remote: string;
  /** KCP sessions to spread connections over (default 1). */
  conn?: number;
  /** Seconds after which a session takes no new streams and a new one is dialled (default 0: never). */
  autoExpire?: number;
  /** Seconds an expired session may keep carrying its streams before it is closed (default 600). */
  scavengeTtl?: number;
}

export interface TunnelStats {
  /** KCP sessions open now. */
  sessions: number;
  /** Streams open now, and opened (or accepted) in all. */
  streams: number;
  streamsTotal: number;
  /** Streams closed because the target could not be reached (server) or no stream could be opened (client). */
  streamsFailed: number;
  /** Server: streams closed at once because `maxStreams` or `maxConns` was reached. */
  streamsRefused: number;
  /** TCP bytes carried in each direction. */
  tcpBytesIn: number;
  tcpBytesOut: number;
  /** smux counters summed over every session. */
  smux: SmuxStats;
  /** KCP counters of this tunnel's sessions (and its listener), kcp-go's names. */
  snmp: Snmp;
}

export interface TunnelHandle {
  /** The bound address (UDP for a server, TCP for a client); a server on a port range: its first port. */
  readonly address: { address: string; port: number };
  /** Every bound address: a server on a port range has one per port. */
  readonly addresses: ReadonlyArray<{ address: string; port: number }>;
  stats(): TunnelStats;
  /** Stops accepting, closes every connection, stream and session. */
  close(): Promise<void>;
}

/** kcptun's `:PORT` (every interface) in a form `parseHostPort` and `net` take. */
function everyInterface(addr: string): string {
  return /^:\d+$/.test(addr) ? `0.0.0.0${addr}` : addr;
}

/**
 * kcptun's `HOST:PORT` or `HOST:MIN-MAX` (a port range, 1 ≤ MIN ≤ MAX ≤ 65535). Throws `TypeError`
 * as `parseHostPort` does.
 */
export function parsePortRange(addr: string): { host: string; minPort: number; maxPort: number } {
  const m = /^(.*):(\d{1,5})-(\d{1,5})$/.exec(addr);
  if (m === null) {
    const { host, port } = parseHostPort(everyInterface(addr));
    return { host, minPort: port, maxPort: port };
  }
  const min = Number(m[2]);
  const max = Number(m[3]);
  if (min < 1 || max > 65535 || min > max) throw new TypeError(`address: invalid port range ${min}-${max} in ${addr}`);
  const { host } = parseHostPort(everyInterface(`${m[1]}:${min}`));
  return { host, minPort: min, maxPort: max };
}

/** `host:port`, an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function emptySmuxStats(): SmuxStats {
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, framesDropped: 0, streamsOpened: 0, streamsAccepted: 0, nopsIn: 0, updsIn: 0, updsOut: 0 };
}

function addSmuxStats(into: SmuxStats, s: SmuxStats): void {
  for (const k of Object.keys(into) as Array<keyof SmuxStats>) into[k] += s[k];
}

/** What the tunnel keeps per KCP session. */
interface Carrier {
  session: Session;
  mux: Mux;
}

/** Bookkeeping shared by both ends. */
class TunnelCore {
  readonly carriers = new Set<Carrier>();
  readonly retiredSnmp = new Snmp();
  readonly retiredSmux = emptySmuxStats();
  readonly sockets = new Set<Socket>();
  private readonly duplexes = new Set<Duplex>();
  streams = 0;
  streamsTotal = 0;
  streamsFailed = 0;
  streamsRefused = 0;
  tcpBytesIn = 0;
  tcpBytesOut = 0;
  closing = false;

  constructor(readonly options: TunnelOptions) {
    // every option is checked before anything binds: a bad one throws at the call, not inside a
    // subscriber when the first session arrives
    resolveSmuxConfig(options.smux);
    assertSessionOptions('tunnel', kcptunSession(options));
    const cw = options.closeWait;
    if (cw !== undefined && !(Number.isFinite(cw) && cw >= 0)) throw new RangeError(`tunnel: closeWait must be a number of seconds ≥ 0, got ${cw}`);
    this.qppPads(); // built at start, as kcptun does, not on the first stream
  }

  log(...parts: unknown[]): void {
    this.options.log?.(parts.map(String).join(' '));
  }

  /** Wraps a KCP session as kcptun does: snappy unless turned off, then smux. */
  carry(session: Session, side: 'client' | 'server', localPort: number): Carrier {
    const transport: ByteDuplex = this.options.compress === false ? session : compressDuplex(session);
    // a server speaks the version of the client's first frame, up to its own
    const mux = new Mux(transport, { ...this.options.smux, detectVersion: side === 'server', side, scheduler: this.options.scheduler });
    const carrier: Carrier = { session, mux };
    this.carriers.add(carrier);
    const version = side === 'server' ? `1..${mux.session.config.version} (the client's)` : mux.session.config.version;
    this.log('smux version:', version, 'on connection:', `:${localPort}`, '->', `${session.remote.address}:${session.remote.port}`);
    mux.ended$.subscribe((e: KcpError | null) => {
      if (e && !this.closing) this.log(`${e.code}: ${e.message}`);
      this.retire(carrier);
    });
    session.ended$.subscribe(() => mux.close());
    return carrier;
  }

  private retire(c: Carrier): void {
    if (!this.carriers.delete(c)) return;
    c.session.close();
    this.retiredSnmp.add(c.session.stats);
    addSmuxStats(this.retiredSmux, c.mux.stats);
  }

  /** Joins a TCP connection and an smux stream both ways; `label` names them in the log. */
  bridge(tcp: Socket, stream: MuxStream, label: string): void {
    this.sockets.add(tcp);
    this.streams++;
    this.streamsTotal++;
    const quiet = this.options.quiet === true;
    if (!quiet) this.log('stream opened', label);
    const duplex = muxStreamDuplex(stream);
    this.duplexes.add(duplex);
    tcp.setNoDelay(true); // Go's default for TCP, so kcptun's
    // each direction: the data (QPP-enciphered toward the mux, deciphered from it), then the end
    // closeWait seconds later (kcptun's Pipe sleeps before CloseWrite); without either, a plain pipe
    const up = this.stage('encrypt');
    const down = this.stage('decrypt');
    if (up) tcp.pipe(up).pipe(duplex);
    else tcp.pipe(duplex);
    if (down) duplex.pipe(down).pipe(tcp);
    else duplex.pipe(tcp);
    let open = 2;
    const closed = () => {
      if (--open > 0) return;
      this.streams--;
      if (!quiet) this.log('stream closed', label);
    };
    // a TCP side that fails or closes closes the stream (FIN, as smux's Close); a stream that
    // fails (its mux ended) resets the TCP side; ends pass through the pipes both ways
    const destroyMiddle = () => {
      up?.destroy();
      down?.destroy();
    };
    tcp.on('error', () => duplex.destroy());
    tcp.on('close', () => {
      this.sockets.delete(tcp);
      this.tcpBytesIn += tcp.bytesRead;
      this.tcpBytesOut += tcp.bytesWritten;
      duplex.destroy();
      destroyMiddle();
      closed();
    });
    duplex.on('error', () => tcp.destroy());
    duplex.on('close', () => {
      this.duplexes.delete(duplex);
      closed();
    });
  }

  private pads: QppPads | null | undefined = undefined;
  private get qppSeed(): Uint8Array | null {
    const q = this.options.qpp;
    if (!q) return null;
    return typeof q.seed === 'string' ? new TextEncoder().encode(q.seed) : q.seed;
  }

  /** The pads, built once and shared by every stream (null without QPP). */
  qppPads(): QppPads | null {
    if (this.pads === undefined) this.pads = this.options.qpp ? new QppPads(this.qppSeed!, this.options.qpp.pads ?? QPP_DEFAULT_PADS) : null;
    return this.pads;
  }

  /**
   * What sits between a TCP connection and its stream in one direction: QPP (`encrypt` toward the
   * mux, `decrypt` from it) and an end held back `closeWait` seconds; null when neither applies.
   */
  private stage(direction: 'encrypt' | 'decrypt'): Transform | null {
    const wait = (this.options.closeWait ?? 0) * 1000;
    const pads = this.qppPads();
    if (pads === null && wait <= 0) return null;
    const q = pads === null ? null : new QppStream(pads, this.qppSeed!);
    const scheduler = this.options.scheduler ?? asyncScheduler;
    let timer: Subscription | null = null;
    return new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (q === null) return done(null, chunk);
        const b = Buffer.from(chunk); // a copy: the chunk may be a view others hold
        if (direction === 'encrypt') q.encrypt(b);
        else q.decrypt(b);
        done(null, b);
      },
      flush(done) {
        if (wait <= 0) return done();
        timer = scheduler.schedule(() => done(), wait);
      },
      destroy(err, done) {
        timer?.unsubscribe();
        done(err);
      },
    });
  }

  snmp(extra?: Snmp): Snmp {
    const total = new Snmp().add(this.retiredSnmp);
    for (const c of this.carriers) total.add(c.session.stats);
    if (extra) total.add(extra);
    return total;
  }

  stats(extra?: Snmp): TunnelStats {
    const smux = emptySmuxStats();
    addSmuxStats(smux, this.retiredSmux);
    for (const c of this.carriers) addSmuxStats(smux, c.mux.stats);
    return {
      sessions: this.carriers.size,
      streams: this.streams,
      streamsTotal: this.streamsTotal,
      streamsFailed: this.streamsFailed,
      streamsRefused: this.streamsRefused,
      tcpBytesIn: this.tcpBytesIn + [...this.sockets].reduce((n, s) => n + s.bytesRead, 0),
      tcpBytesOut: this.tcpBytesOut + [...this.sockets].reduce((n, s) => n + s.bytesWritten, 0),
      smux,
      snmp: this.snmp(extra),
    };
  }

  /**
   * Closes every stream, connection and session: the streams' FINs are sent, then each session
   * ends gracefully (waiting up to `graceMs` for the peer to acknowledge them) and closes.
   */
  async shutdown(graceMs = 3000): Promise<void> {
    this.closing = true;
    for (const d of this.duplexes) d.destroy();
    for (const s of this.sockets) s.destroy();
    const carriers = [...this.carriers];
    const scheduler = this.options.scheduler ?? asyncScheduler;
    const giveUp = new AbortController();
    const timer = scheduler.schedule(() => giveUp.abort(), graceMs);
    await Promise.all(carriers.map((c) => c.session.end({ signal: giveUp.signal }).catch(() => {})));
    timer.unsubscribe();
    for (const c of carriers) c.mux.close();
  }
}

/** The session options a tunnel runs its KCP sessions with: kcptun's stream mode, without write delay. */
export function kcptunSession(o: TunnelOptions): SessionOptions {
  return { ...o.session, stream: true, writeDelay: false };
}

/** What a tunnel server does with the KCP sessions it accepts, whoever accepts them. */
export interface TunnelServerSessions {
  /** Carries `session` (accepted on `localPort`): every stream its peer opens is connected to the target. */
  serve(session: Session, localPort: number): void;
  /** The counters of every session served (`extra`: the listeners' own, added to `snmp`). */
  stats(extra?: Snmp): TunnelStats;
  /** Closes every stream and connection, ends every session gracefully (see `tunnelServer`'s close). */
  shutdown(): Promise<void>;
}

/**
 * The tunnel server's work on each session, apart from listening: `tunnelServer` runs it on its
 * listeners, and a worker listener (`listenWorkers`) runs it in each worker, on the sessions that
 * worker accepts. Checks `maxStreams` and `maxConns` (RangeError) and parses `target` now.
 */
export function tunnelServerSessions(options: Omit<TunnelServerOptions, 'listen'>): TunnelServerSessions {
  const core = new TunnelCore(options);
  const maxStreams = options.maxStreams ?? defaultMaxStreams;
  const maxConns = options.maxConns ?? defaultMaxConns;
  if (!(Number.isInteger(maxStreams) && maxStreams > 0)) throw new RangeError(`tunnel: maxStreams must be a positive integer, got ${String(options.maxStreams)}`);
  if (!(Number.isInteger(maxConns) && maxConns > 0)) throw new RangeError(`tunnel: maxConns must be a positive integer, got ${String(options.maxConns)}`);
  const scheduler = options.scheduler ?? asyncScheduler;
  let refusedSinceLog = 0;
  let lastCapLog = -Infinity;
  /** Closes a stream over a cap; one log line per `capLogInterval` at most, whatever a peer opens. */
  const refuse = (stream: MuxStream, why: string): void => {
    stream.close();
    core.streamsRefused++;
    refusedSinceLog++;
    const now = scheduler.now();
    if (now - lastCapLog < capLogInterval) return;
    core.log(`${why}: ${refusedSinceLog} stream(s) refused since the last such line`);
    lastCapLog = now;
    refusedSinceLog = 0;
  };
  const target = options.target;
  let targetAddr: { host: string; port: number } | { path: string };
  try {
    targetAddr = parseHostPort(target);
  } catch {
    targetAddr = { path: target }; // not HOST:PORT: a Unix socket, as kcptun
  }
  return {
    serve(session, localPort) {
      core.log('remote address:', `${session.remote.address}:${session.remote.port}`);
      const { mux } = core.carry(session, 'server', localPort);
      let open = 0;
      mux.streams$.subscribe((stream) => {
        if (open >= maxStreams) return refuse(stream, `maxstreams ${maxStreams} reached on the session from ${session.remote.address}:${session.remote.port}`);
        if (core.sockets.size >= maxConns) return refuse(stream, `maxconns ${maxConns} reached: connections to ${target} are all in use`);
        open++;
        stream.ended$.subscribe(() => open--);
        const tcp = createConnection({ ...targetAddr, allowHalfOpen: true });
        core.sockets.add(tcp);
        let bridged = false;
        tcp.once('connect', () => {
          bridged = true;
          core.bridge(tcp, stream, `in: ${session.remote.address}:${session.remote.port}(${stream.id}) out: ${target}`);
        });
        tcp.once('error', (e: Error) => {
          if (bridged) return; // the bridge handles it
          core.sockets.delete(tcp);
          core.streamsFailed++;
          core.log(e.message);
          stream.close();
        });
      });
    },
    stats: (extra) => core.stats(extra),
    shutdown: () => core.shutdown(),
  };
}

/** Starts a tunnel server: KCP on `listen`, every stream connected to `target`. */
export async function tunnelServer(options: TunnelServerOptions): Promise<TunnelHandle> {
  const server = tunnelServerSessions(options);
  const range = parsePortRange(options.listen);
  const listeners: Listener[] = [];
  try {
    for (let port = range.minPort; port <= range.maxPort; port++) {
      listeners.push(await Listener.listen({ ...kcptunSession(options), listen: hostPort(range.host, port), scheduler: options.scheduler }));
    }
  } catch (e) {
    for (const l of listeners) l.close();
    throw e;
  }
  const subs = listeners.map((listener) => listener.sessions$.subscribe((session) => server.serve(session, listener.address.port)));
  return {
    get address() {
      return listeners[0]!.address;
    },
    get addresses() {
      return listeners.map((l) => l.address);
    },
    stats: () => server.stats(listeners.reduce((s, l) => s.add(l.stats), new Snmp())),
    async close() {
      for (const s of subs) s.unsubscribe();
      await server.shutdown();
      for (const l of listeners) l.close();
    },
  };
}

/** Starts a tunnel client: TCP on `listen`, each connection carried as a stream to `remote`. */
export async function tunnelClient(options: TunnelClientOptions): Promise<TunnelHandle> {
  const core = new TunnelCore(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const conn = options.conn ?? 1;
  if (!Number.isInteger(conn) || conn < 1 || conn > 65535) throw new RangeError(`tunnel: conn must be 1..65535, got ${conn}`);
  const autoExpire = options.autoExpire ?? 0;
  const scavengeTtl = options.scavengeTtl ?? 600;
  // kcptun dials lazily, on the first connection; the address is checked now
  const remote = parsePortRange(options.remote);
  let dials = 0;
  // kcptun's dial: each new KCP session takes the next port of the range, round robin
  const pickRemote = () => hostPort(remote.host, remote.minPort + (dials++ % (remote.maxPort - remote.minPort + 1)));
  const slots: Array<{ carrier: Promise<Carrier>; expiry: number } | null> = new Array(conn).fill(null);
  const scavenging: Array<{ carrier: Carrier; deadline: number }> = [];
  let rr = 0;

  /** Retry waits under way: `close()` cancels them (each rejects), so nothing dials after it. */
  const waits = new Set<{ timer: Subscription; reject: (e: Error) => void }>();
  const closedError = () => new KcpError('CLOSED', 'tunnel: closed while re-connecting');
  const createConn = async (): Promise<Carrier> => {
    for (;;) {
      if (core.closing) throw closedError();
      try {
        const session = await dial({ ...kcptunSession(options), connect: pickRemote(), scheduler: options.scheduler });
        if (core.closing) {
          session.close({ linger: false });
          throw closedError();
        }
        return core.carry(session, 'client', session.localPort);
      } catch (e) {
        if (core.closing) throw e;
        core.log('re-connecting:', (e as Error).message);
        await new Promise<void>((resolve, reject) => {
          const wait = { timer: Subscription.EMPTY, reject };
          wait.timer = scheduler.schedule(() => {
            waits.delete(wait);
            resolve();
          }, reconnectWait);
          waits.add(wait);
        });
      }
    }
  };

  const carrierFor = async (): Promise<Carrier> => {
    const idx = rr++ % conn;
    const now = scheduler.now();
    const slot = slots[idx];
    if (slot !== null) {
      const c = await slot.carrier;
      const expired = autoExpire > 0 && now > slot.expiry;
      if (!c.mux.closed && !expired) return c;
      if (slots[idx] !== slot) return carrierFor(); // another connection renewed it meanwhile
    }
    const fresh = { carrier: createConn(), expiry: now + autoExpire * 1000 };
    slots[idx] = fresh;
    const c = await fresh.carrier;
    if (autoExpire > 0) scavenging.push({ carrier: c, deadline: fresh.expiry + scavengeTtl * 1000 });
    return c;
  };

  const scavenger: Subscription | null =
    autoExpire > 0
      ? interval(1000, scheduler).subscribe(() => {
          const now = scheduler.now();
          for (let i = scavenging.length - 1; i >= 0; i--) {
            const s = scavenging[i]!;
            if (s.carrier.mux.closed) {
              core.log('scavenger: session normally closed:', `:${s.carrier.session.localPort}`);
              scavenging.splice(i, 1);
            } else if (now > s.deadline) {
              s.carrier.mux.close();
              core.log('scavenger: session closed due to ttl:', `:${s.carrier.session.localPort}`);
              scavenging.splice(i, 1);
            }
          }
        })
      : null;

  const server: Server = createServer({ allowHalfOpen: true }, (tcp) => {
    tcp.on('error', () => {});
    carrierFor().then(
      (c) => {
        if (core.closing) return tcp.destroy();
        let stream: MuxStream;
        try {
          stream = c.mux.open();
        } catch (e) {
          core.streamsFailed++;
          core.log((e as Error).message);
          return tcp.destroy();
        }
        core.bridge(tcp, stream, `in: ${tcp.remoteAddress}:${tcp.remotePort} out: ${c.session.remote.address}:${c.session.remote.port}(${stream.id})`);
      },
      () => tcp.destroy()
    );
  });
  let local: { host: string; port: number } | { path: string };
  try {
    local = parseHostPort(everyInterface(options.listen));
  } catch {
    local = { path: options.listen }; // not HOST:PORT: a Unix socket, as kcptun's last release
  }
  /** The TCP address, or for a Unix socket its path and port 0. */
  const boundAddress = () => {
    const a = server.address();
    return typeof a === 'string' || a === null ? { address: options.listen, port: 0 } : { address: a.address, port: a.port };
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in local) server.listen(local.path, done);
    else server.listen(local.port, local.host === '0.0.0.0' && /^:\d+$/.test(options.listen) ? undefined : local.host, done);
  });
  return {
    get address() {
      return boundAddress();
    },
    get addresses() {
      return [boundAddress()];
    },
    stats: () => core.stats(),
    async close() {
      scavenger?.unsubscribe();
      server.close();
      core.closing = true;
      for (const w of waits) {
        w.timer.unsubscribe();
        w.reject(closedError());
      }
      waits.clear();
      await core.shutdown();
    },
  };
}
