/**
 * Echoing a session back to its peer without a Node stream in between: what `rxkcp echo` runs
 * for each session. Back-pressure holds: when the send window is full, what was received waits
 * here and reading stops (further data stays in KCP, so the peer's window closes) until
 * `writable$` fires and the backlog is written.
 * @module
 */
import { Subscription } from 'rxjs';
import type { Session } from '../transport/session.js';

/** Writes every message `session` receives back to it. Unsubscribe to stop. */
export function echo(session: Session): Subscription {
  const backlog: Uint8Array[] = [];
  let reading: Subscription | undefined;
  let resume: Subscription | undefined;
  let paused = false;
  let stopped = false;

  const pause = (): void => {
    paused = true;
    reading?.unsubscribe();
    reading = undefined;
    resume ??= session.writable$.subscribe({ next: drain, error: () => {} });
  };

  function drain(): void {
    while (backlog.length > 0 && session.write(backlog[0]!)) backlog.shift();
    if (backlog.length > 0) return;
    resume?.unsubscribe();
    resume = undefined;
    read();
  }

  function read(): void {
    if (stopped || session.closed) return;
    paused = false;
    const sub = session.data$.subscribe({
      next: (m) => {
        if (paused) backlog.push(m); // delivered in the same emission as the one that filled the window
        else if (!session.write(m)) (backlog.push(m), pause());
      },
      error: () => {},
    });
    if (paused) sub.unsubscribe(); // the window filled while subscribing
    else reading = sub;
  }

  read();
  return new Subscription(() => {
    stopped = true;
    reading?.unsubscribe();
    resume?.unsubscribe();
  });
}
