/**
 * A seeded user-space network emulator: a UDP relay between clients and one server that loses,
 * duplicates, reorders, delays, rate-limits and blackholes datagrams, each direction on its own.
 *
 *     client ──▶ relay.listen ──(up: impairments)──▶ upstream socket ──▶ server
 *     client ◀── relay.listen ◀─(down: impairments)── upstream socket ◀── server
 *
 * It behaves like a NAT: every distinct client address gets its own upstream socket, so several
 * clients through one relay reach the server from distinct addresses, and, like a NAT, it forgets
 * a mapping nothing crossed for `mappingTimeout` and holds at most `maxMappings` (the least
 * recently used goes first), so sources that send once do not hold a socket each for good. Every decision (loss, burst
 * state, duplication, reordering, jitter) comes from seeded generators, one set per direction and
 * one generator per kind of decision, so the same seed and the same datagram sequence give the
 * same decisions, and turning one impairment on does not change the decisions of another.
 * Delays run on the scheduler handed in (default asyncScheduler); a datagram that is held is
 * copied first, so the socket's buffer can be reused.
 *
 * @example
 * const r = await relay({ connect: '127.0.0.1:4000', loss: 0.02, seed: 7 });
 * // clients dial `127.0.0.1:${r.address.port}`; later:
 * console.log(r.stats.snapshot());
 * await r.close();
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { DueQueue } from '../../src/sim/due-queue.js';
import { assertPathOptions, PathModel, type PathOptions } from '../../src/sim/path.js';
import { addressKey, parseHostPort, setSocketBuffers, socketTypeFor } from '../transport/udp.js';

/**
 * What one direction of the emulated link does to the datagrams crossing it: a `PathOptions` path
 * (the model `virtualLink` uses too: bottleneck rate and drop-tail queue, then bursty and random
 * loss, duplication, delay, jitter, reordering) plus blackholes.
 */
export interface Impairment extends PathOptions {
  /** Drops everything from `at` ms after the relay starts, for `duration` ms. */
  blackhole?: { at: number; duration: number };
}

export interface RelayOptions extends Impairment {
  /** `HOST:PORT` the clients send to (default 127.0.0.1:0, an ephemeral port). */
  listen?: string;
  /** `HOST:PORT` of the server (an IP literal). */
  connect: string;
  /**
   * Seed of every decision (default 1). The up direction decides as a `PathModel` seeded with
   * `seed`, the down direction as one seeded with `seed + 1`, so `virtualNetwork` with
   * `ab: { ...path, seed }` and `ba: { ...path, seed: seed + 1 }` makes the same decisions.
   */
  seed?: number;
  /** Client → server: fields here replace the shared ones. */
  up?: Impairment;
  /** Server → client: fields here replace the shared ones. */
  down?: Impairment;
  /**
   * A client mapping (its upstream socket) that no datagram crossed, either way, for this many ms
   * is closed (default 120 000: RFC 4787's smallest UDP mapping timeout for a NAT, REQ-5).
   */
  mappingTimeout?: number;
  /**
   * Most client mappings at once (default 4096, one upstream socket and file descriptor each); a
   * new client beyond it closes the least recently used one.
   */
  maxMappings?: number;
  /** Time source for delays, bandwidth and blackholes (default asyncScheduler). */
  scheduler?: SchedulerLike;
}

/** Default `RelayOptions.mappingTimeout`: RFC 4787 REQ-5's smallest UDP mapping timeout. */
export const defaultMappingTimeout = 120_000;
/** Default `RelayOptions.maxMappings`: far more clients than a test relays, far fewer descriptors than a process may open. */
export const defaultMaxMappings = 4096;

/** Datagrams dropped, by cause. */
export interface RelayDrops {
  /** Independent loss. */
  loss: number;
  /** Lost in the bad state of a Gilbert–Elliott burst. */
  burst: number;
  /** Inside a blackhole window (on arrival, or when a held datagram came due inside one). */
  blackhole: number;
  /** The bandwidth-limited queue was full. */
  queue: number;
  /** All of the above. */
  total: number;
}

/** Counters of one direction. received + duplicated = forwarded + dropped.total + held. */
export interface RelayDirectionStats {
  /** Datagrams that reached the relay. */
  received: number;
  /** Datagrams sent on (duplicates included). */
  forwarded: number;
  dropped: RelayDrops;
  /** Datagrams sent twice (each counts once here, twice in `forwarded`). */
  duplicated: number;
  /** Copies held back to be overtaken. */
  reordered: number;
  /** Bytes received. */
  bytes: number;
  /** Bytes sent on. */
  forwardedBytes: number;
  /** Copies waiting for their time now. */
  held: number;
  /** Most bytes ever waiting for the bandwidth-limited link (the queue's high-water mark). */
  queueMax: number;
  /** Socket errors seen while sending (counted, never thrown). */
  errors: number;
}

