/**
 * Worker listeners: one server spread over N worker threads, each with its own `reusePort` UDP
 * socket on the same port, its own `Clock` and its own sessions, the user's session handler
 * running in each (cluster's primary/worker shape, with worker_threads; the handler is a module
 * file, as Piscina's `filename`).
 *
 *                 ┌ worker 0: socket (reusePort) ─ Listener ─ Clock ─ sessions ─ handler(session)
 *   clients ─UDP─▶│ worker 1: socket (reusePort) ─ Listener ─ Clock ─ sessions ─ handler(session)
 *   (kernel hash) └ ...                                 ▲ stats, close, misrouted datagrams
 *                                               primary (this thread): replaces, sums, closes
 *
 * Linux hashes each datagram's 4-tuple over the sockets bound to the port, so every datagram of
 * one client reaches one socket: the affinity KCP's address-keyed sessions need. The hash is taken
 * over the sockets bound at the moment, so when a worker's socket comes or goes (a worker exits
 * and is replaced) some clients hash to another worker; a worker passes the datagrams it cannot
 * place (it would count them stray) to the primary, which hands them to the worker that holds
 * their session. Sessions never move between workers.
 *
 * Not `cluster`: its workers share one UDP handle, and a session's datagrams would scatter over
 * processes.
 * @module
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Observable, Subject } from 'rxjs';
import { KcpError } from '../../src/errors.js';
import { SNMP_FIELDS, type SnmpField } from '../../src/stats.js';
import type { ListenOptions } from './listener.js';
import { prepareSession, type Session } from './session.js';
import { parseHostPort } from './udp.js';

/** What the handler module's export is called with, for each session its worker accepts. */
export type WorkerHandler = (session: Session, context: WorkerContext) => void;

export interface WorkerContext {
  /** The worker's slot, 0..workers-1 (a replacement takes the slot of the worker it replaces). */
  readonly worker: number;
  /** The port the server listens on. */
  readonly port: number;
  /** `workerData` from the options, cloned into this thread. */
  readonly workerData: unknown;
  /**
   * Counters of the handler's own (bytes received, requests served, ...): summed by `stats()`. The
   * sum keeps a worker's last values after it exits, so count totals here; a gauge (what is held
   * now) is read per worker, from `stats().workers`.
   */
  readonly counters: Record<string, number>;
  /** Calls `update` before this worker's `counters` are read (by `stats()`, every `REPORT_INTERVAL_MS`, and as it exits). */
  onStats(update: () => void): void;
  /**
   * Calls `end` when the server closes, before the worker's listener ends its sessions (a tunnel
   * sends its streams' FINs there); `close()` waits for it, up to `CLOSE_GRACE_MS` in all.
   */
  onClose(end: () => Promise<void> | void): void;
}

/**
 * Options of a worker listener: those of `Listener.listen` that can cross to a thread (they are
 * structured-cloned: no functions, no scheduler, clock or socket), and where the handler is.
 * `maxSessions` and `maxHalfOpen` bound the whole server: each worker holds an even share
 * (rounded up), as the kernel spreads clients evenly over the workers.
 */
export interface WorkerListenOptions extends Omit<ListenOptions, 'socket' | 'clock' | 'scheduler' | 'layers' | 'onOob' | 'random'> {
  /**
   * The handler module: a `file:` URL (`new URL('./handler.js', import.meta.url)`) or a path. Its
   * default export (or the export `name`) is called with each session its worker accepts.
   */
  handler: URL | string;
  /** The export of the handler module to call (default 'default'). */
  name?: string;
  /** Worker threads (default: `os.availableParallelism()`, every core, as kcp-go's server uses them). */
  workers?: number;
  /** Cloned into each worker: the handler's `context.workerData`. */
  workerData?: unknown;
}

/** One worker's counters: kcp-go's SNMP of its sessions and listener, and the handler's own. */
export interface WorkerStats {
  worker: number;
  threadId: number;
  /** Sessions the worker holds now. */
  sessions: number;
  /** Sources it holds half-open (waiting for their sn 0). */
  halfOpen: number;
  snmp: Record<SnmpField, number>;
  counters: Record<string, number>;
}

