/**
 * The session handler the worker-listener tests run in each worker: echoes every message back,
 * counts sessions and bytes in the worker's counters, and exits its worker when a session sends
 * `die` (so a test can end one worker mid-transfer, the way a failing handler would), and throws
 * from its `data$` subscriber when a session sends `throw` (an uncaught error in a handler). Writes
 * wait for room in the send window, in order (test transfers are small: what waits is bounded).
 * @module
 */
import type { Session } from '../../operators/transport/session.js';
import type { WorkerContext } from '../../operators/transport/workers.js';

const DIE = 'die';
const THROW = 'throw';

export default function handler(session: Session, { counters, worker }: WorkerContext): void {
  counters.sessions = (counters.sessions ?? 0) + 1;
  let sent = Promise.resolve();
  const reply = (m: Uint8Array): void => void (sent = sent.then(() => session.send(m)).catch(() => {}));
  session.data$.subscribe({
    next: (m) => {
      counters.bytes = (counters.bytes ?? 0) + m.length;
      if (m.length === DIE.length && new TextDecoder().decode(m) === DIE) process.exit(3);
      if (m.length === THROW.length && new TextDecoder().decode(m) === THROW) throw new Error(`the handler threw in worker ${worker}`);
      if (m.length === 6 && new TextDecoder().decode(m) === 'whoami') return reply(new TextEncoder().encode(`worker ${worker}`));
      reply(m);
    },
    error: () => {},
  });
}
