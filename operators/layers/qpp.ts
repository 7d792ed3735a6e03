/**
 * Quantum Permutation Pads over a byte stream, as kcptun's `--QPP` enciphers each smux stream
 * (`src/qpp`): one operator per direction, each subscription running its own generator from the
 * seed, so the bytes depend only on their position in the stream.
 *
 *     plain:  -a---b-|          any pieces
 *     cipher: -a'--b'-|         the same pieces, enciphered; `qppDecrypt` undoes it in any pieces
 *
 * Each chunk is copied before it is enciphered: the source's buffers are left as they were.
 * @module
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { QppStream, type QppPads } from '../../src/qpp/qpp.js';

function qppOperator(pads: QppPads, seed: Uint8Array, decrypt: boolean): MonoTypeOperatorFunction<Uint8Array> {
  return (source) =>
    new Observable<Uint8Array>((subscriber) => {
      const q = new QppStream(pads, seed); // per subscription: a new subscriber starts at byte 0
      return source.subscribe({
        next: (chunk) => {
          const out = chunk.slice();
          if (decrypt) q.decrypt(out);
          else q.encrypt(out);
          subscriber.next(out);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}

export interface QppOptions {
  /** The pads (`new QppPads(seed, count)`). */
  pads: QppPads;
  /** Where the stream's generator starts (kcptun: its --key). */
  seed: Uint8Array;
}

function qppArgs(layer: string, options: QppOptions): QppOptions {
  if (options === null || typeof options !== 'object' || !('pads' in options) || !('seed' in options)) {
    throw new TypeError(`${layer} takes one options object: ${layer}({ pads, seed })`);
  }
  return options;
}

/** Enciphers a byte stream with `pads`, the generator started from `seed`. */
export function qppEncrypt(options: QppOptions): MonoTypeOperatorFunction<Uint8Array> {
  const { pads, seed } = qppArgs('qppEncrypt', options);
  return qppOperator(pads, seed, false);
}

/** Deciphers what `qppEncrypt` with the same pads and seed produced. */
export function qppDecrypt(options: QppOptions): MonoTypeOperatorFunction<Uint8Array> {
  const { pads, seed } = qppArgs('qppDecrypt', options);
  return qppOperator(pads, seed, true);
}