export interface RelayStatsSnapshot {
  up: RelayDirectionStats;
  down: RelayDirectionStats;
  clients: number;
  /** Mappings closed after `mappingTimeout` without traffic. */
  expired: number;
  /** Mappings closed to make room for a new client (`maxMappings`). */
  evicted: number;
}

/** Live counters; `snapshot()` copies them into plain JSON. */
export interface RelayStats {
  readonly up: RelayDirectionStats;
  readonly down: RelayDirectionStats;
  /** Client addresses mapped now (one upstream socket each). */
  readonly clients: number;
  /** Mappings closed after `mappingTimeout` without traffic. */
  readonly expired: number;
  /** Mappings closed to make room for a new client (`maxMappings`). */
  readonly evicted: number;
  snapshot(): RelayStatsSnapshot;
}

export interface Relay {
  /** Where the clients send. */
  readonly address: { address: string; port: number };
  readonly stats: RelayStats;
  /** The upstream port each client address (`host:port`) is mapped to. */
  readonly mappings: ReadonlyMap<string, number>;
  /** Drops everything in both directions from now for `durationMs` ms. */
  blackhole(durationMs: number): void;
  /** Closes every socket and drops what is held. Idempotent. */
  close(): Promise<void>;
}

/** A client address's mapping: its upstream socket and when a datagram last crossed it. */
interface Mapping {
  socket: Socket;
  port: number;
  lastUsed: number;
  closed: boolean;
  toServer: (data: Uint8Array) => void;
}

function checkImpairment(o: Impairment, where: string): void {
  assertPathOptions(o, `relay: ${where}`);
  if (o.blackhole !== undefined) {
    if (typeof o.blackhole !== 'object' || o.blackhole === null) throw new TypeError(`relay: ${where}blackhole must be { at, duration }`);
    if (o.blackhole.at === undefined || o.blackhole.duration === undefined) throw new RangeError(`relay: ${where}blackhole needs at and duration`);
    for (const k of ['at', 'duration'] as const) {
      const v = o.blackhole[k];
      if (typeof v !== 'number' || !(v >= 0 && Number.isFinite(v))) throw new RangeError(`relay: ${where}blackhole.${k} must be a finite number ≥ 0, got ${String(v)}`);
    }
  }
}

