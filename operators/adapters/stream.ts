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
import { Subscription, takeWhile, type Observable } from 'rxjs';
import type { Session } from '../transport/session.js';

/** What a byte channel needs to be a Node `Duplex` (a `Session` is one; see `muxStreamDuplex`). */
export interface DuplexEnds {
  /** Read one subscriber at a time; unsubscribing pauses without losing anything. */
  readonly data$: Observable<Uint8Array>;
  /** Resolves once `data` is accepted (waiting for room), rejects if the channel ended. */
  send(data: Uint8Array): Promise<void>;
  /** No more writes: what the Duplex's `final` waits for. */
  end(): Promise<void> | void;
  /** Ends the channel at once: what destroying the Duplex does. */
  close(): void;
}

/**
 * A Node `Duplex` over any byte channel: reading stops, synchronously and with nothing taken,
 * when the readable buffer is full, and resumes on `read()`; each write waits for `send`; the
 * writable side's `final` waits for `end`; the readable side ends when `data$` completes.
 */
export function duplexOf(ends: DuplexEnds): Duplex {
  let reading: Subscription | null = null;
  const duplex: Duplex = new Duplex({
    read() {
      if (reading !== null) return;
      const current = new Subscription();
      reading = current;
      let full = false;
      current.add(
        ends.data$
          .pipe(
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
      ends.send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)).then(() => callback(), callback);
    },
    final(callback) {
      Promise.resolve(ends.end()).then(() => callback(), callback);
    },
    destroy(err, callback) {
      reading?.unsubscribe();
      ends.close();
      callback(err);
    },
  });
  return duplex;
}

/** A session as a Node `Duplex` (see the module's description). */
export function toDuplex(session: Session): Duplex {
  return duplexOf(session);
}
