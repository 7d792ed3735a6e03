/**
 * A session as a Node `Duplex`, so it drops in where a `net.Socket` goes:
 * `tcp.pipe(toDuplex(session)).pipe(tcp)`. Back-pressure holds both ways: when the readable side
 * is full the adapter stops reading the session (data waits in KCP and the peer's window closes);
 * a write waits while the session's send queue is at its window. Ending the writable side
 * (`end()`, or the end of a `pipeline`) finishes only when the peer has acknowledged every byte,
 * so `await pipeline(file, toDuplex(session))` resolves once the data has arrived. The readable
 * side ends when the session is closed: KCP has no FIN, so the peer's end is never seen here.
 * Also async-iterable, as every Readable is.
 * @module
 */
import { Duplex } from 'node:stream';
import { Subscription, takeWhile } from 'rxjs';
import type { Session } from './session.js';

export function toDuplex(session: Session): Duplex {
  let reading: Subscription | null = null;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading !== null) return;
      const current = new Subscription();
      reading = current;
      let full = false;
      current.add(
        session.data$
          .pipe(
            // stop reading the session (synchronously, nothing taken) once the buffer is full
            takeWhile((m) => {
              if (duplex.push(m)) return true;
              full = true;
              return false;
            })
          )
          .subscribe({
            error: (e: unknown) => duplex.destroy(e as Error),
            complete: () => {
              if (reading === current) reading = null;
              if (!full) duplex.push(null);
            },
          })
      );
    },
    write(chunk: Buffer, _encoding, callback) {
      session.send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)).then(() => callback(), callback);
    },
    final(callback) {
      session.end().then(() => callback(), callback);
    },
    destroy(err, callback) {
      reading?.unsubscribe();
      session.close();
      callback(err);
    },
  });
  return duplex;
}
