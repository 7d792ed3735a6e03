import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { qppDecrypt, qppEncrypt } from '../operators/layers/qpp.js';
import { QppPads, QppStream } from '../src/qpp/qpp.js';

const seed = new TextEncoder().encode('marble-qpp-seed');
const pads = new QppPads(seed, 7);
const plain = { a: Uint8Array.of(1, 2, 3), b: new Uint8Array(13).fill(9), c: Uint8Array.of(4) };

/** The core's cipher of the concatenation, cut back into the same pieces. */
function coreCipher(...chunks: Uint8Array[]): Uint8Array[] {
  const q = new QppStream(pads, seed);
  return chunks.map((c) => {
    const out = c.slice();
    q.encrypt(out);
    return out;
  });
}

describe('qppEncrypt / qppDecrypt', () => {
  let rx: TestScheduler;
  beforeEach(() => {
    rx = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it("enciphers each chunk where the stream is, as the core does, and leaves the source's buffers alone", () => {
    rx.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('  a-b--c|', plain);
      const [x, y, z] = coreCipher(plain.a, plain.b, plain.c);
      expectObservable(src.pipe(qppEncrypt({ pads, seed }))).toBe('a-b--c|', { a: x, b: y, c: z });
      expectSubscriptions(src.subscriptions).toBe('^-----!');
    });
    expect(plain.a).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('deciphers in other pieces, and each subscription starts at byte 0', () => {
    const [x, y, z] = coreCipher(plain.a, plain.b, plain.c);
    const all = new Uint8Array([...x!, ...y!, ...z!]);
    const pieces = { p: all.subarray(0, 5), q: all.subarray(5, 6), r: all.subarray(6) };
    const back = new Uint8Array([...plain.a, ...plain.b, ...plain.c]);
    rx.run(({ cold, expectObservable }) => {
      const src = cold('p-q-r|', pieces);
      const expected = { p: back.subarray(0, 5), q: back.subarray(5, 6), r: back.subarray(6) };
      expectObservable(src.pipe(qppDecrypt({ pads, seed }))).toBe('p-q-r|', expected);
      expectObservable(src.pipe(qppDecrypt({ pads, seed }))).toBe('p-q-r|', expected);
    });
  });

  it('passes errors on', () => {
    rx.run(({ cold, expectObservable }) => {
      expectObservable(cold('a-#', plain).pipe(qppEncrypt({ pads, seed }))).toBe('a-#', { a: coreCipher(plain.a)[0] });
    });
  });
});