/** Validates relay options; throws RangeError/TypeError naming the bad one. */
export function assertRelayOptions(o: RelayOptions): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('relay: options must be an object');
  if (typeof o.connect !== 'string') throw new TypeError('relay: connect (HOST:PORT of the server) is required');
  const target = parseHostPort(o.connect);
  if (!isIP(target.host)) throw new TypeError(`relay: connect must name an IP address, got ${o.connect}`);
  if (target.port === 0) throw new RangeError(`relay: connect needs a port other than 0, got ${o.connect}`);
  const local = parseHostPort(o.listen ?? '127.0.0.1:0');
  if (!isIP(local.host)) throw new TypeError(`relay: listen must name an IP address, got ${String(o.listen)}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new TypeError(`relay: seed must be an integer, got ${String(o.seed)}`);
  if (o.mappingTimeout !== undefined && !(typeof o.mappingTimeout === 'number' && o.mappingTimeout > 0 && Number.isFinite(o.mappingTimeout))) {
    throw new RangeError(`relay: mappingTimeout must be a finite number of ms > 0, got ${String(o.mappingTimeout)}`);
  }
  if (o.maxMappings !== undefined && !(Number.isInteger(o.maxMappings) && o.maxMappings > 0)) throw new RangeError(`relay: maxMappings must be a positive integer, got ${String(o.maxMappings)}`);
  checkImpairment(o, '');
  if (o.up !== undefined) checkImpairment(o.up, 'up.');
  if (o.down !== undefined) checkImpairment(o.down, 'down.');
}

function newDirectionStats(): RelayDirectionStats {
  return {
    received: 0,
    forwarded: 0,
    dropped: { loss: 0, burst: 0, blackhole: 0, queue: 0, total: 0 },
    duplicated: 0,
    reordered: 0,
    bytes: 0,
    forwardedBytes: 0,
    held: 0,
    queueMax: 0,
    errors: 0,
  };
}

function copyDirectionStats(s: RelayDirectionStats): RelayDirectionStats {
  return { ...s, dropped: { ...s.dropped } };
}

interface Held {
  due: number;
  data: Uint8Array;
  send: (data: Uint8Array) => void;
}

/**
 * One direction of the link: decides on each datagram as it arrives and sends it on at once or
 * when its time comes. Holds a min-heap of copies by (due, arrival order) and keeps one scheduled
 * action, for the earliest.
 */
class Direction {
  readonly stats = newDirectionStats();
  private readonly path: PathModel;
  private readonly held = new DueQueue<Held>();
  private timer: Subscription | null = null;
  private armedFor = Infinity;
  private closed = false;

  constructor(
    o: Impairment,
    seed: number,
    private readonly scheduler: SchedulerLike,
    /** True while a blackhole covers time `now` (ms). */
    private readonly dark: (now: number) => boolean
  ) {
    const { blackhole: _b, ...path } = o;
    this.path = new PathModel(path, seed);
  }

  /** A datagram arrived; `send` puts it on the wire. `data` is only valid during this call. */
  arrive(data: Uint8Array, send: (data: Uint8Array) => void): void {
    if (this.closed) return;
    const s = this.stats;
    s.received++;
    s.bytes += data.length;
    const now = this.scheduler.now();
    if (this.dark(now)) {
      s.dropped.blackhole++;
      s.dropped.total++;
      return;
    }
    const dues = this.path.decide(data.length, now);
    const p = this.path.stats;
    s.dropped.total += p.dropped.total - s.dropped.loss - s.dropped.burst - s.dropped.queue;
    s.dropped.loss = p.dropped.loss;
    s.dropped.burst = p.dropped.burst;
    s.dropped.queue = p.dropped.queue;
    s.duplicated = p.duplicated;
    s.reordered = p.reordered;
    s.queueMax = p.queueMax;
    for (let i = 0; i < dues.length; i++) {
      const due = dues[i]!;
      // at once unless it is held, or copies already due are still waiting (they go first)
      if (due <= now && !((this.held.peekDue() ?? Infinity) <= now)) this.forward(data, send);
      else this.hold({ due, data: data.slice(), send });
    }
  }

  /** Starts nothing new and drops what is held. */
  close(): void {
    this.closed = true;
    this.timer?.unsubscribe();
    this.timer = null;
    this.stats.held = 0;
    this.held.clear();
  }

  private forward(data: Uint8Array, send: (data: Uint8Array) => void): void {
    this.stats.forwarded++;
    this.stats.forwardedBytes += data.length;
    send(data);
  }

  private hold(h: Held): void {
    this.held.push(h, h.due);
    this.stats.held = this.held.size;
    this.arm();
  }

  private arm(): void {
    const due = this.held.peekDue();
    if (this.closed || due === undefined) return;
    if (this.timer !== null && this.armedFor <= due) return;
    this.timer?.unsubscribe();
    this.armedFor = due;
    // whole milliseconds, rounded up: a copy never leaves before its time
    this.timer = this.scheduler.schedule(() => this.fire(), Math.max(0, Math.ceil(due - this.scheduler.now())));
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = this.scheduler.now();
    while (!this.closed && (this.held.peekDue() ?? Infinity) <= now) {
      const h = this.held.pop();
      this.stats.held = this.held.size;
      if (this.dark(now)) {
        this.stats.dropped.blackhole++;
        this.stats.dropped.total++;
      } else this.forward(h.data, h.send);
    }
    this.arm();
  }
}

function bindSocket(socket: Socket, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** A window of time (ms on the scheduler's clock) in which everything is dropped. */
interface Window {
  from: number;
  until: number;
}

/**
 * Starts a relay listening on `options.listen` and forwarding to `options.connect`. Options are
 * checked when called (RangeError/TypeError); the promise resolves once the socket is bound.
 */
export function relay(options: RelayOptions): Promise<Relay> {
  assertRelayOptions(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const seed = options.seed ?? 1;
  const target = parseHostPort(options.connect);
  const local = parseHostPort(options.listen ?? '127.0.0.1:0');
  const { up: upOverride, down: downOverride, listen: _l, connect: _c, seed: _s, scheduler: _sc, mappingTimeout: _mt, maxMappings: _mm, ...shared } = options;
  const mappingTimeout = options.mappingTimeout ?? defaultMappingTimeout;
  const maxMappings = options.maxMappings ?? defaultMaxMappings;
  const upImpairment: Impairment = { ...shared, ...upOverride };
  const downImpairment: Impairment = { ...shared, ...downOverride };
  const started = scheduler.now();
  const windowOf = (o: Impairment): Window | null => (o.blackhole ? { from: started + o.blackhole.at, until: started + o.blackhole.at + o.blackhole.duration } : null);
  const upWindow = windowOf(upImpairment);
  const downWindow = windowOf(downImpairment);
  const manual: Window[] = [];
  const inWindow = (w: Window | null, now: number) => w !== null && now >= w.from && now < w.until;
  const darkAt = (w: Window | null) => (now: number) => {
    if (inWindow(w, now)) return true;
    for (let i = 0; i < manual.length; i++) if (inWindow(manual[i]!, now)) return true;
    return false;
  };
  const up = new Direction(upImpairment, seed, scheduler, darkAt(upWindow));
  const down = new Direction(downImpairment, seed + 1, scheduler, darkAt(downWindow));

  const type = socketTypeFor(local.host);
  const upstreamType = socketTypeFor(target.host);
  const loopbackTarget = target.host === '::1' || target.host.startsWith('127.');
  const listenSocket = createSocket(type);
  listenSocket.on('error', () => down.stats.errors++);
  /** Client address key → its upstream socket, least recently used first (each use moves it last). */
  const nat = new Map<string, Mapping>();
  const mappings = new Map<string, number>();
  let closing: Promise<void> | null = null;
  let expired = 0;
  let evicted = 0;
  /** The one timer for every mapping: due when the least recently used would expire. */
  let sweep: Subscription | null = null;

  const drop = (key: string, m: Mapping): void => {
    nat.delete(key);
    if (mappings.get(key) === m.port) mappings.delete(key);
    m.closed = true;
    m.socket.close();
  };
  const armSweep = (): void => {
    if (sweep !== null || closing) return;
    const first = nat.values().next().value;
    if (first === undefined) return;
    sweep = scheduler.schedule(() => {
      sweep = null;
      const now = scheduler.now();
      for (const [key, m] of nat) {
        if (m.lastUsed + mappingTimeout > now) break;
        drop(key, m);
        expired++;
      }
      armSweep();
    }, Math.max(0, first.lastUsed + mappingTimeout - scheduler.now()));
  };
  /** A datagram crossed `m`: it becomes the most recently used. */
  const touch = (key: string, m: Mapping): void => {
    m.lastUsed = scheduler.now();
    nat.delete(key);
    nat.set(key, m);
  };

  const upstreamFor = (address: string, port: number): (data: Uint8Array) => void => {
    const key = addressKey(address, port);
    const known = nat.get(key);
    if (known) {
      touch(key, known);
      return known.toServer;
    }
    if (nat.size >= maxMappings) {
      const [oldKey, oldest] = nat.entries().next().value!;
      drop(oldKey, oldest);
      evicted++;
    }
    const socket = createSocket(upstreamType);
    const entry: Mapping = {
      socket,
      port: 0,
      lastUsed: scheduler.now(),
      closed: false,
      // a copy held back by the impairments may come due after the mapping closed
      toServer: (data: Uint8Array) => {
        if (!closing && !entry.closed) socket.send(data, target.port, target.host);
      },
    };
    nat.set(key, entry);
    armSweep();
    // sends made before the bind completes wait in the socket's own queue
    socket.bind(0, loopbackTarget ? target.host : undefined, () => {
      if (entry.closed) return;
      entry.port = socket.address().port;
      mappings.set(key, entry.port);
      setSocketBuffers(socket);
    });
    const toClient = (data: Uint8Array) => {
      if (!closing) listenSocket.send(data, port, address);
    };
    socket.on('message', (msg: Buffer, rinfo) => {
      // only the server's replies go back down; anything else is not part of this mapping
      if (rinfo.port !== target.port || rinfo.address !== target.host) return;
      if (nat.get(key) === entry) touch(key, entry);
      down.arrive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), toClient);
    });
    socket.on('error', () => up.stats.errors++);
    return entry.toServer;
  };

  listenSocket.on('message', (msg: Buffer, rinfo) => {
    up.arrive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), upstreamFor(rinfo.address, rinfo.port));
  });

  const stats: RelayStats = {
    up: up.stats,
    down: down.stats,
    get clients() {
      return nat.size;
    },
    get expired() {
      return expired;
    },
    get evicted() {
      return evicted;
    },
    snapshot: () => ({ up: copyDirectionStats(up.stats), down: copyDirectionStats(down.stats), clients: nat.size, expired, evicted }),
  };

  const ready = bindSocket(listenSocket, local.port, local.host).catch((e: unknown) => {
    up.close();
    down.close();
    listenSocket.close();
    throw e;
  });
  return ready.then(() => {
    setSocketBuffers(listenSocket);
    const bound = listenSocket.address();
    return {
      address: { address: bound.address, port: bound.port },
      stats,
      mappings,
      blackhole(durationMs: number) {
        if (typeof durationMs !== 'number' || !(durationMs >= 0 && Number.isFinite(durationMs))) {
          throw new RangeError(`relay: blackhole duration must be a finite number of ms ≥ 0, got ${String(durationMs)}`);
        }
        const now = scheduler.now();
        // forget windows that are over, keep the rest
        for (let i = manual.length - 1; i >= 0; i--) if (manual[i]!.until <= now) manual.splice(i, 1);
        manual.push({ from: now, until: now + durationMs });
      },
      close() {
        closing ??= (async () => {
          sweep?.unsubscribe();
          up.close();
          down.close();
          const sockets = [listenSocket, ...[...nat.values()].map((e) => e.socket)];
          await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          })));
        })();
        return closing;
      },
    } satisfies Relay;
  });
}
