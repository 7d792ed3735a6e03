/**
 * `toWebStreams` on real UDP sessions over 127.0.0.1: an echo server written with web streams
 * (`readable.pipeTo(writable)`) and a client that pipes 2 MiB through it and reads it back through
 * a `TransformStream` byte-exact; a readable nobody reads holds the sender back; cancelling the
 * readable takes nothing more (a `data$` reader continues at the next byte); closing the writable
 * waits for the peer's acknowledgements; aborting it closes the session; a chunk that is not a
 * Uint8Array is refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { firstValueFrom } from 'rxjs';
import { readVerified, sessionPair } from './helpers/sockets.js';
import { afterEach, describe, expect, it } from 'vitest';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';
import { toWebStreams } from '../operators/adapters/web-streams.js';
import { Prng } from '../src/prng.js';

const common = { mode: 'fast3' as const, crypt: 'aes' as const, key: 'web-streams' };
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

const pair = () => sessionPair(common, cleanup);

/** A ReadableStream of `data` in pieces of `chunk` bytes, made only as it is pulled. */
function source(data: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= data.length) return c.close();
      c.enqueue(data.slice(off, off + chunk));
      off += chunk;
    },
  });
}

describe('toWebStreams over a session', () => {
  it('pipeTo and pipeThrough through a web-streams echo server carry 2 MiB byte-exact', async () => {
    const { client, server } = await pair();
    const echo = toWebStreams(server);
    const echoing = echo.readable.pipeTo(echo.writable).catch(() => {});

    const seed = Date.now() >>> 0;
    const data = new Prng(seed).bytes(2 << 20);
    const { readable, writable } = toWebStreams(client);
    const sending = source(data, 7000).pipeTo(writable); // resolves after end(): every byte acknowledged

    const got = new Uint8Array(data.length);
    let n = 0;
    let chunks = 0;
    const counted = readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(m, c) {
          chunks++;
          c.enqueue(m);
        },
      })
    );
    const reader = counted.getReader();
    while (n < data.length) {
      const r = await reader.read();
      if (r.done) break;
      expect(n + r.value.length, `seed ${seed}`).toBeLessThanOrEqual(data.length);
      got.set(r.value, n);
      n += r.value.length;
    }
    await sending;
    expect(n, `seed ${seed}`).toBe(data.length);
    expect(Buffer.from(got).equals(Buffer.from(data)), `seed ${seed}`).toBe(true);
    expect(chunks).toBeGreaterThan(1);
    expect(client.waitSnd()).toBe(0); // closing the writable waited for the acknowledgements
    reader.releaseLock();
    client.close({ linger: false });
    server.close({ linger: false });
    await echoing;
  }, 90_000);

  it('a readable nobody reads holds the sender back; cancelling it takes nothing more', async () => {
    const { client, server } = await pair();
    const total = 1 << 20;
    const sender = toWebStreams(server).writable.getWriter();
    let accepted = 0;
    let done = false;
    const sending = (async () => {
      for (let off = 0; off < total; off += 4096) {
        await sender.write(patternBytes(off, 4096));
        accepted = off + 4096;
      }
      done = true;
    })();

    const { readable } = toWebStreams(client);
    const reader = readable.getReader();
    const verifier = new PatternVerifier();
    while (verifier.offset < 128 * 1024) {
      const r = await reader.read();
      expect(r.done).toBe(false);
      expect(verifier.push(r.value!), verifier.error ?? '').toBe(true);
    }
    // nothing reads now: the readable reads nothing ahead, and the sender stalls
    await sleep(300);
    const stalledAt = accepted;
    await sleep(300);
    expect(done).toBe(false);
    expect(accepted).toBe(stalledAt);
    expect(accepted).toBeLessThan(total);

    // one more read, then the readable is cancelled: a data$ reader continues at the next byte
    const r = await reader.read();
    expect(r.done).toBe(false);
    expect(verifier.push(r.value!), verifier.error ?? '').toBe(true);
    await reader.cancel();
    await readVerified(client.data$, verifier, total);
    await sending;
    expect(verifier.offset).toBe(total);
  }, 60_000);

  it('aborting the writable closes the session; a chunk that is not a Uint8Array is refused', async () => {
    const { client } = await pair();
    const { writable } = toWebStreams(client);
    const w = writable.getWriter();
    await expect(w.write('text' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    expect(client.closed).toBe(false);

    const { writable: second } = toWebStreams(client);
    await second.getWriter().abort(new Error('stop'));
    expect(client.closed).toBe(true);
    expect((await firstValueFrom(client.ended$)).reason).toBe('closed');
  }, 30_000);
});
