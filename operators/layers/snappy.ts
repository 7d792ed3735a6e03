/**
 * Snappy compression as kcptun puts it around smux: the framing format over a byte stream.
 *
 *     writes:     -a-----b-------|
 *     compressed: -(id a')-b'----|     id = the stream identifier chunk, once; a' = a's chunks
 *
 *     received:   -x--y---z-|          pieces of a framed stream, cut anywhere
 *     decoded:    -d0---(d1d2)-|       each chunk's data as it completes
 *
 * `snappyCompress()` frames each chunk as Go's buffered writer does for a Write followed by a
 * Flush (what kcptun's CompStream does per smux frame): the same bytes. `snappyDecompress()`
 * errors with a `KcpError` ('SNAPPY_CORRUPT') on a stream that does not decode (a reliable byte
 * stream cannot skip a bad piece). Each subscription has its own coder.
 *
 * `compressDuplex(transport)` wraps a `ByteDuplex` (a KCP session) so that what is written is
 * compressed and what is read is decompressed, keeping one coder per direction across pauses.
 * @module
 */
import { firstValueFrom, Observable, Subject, type OperatorFunction, type Subscription } from 'rxjs';
import { KcpError } from '../../src/errors.js';
import { SnappyFrameDecoder, SnappyFrameEncoder } from '../../src/snappy/framing.js';
import type { ByteDuplex } from '../conversation/mux.js';

export function snappyCompress(): OperatorFunction<Uint8Array, Uint8Array> {
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const encoder = new SnappyFrameEncoder();
      return source.subscribe({
        next: (chunk) => {
          if (chunk.length > 0) subscriber.next(encoder.encode(chunk));
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}

export function snappyDecompress(): OperatorFunction<Uint8Array, Uint8Array> {
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const decoder = new SnappyFrameDecoder();
      return source.subscribe({
        next: (chunk) => {
          const err = decoder.push(chunk, subscriber);
          if (err) subscriber.error(err);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          if (!decoder.atBoundary) subscriber.error(new KcpError('SNAPPY_CORRUPT', 'snappy stream: ended inside a chunk'));
          else subscriber.complete();
        },
      });
    });
}

/**
 * `transport` with snappy framing on both directions. Reading may pause and resume (unsubscribe,
 * subscribe again) without losing anything: data decoded for a reader that left mid-chunk waits
 * for the next one. A write the transport refuses is held (one at most) and reported accepted;
 * later writes are refused until it went out and `writable$` fired.
 */
export function compressDuplex(transport: ByteDuplex): ByteDuplex & { readonly decoder: SnappyFrameDecoder } {
  const encoder = new SnappyFrameEncoder();
  const decoder = new SnappyFrameDecoder();
  const leftover: Uint8Array[] = [];
  const drained = new Subject<void>();
  let held: Uint8Array | null = null;
  let waiting: Subscription | null = null;

  const data$ = new Observable<Uint8Array>((subscriber) => {
    while (leftover.length > 0 && !subscriber.closed) subscriber.next(leftover.shift()!);
    if (subscriber.closed) return undefined;
    if (decoder.error) {
      subscriber.error(decoder.error);
      return undefined;
    }
    const sink = { next: (d: Uint8Array) => (subscriber.closed ? leftover.push(d) : subscriber.next(d)) };
    return transport.data$.subscribe({
      next: (chunk) => {
        const err = decoder.push(chunk, sink);
        if (err) subscriber.error(err);
      },
      error: (e: unknown) => subscriber.error(e),
      complete: () => subscriber.complete(),
    });
  });

  const flushHeld = (): void => {
    if (held === null) return;
    if (!transport.write(held)) return;
    held = null;
    waiting?.unsubscribe();
    waiting = null;
    drained.next();
  };

  return {
    decoder,
    data$,
    writable$: drained.asObservable(),
    write(data: Uint8Array): boolean {
      if (held !== null) return false;
      if (data.length === 0) return true;
      const framed = encoder.encode(data);
      if (transport.write(framed)) return true;
      held = framed;
      waiting = transport.writable$.subscribe({
        next: flushHeld,
        error: (e: unknown) => drained.error(e),
        complete: () => drained.complete(),
      });
      return true;
    },
    close(): void {
      waiting?.unsubscribe();
      transport.close();
    },
    async drain(): Promise<void> {
      while (held !== null) await firstValueFrom(drained, { defaultValue: undefined });
      await transport.drain?.();
    },
  };
}
