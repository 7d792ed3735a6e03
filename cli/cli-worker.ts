/**
 * The session handlers `rxkcp echo`, `rxkcp sink` and `rxkcp tunnel server` run in each worker
 * thread with --workers (the handler module of `listenWorkers`, one export per command). Built
 * beside the command as dist/cli-worker.js.
 * @module
 */
import { echo as echoSession } from '../operators/apps/echo.js';
import type { Session } from '../operators/transport/session.js';
import { tunnelServerSessions, type TunnelServerOptions, type TunnelServerSessions, type TunnelStats } from '../operators/apps/tunnel.js';
import type { WorkerContext } from '../operators/transport/workers.js';
import { tunnelLog } from './tunnel-cli.js';

/** What the command passes to every worker. */
export interface CliWorkerData {
  /** `sink --echo-conv`: the conv whose sessions are echoed, not sunk (-1: none). */
  echoConv: number;
}

/** Echoes every session back to its peer, as `rxkcp echo` does in one thread. */
export function echo(session: Session): void {
  echoSession(session);
}

/** Discards what arrives and counts it in the worker's `received` counter, as `rxkcp sink` does in one thread (echoing the sessions of `--echo-conv`). */
export function sink(session: Session, { counters, workerData }: WorkerContext): void {
  if (session.conv === (workerData as CliWorkerData).echoConv) return echo(session);
  counters.received ??= 0;
  session.data$.subscribe({ next: (m) => (counters.received! += m.length), error: () => {} });
}

/** What `rxkcp tunnel server --workers` passes to every worker. */
export interface TunnelWorkerData {
  /** The tunnel server's options, but where it listens and its log (a function cannot cross). */
  tunnel: Omit<TunnelServerOptions, 'listen' | 'log' | 'scheduler'>;
  /** kcptun's --log: the file every worker appends to ('' : stderr). */
  logFile: string;
}

/** The numbers of `TunnelStats` that `tunnel` reports in a worker's counters (snmp goes as the worker's SNMP). */
export const TUNNEL_COUNTERS = ['sessions', 'streams', 'streamsTotal', 'streamsFailed', 'streamsRefused', 'tcpBytesIn', 'tcpBytesOut'] as const;

let tunnelServer: TunnelServerSessions | undefined;

/** Carries each session as `rxkcp tunnel server` does in one thread: its streams to the target. */
export function tunnel(session: Session, context: WorkerContext): void {
  if (tunnelServer === undefined) {
    const data = context.workerData as TunnelWorkerData;
    const server = tunnelServerSessions({ ...data.tunnel, log: tunnelLog(data.logFile) });
    tunnelServer = server;
    context.onStats(() => {
      const st: TunnelStats = server.stats();
      for (const k of TUNNEL_COUNTERS) context.counters[k] = st[k];
      for (const [k, v] of Object.entries(st.smux)) context.counters[`smux.${k}`] = v;
    });
    context.onClose(() => server.shutdown());
  }
  tunnelServer.serve(session, context.port);
}
