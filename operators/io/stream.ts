/**
 * A session as a Node `Duplex`, so it drops in where a `net.Socket` goes:
 * `tcp.pipe(toDuplex(session)).pipe(tcp)`. Back-pressure holds both ways: when the readable side
 * is full the adapter stops reading the session (data waits in KCP and the peer's window closes);
 * a write waits while the session's send queue is at its window. Also async-iterable, as every
 * Readable is.
 * @module
 */
import { Duplex } from 'node:stream';
import type { Subscription } from 'rxjs';
import type { Session } from './session.js';

export function toDuplex(session: Session): Duplex {
  let reading: Subscription | null = null;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading !== null) return;
      reading = session.data$.subscribe({
        next: (m) => {
          if (!duplex.push(m)) {
            // full: stop draining the session until read() is called again
            const r = reading;
            reading = null;
            queueMicrotask(() => r?.unsubscribe());
          }
        },
        error: (e: unknown) => duplex.destroy(e as Error),
        complete: () => duplex.push(null),
      });
    },
    write(chunk: Buffer, _encoding, callback) {
      const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      const attempt = (): void => {
        try {
          if (session.write(data)) return callback();
        } catch (e) {
          return callback(e as Error);
        }
        const sub = session.writable$.subscribe({
          next: () => {
            sub.unsubscribe();
            attempt();
          },
          error: (e: unknown) => callback(e as Error),
          complete: () => callback(new Error('session closed while a write waited')),
        });
      };
      attempt();
    },
    final(callback) {
      callback(); // KCP has no FIN: the session stays open until destroyed or closed
    },
    destroy(err, callback) {
      reading?.unsubscribe();
      session.close();
      callback(err);
    },
  });
  return duplex;
}
