/**
 * An smux stream as a Node `Duplex`, so it pipes to and from a `net.Socket` the way kcptun joins
 * a TCP connection to a stream, half-close included: ending the writable side sends FIN (the
 * stream still reads), and the readable side ends at the peer's FIN. Back-pressure holds both
 * ways: a full readable buffer stops taking data from the mux (the peer is held back by smux's
 * receive buffer and, in version 2, the stream's window), and a write waits while the stream has
 * its high-water mark queued. Destroying the Duplex closes the stream as smux's Close does.
 *
 * This is how a byte stream ends over KCP, which has no FIN of its own: `await pipeline(file,
 * muxStreamDuplex(mux.open()))` resolves once the peer's KCP has acknowledged the data and the
 * FIN (`MuxStream.finish`), and the receiver's `pipeline(muxStreamDuplex(stream), out)` finishes
 * at that FIN, with kcptun's smux as with rxkcp's.
 * @module
 */
import type { Duplex } from 'node:stream';
import type { MuxStream } from '../conversation/mux.js';
import { duplexOf } from './stream.js';

/** An smux stream as a Node `Duplex` (see the module's description). */
export function muxStreamDuplex(stream: MuxStream): Duplex {
  return duplexOf({
    data$: stream.data$,
    send: (data) => sendWhenWritable(stream, data),
    end: () => stream.finish(), // FIN, acknowledged by the peer's KCP; the stream still reads
    close: () => stream.close(),
  });
}

/** Writes `data` to the stream, waiting for `writable$` while it has its high-water mark queued. */
function sendWhenWritable(stream: MuxStream, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): boolean => {
      try {
        if (!stream.write(data)) return false;
      } catch (e) {
        reject(e as Error);
        return true;
      }
      resolve();
      return true;
    };
    if (attempt()) return;
    const waiting = stream.writable$.subscribe({
      next: () => {
        if (attempt()) waiting.unsubscribe();
      },
      error: (e: unknown) => reject(e as Error),
      complete: () => reject(new Error(`smux stream ${stream.id} ended while a write waited`)),
    });
  });
}