export interface WorkerListenerStats {
  /** Per live worker, in slot order. */
  workers: WorkerStats[];
  /**
   * The sum over the live workers and every worker that has exited, by the last counters it
   * reported (MaxConn: the largest; the sessions of a worker that exited are not held).
   */
  total: { sessions: number; halfOpen: number; snmp: Record<SnmpField, number>; counters: Record<string, number> };
}

/** What happens to the workers: one started (again), one exited on its own (and is replaced). */
export type WorkerEvent =
  | { type: 'online'; worker: number; threadId: number }
  | { type: 'exit'; worker: number; threadId: number; code: number; error?: Error };

/** A worker that exits this soon after it started is replaced only after this delay (ms): a handler that fails at once must not spin a core. */
export const RESTART_BACKOFF_MS = 1000;
/** How long (ms) `close()` lets a worker end its sessions and exit before it is terminated. */
export const CLOSE_GRACE_MS = 3000;
/**
 * How often (ms) a worker reports its counters to the primary unasked. A worker also reports as it
 * exits (closed, or ended by a handler's error or `process.exit`), so this bounds what the sum can
 * miss only of a worker that is terminated outright (after `CLOSE_GRACE_MS`, or out of memory).
 */
export const REPORT_INTERVAL_MS = 1000;
/** Most worker threads: far more than any machine's cores, few enough that a typo is caught. */
export const MAX_WORKERS = 256;

/** The earliest Node whose dgram has `reusePort`: 22.12 in the 22 line, 23.1 after it. */
export function reusePortAvailable(version = process.versions.node, platform: string = process.platform): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const node = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return node && platform === 'linux';
}

/**
 * @internal A client's address and port as the workers and the primary key them: on every
 * datagram a worker receives, so plain concatenation (`addressKey`'s IPv6 brackets cost an isIP).
 */
export function clientKey(address: string, port: number): string {
  return `${address} ${port}`;
}

/** @internal The worker's start-up data (structured-cloned). */
export interface WorkerInit {
  worker: number;
  host: string;
  /** The port to bind; -1: wait for a 'bind' message with it. */
  port: number;
  handler: string;
  name: string;
  options: Omit<WorkerListenOptions, 'handler' | 'name' | 'workers' | 'workerData'>;
  workerData: unknown;
}
/** @internal A worker's counters at one moment. */
export interface WorkerReport {
  snmp: Record<SnmpField, number>;
  counters: Record<string, number>;
  sessions: number;
  halfOpen: number;
}
/** @internal */
export type FromWorker =
  | { type: 'ready'; port: number }
  | { type: 'failed'; message: string; code?: string; name?: string }
  | ({ type: 'stats'; id: number } & WorkerReport)
  | ({ type: 'report' } & WorkerReport)
  | { type: 'own'; key: string }
  | { type: 'disown'; key: string }
  | { type: 'foreign'; data: Uint8Array; address: string; port: number };
/** @internal */
export type FromPrimary = { type: 'bind'; port: number } | { type: 'stats'; id: number } | { type: 'close' } | { type: 'inject'; data: Uint8Array; address: string; port: number };

/**
 * Starts a server on `options.listen` spread over `options.workers` threads. Resolves once every
 * worker is listening.
 *
 * <informal> `Listener.listen` on every core: the handler module runs in each worker, once per session.
 *
 * @throws KcpError 'UNSUPPORTED' where dgram has no `reusePort` (not Linux, or Node before 22.12):
 *   never a silent single socket. TypeError or RangeError for bad options (also any option that
 *   cannot be cloned to a thread), and a worker's start-up failure (the handler module missing,
 *   the port taken) as its error.
 * @example
 * // server.ts
 * const server = await listenWorkers({ listen: '0.0.0.0:4000', workers: 2, crypt: 'aes', key: 'secret',
 *   handler: new URL('./handler.js', import.meta.url) });
 * // handler.ts
 * export default function (session: Session) { echo(session); }
 * @see listen
 */
export function listenWorkers(options: WorkerListenOptions): Promise<WorkerListener> {
  return WorkerListener.listen(options);
}

