/**
 * A session (or any byte channel with `data$`, `send`, `end` and `close`, such as a mux stream)
 * as a pair of WHATWG streams, for code written against `ReadableStream`/`WritableStream`:
 * `pipeTo`, `pipeThrough`, `TextDecoderStream`, `Response` bodies.
 *
 * The readable side is pull-based with a high-water mark of zero: it reads one message from
 * `data$` for each read its consumer makes and none ahead, so a slow consumer leaves data waiting
 * in KCP and the peer's window closes, and cancelling it loses nothing (no message waits in its
 * queue): the channel stays open and a later reader continues at the next byte. It closes when
 * `data$` completes and errors when `data$` errors.
 *
 * The writable side sends each chunk with `send` (a write resolves once the chunk is accepted,
 * waiting for room in the send window); closing it calls `end()`, which resolves once the peer has
 * acknowledged every byte; aborting it calls `close()`.
 * @module
 */
import { readOneByOne } from './async-iteration.js';
import type { DuplexEnds } from './stream.js';

/** The two WHATWG streams over one byte channel. */
export interface WebStreams {
  /** What the peer sends, one chunk per message. */
  readonly readable: ReadableStream<Uint8Array>;
  /** What to send: each chunk a `Uint8Array`. */
  readonly writable: WritableStream<Uint8Array>;
}

/**
 * A session (or any {@link DuplexEnds}) as a `ReadableStream` and a `WritableStream` with
 * back-pressure both ways (see the module's description).
 *
 * @example
 * const { readable, writable } = toWebStreams(await dial({ connect: '127.0.0.1:4000', mode: 'fast3' }));
 * await fetchBody.pipeTo(writable);
 */
export function toWebStreams(ends: DuplexEnds): WebStreams {
  const messages = readOneByOne(ends.data$);
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await messages.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel() {
        await messages.return?.();
      },
    },
    { highWaterMark: 0 }
  );
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError(`toWebStreams: chunks must be Uint8Array, got ${Object.prototype.toString.call(chunk)}`);
      return ends.send(chunk);
    },
    close() {
      return ends.end();
    },
    abort() {
      ends.close();
    },
  });
  return { readable, writable };
}
