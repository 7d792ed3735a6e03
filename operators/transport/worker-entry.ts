/**
 * What runs in each thread of a worker listener (`listenWorkers`): binds its own `reusePort` UDP
 * socket on the listener's port, runs a `Listener` (its own clock and sessions) on it, and hands
 * each session to the user's handler module. It answers the primary's messages (stats, close) and
 * tells it which client addresses it serves, so that a datagram the kernel hands to the wrong
 * worker (the kernel rehashes clients whenever a worker's socket comes or goes) reaches the worker
 * that holds its session: sessions never move between workers.
 *
 *   primary ──workerData──▶ worker: bind, listen, import the handler ──▶ 'ready' { port }
 *   primary ──'stats'────▶ worker ──▶ 'stats' { snmp, counters, sessions }
 *   worker  ──'report' { snmp, counters, sessions }──▶ primary   (every REPORT_INTERVAL_MS, and as it exits)
 *   worker  ──'own'/'disown' key──▶ primary          (the addresses it holds sessions for)
 *   worker  ──'foreign' datagram──▶ primary ──'inject'──▶ the worker that owns the address
 *   primary ──'close'────▶ worker: ends every session, closes the socket, exits (its last 'report')
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { Listener, type ListenOptions } from './listener.js';
import { aggregateStats, type Session } from './session.js';
import { literalLookup, setSocketBuffers, socketTypeFor } from './udp.js';
import { clientKey, REPORT_INTERVAL_MS, type FromPrimary, type FromWorker, type WorkerContext, type WorkerHandler, type WorkerInit, type WorkerReport } from './workers.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

/** The user's handler: the module's export `name` (default: its default export). */
async function loadHandler(): Promise<WorkerHandler> {
  const mod = (await import(init.handler)) as Record<string, unknown>;
  const fn = mod[init.name];
  if (typeof fn !== 'function') throw new TypeError(`listenWorkers: ${init.handler} has no ${init.name === 'default' ? 'default export' : `export ${init.name}`} that is a function`);
  return fn as WorkerHandler;
}

function bind(host: string, portNumber: number): Promise<Socket> {
  const socket = createSocket({ type: socketTypeFor(host), reuseAddr: false, reusePort: true, lookup: literalLookup });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(portNumber, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

async function main(): Promise<void> {
  const handler = await loadHandler();
  const portNumber = init.port >= 0 ? init.port : await new Promise<number>((resolve) => port.once('message', (m: FromPrimary) => m.type === 'bind' && resolve(m.port)));
  const socket = await bind(init.host, portNumber);
  setSocketBuffers(socket, init.options.sockbuf);
  const listener = await Listener.listen({ ...(init.options as ListenOptions), socket });
  const counters: Record<string, number> = {};
  const updates: (() => void)[] = [];
  const ends: (() => Promise<void> | void)[] = [];
  const context: WorkerContext = {
    worker: init.worker,
    port: socket.address().port,
    workerData: init.workerData,
    counters,
    onStats: (update) => void updates.push(update),
    onClose: (end) => void ends.push(end),
  };
  const sample = (): Record<string, number> => {
    for (const u of updates) u();
    return { ...counters };
  };
  const report = (): WorkerReport => ({ snmp: aggregateStats().add(listener.stats).snapshot(), counters: sample(), sessions: listener.size, halfOpen: listener.halfOpen });
  // the primary keeps the last counters a worker reported when it exits, so they stay in the sum:
  // now and then, and as it exits (closed, a handler's uncaught error or process.exit; a thread
  // terminated outright runs no code, so the periodic report bounds what is lost then)
  setInterval(() => post({ type: 'report', ...report() }), REPORT_INTERVAL_MS).unref();
  process.on('exit', () => {
    try {
      post({ type: 'report', ...report() });
    } catch {
      // a handler's stats update that throws as the thread ends: the periodic report stands
    }
  });
  /** Client addresses this worker holds sessions for: their datagrams are its own. */
  const owned = new Set<string>();

  // Datagrams from addresses this worker holds no session for go to the listener as usual; one
  // the listener refuses as stray (mid-stream in a session it does not have) may belong to a
  // session of another worker, so a copy goes to the primary (the listener may decrypt in place)
  const emit = socket.emit.bind(socket) as (event: string, ...args: unknown[]) => boolean;
  socket.emit = function (event: string, ...args: unknown[]): boolean {
    if (event !== 'message') return emit(event, ...args);
    const [msg, rinfo] = args as [Buffer, { address: string; port: number }];
    if (owned.has(clientKey(rinfo.address, rinfo.port))) return emit(event, msg, rinfo);
    const copy = Uint8Array.prototype.slice.call(msg); // owned by the message if forwarded
    const stray = listener.stats.StrayPkts;
    emit(event, msg, rinfo);
    if (listener.stats.StrayPkts !== stray) post({ type: 'foreign', data: copy, address: rinfo.address, port: rinfo.port }, [copy.buffer as ArrayBuffer]);
    return true;
  } as typeof socket.emit;

  listener.sessions$.subscribe((session: Session) => {
    const key = clientKey(session.remote.address, session.remote.port);
    owned.add(key);
    post({ type: 'own', key });
    session.ended$.subscribe(() => {
      owned.delete(key);
      post({ type: 'disown', key });
    });
    try {
      handler(session, context);
    } catch (e) {
      session.close();
      throw e; // an uncaught error ends this worker, as it would end a process; the primary replaces it
    }
  });

  port.on('message', (m: FromPrimary) => {
    switch (m.type) {
      case 'stats':
        post({ type: 'stats', id: m.id, ...report() });
        break;
      case 'inject':
        emit('message', Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), { address: m.address, port: m.port, family: socketTypeFor(m.address) === 'udp6' ? 'IPv6' : 'IPv4', size: m.data.length });
        break;
      case 'bind':
        break;
      case 'close':
        void Promise.all(ends.map(async (end) => end()))
          .catch(() => {})
          .then(() => {
            listener.close();
            socket.close(() => process.exit(0)); // ends this thread only, whatever the handler left open; reports as it exits
          });
    }
  });
  post({ type: 'ready', port: socket.address().port });
}

main().catch((e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  post({ type: 'failed', message: err?.message ?? String(e), code: err?.code, name: err?.name });
  process.exit(1);
});
