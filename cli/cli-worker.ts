/**
 * The session handlers `rxkcp echo --workers N` and `rxkcp sink --workers N` run in each worker
 * thread (the handler module of `listenWorkers`, one export per command). Built beside the
 * command as dist/cli-worker.js.
 * @module
 */
import { echo as echoSession } from '../operators/io/echo.js';
import type { Session } from '../operators/io/session.js';
import type { WorkerContext } from '../operators/io/workers.js';

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