interface Slot {
  worker: Worker;
  threadId: number;
  startedAt: number;
  ready: boolean;
  closing: boolean;
  /** The counters it reported last (answering `stats()`, every `REPORT_INTERVAL_MS`, as it exits). */
  last?: WorkerReport;
  /** It has exited and its last counters are in `retired`. */
  retired: boolean;
}

/** The primary's view of a worker listener. Created by `listenWorkers`. */
export class WorkerListener {
  private readonly slots: Slot[] = [];
  private readonly eventsSubject = new Subject<WorkerEvent>();
  /** Client address → the slot whose worker holds its session. */
  private readonly owners = new Map<string, number>();
  /** The last counters of workers that have exited, so the sum keeps them. */
  private readonly retired: { snmp: Record<SnmpField, number>; counters: Record<string, number> } = { snmp: zeroSnmp(), counters: {} };
  private readonly pendingStats = new Map<number, (s: FromWorker & { type: 'stats' }) => void>();
  private nextStatsId = 0;
  private closing: Promise<void> | undefined;
  private readonly restarts = new Set<ReturnType<typeof setTimeout>>();

  private constructor(
    private readonly init: Omit<WorkerInit, 'worker'>,
    private readonly entry: URL,
    private readonly execArgv: string[] | undefined,
    readonly address: { address: string; port: number }
  ) {}

