/**
 * An smux stream as a Node `Duplex`, so it pipes to and from a `net.Socket` the way kcptun joins
 * a TCP connection to a stream, half-close included: ending the writable side sends FIN (the
 * stream still reads), and the readable side ends at the peer's FIN. Back-pressure holds both
 * ways: a full readable buffer stops taking data from the mux (the peer is held back by smux's
 * receive buffer and, in version 2, the stream's window), and a write waits while the stream has
 * its high-water mark queued. Destroying the Duplex closes the stream as smux's Close does.
 * @module
 */
import { Duplex } from 'node:stream';
import { Subscription, takeWhile } from 'rxjs';
import type { MuxStream } from '../mux.js';

export function muxStreamDuplex(stream: MuxStream): Duplex {
  let reading: Subscription | null = null;
  let waiting: Subscription | null = null;
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (reading !== null) return;
      const current = new Subscription();
      reading = current;
      let full = false;
      current.add(
        stream.data$
          .pipe(
            // stop taking from the mux, synchronously, once the buffer is full
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
      const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      const attempt = (): void => {
        waiting?.unsubscribe();
        waiting = null;
        try {
          if (stream.write(data)) return callback();
        } catch (e) {
          return callback(e as Error);
        }
        waiting = stream.writable$.subscribe({
          next: attempt,
          error: (e: unknown) => callback(e as Error),
          complete: () => callback(new Error(`smux stream ${stream.id} ended while a write waited`)),
        });
      };
      attempt();
    },
    final(callback) {
      stream.end();
      callback();
    },
    destroy(err, callback) {
      reading?.unsubscribe();
      waiting?.unsubscribe();
      stream.close();
      callback(err);
    },
  });
  return duplex;
}
