/**
 * The session handler of examples/workers-echo.ts. It runs in every worker thread: its default
 * export is called with each session that worker accepts. Module state (here `sessions`) is per
 * worker; `context.counters` is what the primary sums in `stats()`.
 */
import { echo, type Session, type WorkerContext } from 'rxkcp/io';

let sessions = 0;

export default function handler(session: Session, context: WorkerContext): void {
  sessions++;
  context.counters.sessions = sessions;
  echo(session); // write back everything the session receives, with back-pressure
}