  /** @internal `listenWorkers` is the way to a worker listener. */
  static async listen(options: WorkerListenOptions): Promise<WorkerListener> {
    if (!reusePortAvailable()) {
      throw new KcpError('UNSUPPORTED', `listenWorkers: needs dgram reusePort (Linux, Node 22.12 or later); this is ${process.platform}, Node ${process.versions.node}`);
    }
    const { handler, name = 'default', workers = availableParallelism(), workerData, ...rest } = options;
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) throw new RangeError(`listenWorkers: workers must be an integer 1..${MAX_WORKERS}, got ${workers}`);
    const handlerHref = handlerUrl(handler);
    if (typeof name !== 'string' || name === '') throw new TypeError(`listenWorkers: name must be an export name, got ${String(name)}`);
    await prepareSession('listenWorkers', rest as ListenOptions); // every option checked here, not in N threads
    for (const k of ['socket', 'clock', 'scheduler', 'layers', 'onOob', 'random'] as const) {
      if ((rest as Record<string, unknown>)[k] !== undefined) throw new TypeError(`listenWorkers: ${k} cannot cross to a worker thread`);
    }
    try {
      structuredClone({ rest, workerData });
    } catch (e) {
      throw new TypeError(`listenWorkers: options and workerData must be structured-cloneable: ${(e as Error).message}`, { cause: e });
    }
    const { host, port } = parseHostPort(rest.listen);
    // the limits are the whole server's: the kernel spreads clients evenly, so each worker holds its share
    if (rest.maxSessions !== undefined) rest.maxSessions = Math.ceil(rest.maxSessions / workers);
    if (rest.maxHalfOpen !== undefined) rest.maxHalfOpen = Math.ceil(rest.maxHalfOpen / workers);
    const entry = siblingModule('worker-entry');
    const l = new WorkerListener({ host, port, handler: handlerHref, name, options: rest, workerData }, entry, workerExecArgv(entry, handlerHref), { address: host, port });
    try {
      // all load their modules at once; the first binds the port (maybe 0: a free one), then the others join it
      let bound!: (port: number) => void;
      const port$ = port !== 0 ? Promise.resolve(port) : new Promise<number>((r) => (bound = r));
      const first = l.start(0, port);
      if (port === 0) first.then(bound, () => bound(-1));
      const ports = await Promise.all([first, ...Array.from({ length: workers - 1 }, (_, i) => l.start(i + 1, port$))]);
      l.init.port = ports[0]!;
      (l.address as { port: number }).port = ports[0]!;
    } catch (e) {
      await l.close();
      throw e;
    }
    return l;
  }

  /**
   * Starts the worker of `slot` on `port`; resolves with the port it bound. A port still to come
   * (the one the first worker binds) is sent once known: the worker loads its modules meanwhile.
   */
  private start(slot: number, port: number | Promise<number>): Promise<number> {
    const later = typeof port !== 'number';
    const worker = new Worker(this.entry, { workerData: { ...this.init, port: later ? -1 : port, worker: slot } satisfies WorkerInit, execArgv: this.execArgv });
    if (later) void port.then((p) => (p < 0 ? void worker.terminate() : worker.postMessage({ type: 'bind', port: p } satisfies FromPrimary)));
    const s: Slot = { worker, threadId: worker.threadId, startedAt: performance.now(), ready: false, closing: false, retired: false };
    this.slots[slot] = s;
    return new Promise<number>((resolve, reject) => {
      let failure: Error | undefined;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            s.ready = true;
            this.eventsSubject.next({ type: 'online', worker: slot, threadId: s.threadId });
            return resolve(m.port);
          case 'failed':
            failure = startupError(m);
            return;
          case 'stats':
            s.last = m;
            this.pendingStats.get(m.id)?.(m);
            return;
          case 'report':
            s.last = m;
            return;
          case 'own':
            this.owners.set(m.key, slot);
            return;
          case 'disown':
            if (this.owners.get(m.key) === slot) this.owners.delete(m.key);
            return;
          case 'foreign': {
            const owner = this.owners.get(clientKey(m.address, m.port));
            const target = owner === undefined || owner === slot ? undefined : this.slots[owner];
            if (target?.ready && !target.closing) target.worker.postMessage({ type: 'inject', data: m.data, address: m.address, port: m.port } satisfies FromPrimary, [m.data.buffer as ArrayBuffer]);
          }
        }
      });
      worker.on('error', (e) => (failure ??= e));
      worker.on('exit', (code) => {
        this.retire(s);
        for (const [k, owner] of this.owners) if (owner === slot) this.owners.delete(k);
        if (!s.ready) return reject(failure ?? new Error(`listenWorkers: worker ${slot} exited with code ${code} before it was listening`));
        if (this.slots[slot] !== s || s.closing || this.closing) return;
        // exited on its own: reported and replaced (its sessions are gone with it)
        this.eventsSubject.next({ type: 'exit', worker: slot, threadId: s.threadId, code, error: failure });
        const soon = performance.now() - s.startedAt < RESTART_BACKOFF_MS;
        const restart = setTimeout(
          () => {
            this.restarts.delete(restart);
            if (!this.closing) this.start(slot, this.init.port).catch((e: unknown) => this.eventsSubject.next({ type: 'exit', worker: slot, threadId: -1, code: 1, error: e as Error }));
          },
          soon ? RESTART_BACKOFF_MS : 0
        );
        this.restarts.add(restart);
      });
    });
  }

  /** Keeps the last counters of a worker that has exited in the sum (its sessions are gone with it). */
  private retire(s: Slot): void {
    if (s.retired) return;
    s.retired = true;
    if (s.last === undefined) return;
    addSnmp(this.retired.snmp, { ...s.last.snmp, CurrEstab: 0 });
    addCounters(this.retired.counters, s.last.counters);
  }

  /** Worker starts and unexpected exits (each exit is followed by a replacement's 'online'). */
  get events$(): Observable<WorkerEvent> {
    return this.eventsSubject.asObservable();
  }

  /** The live workers' thread ids, in slot order. */
  get threadIds(): number[] {
    return this.slots.map((s) => s.threadId);
  }

  /**
   * Asks every live worker for its counters and sums them, with the last counters of every worker
   * that has exited (crashed, replaced or closed) and of those still closing.
   */
  async stats(): Promise<WorkerListenerStats> {
    const slots = [...this.slots];
    const live = slots.map((s, worker) => ({ s, worker })).filter(({ s }) => s.ready && !s.closing && !s.retired);
    const workers = await Promise.all(
      live.map(
        ({ s, worker }) =>
          new Promise<WorkerStats | undefined>((resolve) => {
            const id = this.nextStatsId++;
            const gone = () => (this.pendingStats.delete(id), resolve(undefined));
            s.worker.once('exit', gone);
            this.pendingStats.set(id, (m) => {
              this.pendingStats.delete(id);
              s.worker.off('exit', gone);
              resolve({ worker, threadId: s.threadId, sessions: m.sessions, halfOpen: m.halfOpen, snmp: m.snmp, counters: m.counters });
            });
            s.worker.postMessage({ type: 'stats', id } satisfies FromPrimary);
          })
      )
    );
    // a worker that answered and has exited since is in `retired` by now: each counted once
    const present = workers.filter((w): w is WorkerStats => w !== undefined && !slots[w.worker]!.retired);
    const total = { sessions: 0, halfOpen: 0, snmp: { ...this.retired.snmp }, counters: { ...this.retired.counters } };
    for (const [i, s] of slots.entries()) {
      const r = present.find((w) => w.worker === i) ?? s.last; // a closing worker: what it reported last
      if (s.retired || r === undefined) continue;
      total.sessions += r.sessions;
      total.halfOpen += r.halfOpen;
      addSnmp(total.snmp, r.snmp);
      addCounters(total.counters, r.counters);
    }
    return { workers: present, total };
  }

  /**
   * Stops every worker: each closes its listener (ending its sessions) and its socket and exits;
   * one that has not exited after `CLOSE_GRACE_MS` is terminated. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.restarts) clearTimeout(t);
      await Promise.all(
        this.slots.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closing = true;
              if (s.worker.threadId === -1) return resolve(); // exited already
              const kill = setTimeout(() => void s.worker.terminate(), CLOSE_GRACE_MS);
              s.worker.once('exit', () => (clearTimeout(kill), resolve()));
              s.worker.postMessage({ type: 'close' } satisfies FromPrimary);
            })
        )
      );
      this.eventsSubject.complete();
    })();
    return this.closing;
  }
}

function zeroSnmp(): Record<SnmpField, number> {
  const out = {} as Record<SnmpField, number>;
  for (const f of SNMP_FIELDS) out[f] = 0;
  return out;
}

function addSnmp(into: Record<SnmpField, number>, s: Record<SnmpField, number>): void {
  for (const f of SNMP_FIELDS) into[f] = f === 'MaxConn' ? Math.max(into[f], s[f]) : into[f] + s[f];
}

function addCounters(into: Record<string, number>, c: Record<string, number>): void {
  for (const [k, v] of Object.entries(c)) into[k] = (into[k] ?? 0) + v;
}

function startupError(m: { message: string; code?: string; name?: string }): Error {
  const e = m.name === 'TypeError' ? new TypeError(m.message) : m.name === 'RangeError' ? new RangeError(m.message) : new Error(m.message);
  if (m.code !== undefined) (e as NodeJS.ErrnoException).code = m.code;
  return e;
}

function handlerUrl(handler: URL | string): string {
  if (handler instanceof URL) return handler.href;
  if (typeof handler !== 'string' || handler === '') throw new TypeError(`listenWorkers: handler must be a file URL or a path, got ${String(handler)}`);
  return /^(file|data):/.test(handler) ? handler : pathToFileURL(handler).href;
}

/**
 * The worker entry's file name in the bundle this code is built into, when that bundle has its own
 * (the command's: dist/cli-worker-entry.js, so that its workers load the command's bundle once,
 * which its handlers import, not the library's beside it as well). The build defines it; elsewhere
 * it is undeclared and the library's `worker.js` is meant.
 */
declare const RXKCP_WORKER_ENTRY: string | undefined;

/**
 * A module beside this one, as built: `worker-entry.ts` next to the source under tsx or vitest,
 * `worker.js` next to the bundle in dist/ (esbuild puts this code in a chunk there). In the
 * CommonJS build `import.meta.url` is empty and `__filename` says where the chunk is.
 */
function siblingModule(source: string): URL {
  const here = import.meta.url ?? pathToFileURL(__filename).href;
  if (here.endsWith('.ts')) return new URL(`./${source}.ts`, here);
  return new URL(`./${typeof RXKCP_WORKER_ENTRY === 'string' ? RXKCP_WORKER_ENTRY : 'worker.js'}`, here);
}

/**
 * Run from source (a .ts worker or handler), a worker needs tsx's loader as the process has it;
 * under vitest the process has none of its own, so it is added.
 */
function workerExecArgv(entry: URL, handler: string): string[] | undefined {
  if (!entry.href.endsWith('.ts') && !handler.endsWith('.ts')) return undefined;
  if (process.execArgv.some((a) => a.includes('tsx'))) return undefined;
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
  return [...process.execArgv, '--import', tsx];
}
