/**
 * `for await (const m of session)` on real UDP sessions over 127.0.0.1: a slow consumer holds the
 * sender back (its sends stop being accepted while the loop is busy), a `break` mid-stream loses
 * nothing (a second loop and then a plain `data$` reader continue at the exact next byte), and a
 * loop ends when its session closes. Conversations iterate the same way in virtual time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtualTimeScheduler } from 'rxjs';
import { readVerified, sessionPair } from './helpers/sockets.js';
import { afterEach, describe, expect, it } from 'vitest';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';
import type { Session } from '../operators/transport/session.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { Conversation } from '../operators/conversation/conversation.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';
import { createCrypt } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';

const common = { mode: 'fast3' as const, crypt: 'aes' as const, key: 'async-iteration' };
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

const pair = () => sessionPair(common, cleanup);

/** Sends `total` pattern bytes in 4 KiB pieces with `send`; `accepted` counts what was taken so far. */
function sendPattern(s: Session, total: number) {
  const state = { accepted: 0, done: false };
  const finished = (async () => {
    for (let off = 0; off < total; off += 4096) {
      await s.send(patternBytes(off, Math.min(4096, total - off)));
      state.accepted = off + Math.min(4096, total - off);
    }
    state.done = true;
  })();
  return { state, finished };
}

describe('for await over a session', () => {
  it('a slow consumer holds the sender back; break mid-stream loses nothing for the next reader', async () => {
    const { client, server } = await pair();
    const total = 1 << 20;
    const { state, finished } = sendPattern(server, total);
    const verifier = new PatternVerifier();

    // first loop: slow (a pause every 8 messages), breaks after 256 KiB
    let messages = 0;
    for await (const m of client) {
      expect(verifier.push(m), verifier.error ?? '').toBe(true);
      if (++messages % 8 === 0) await sleep(2);
      if (verifier.offset >= 256 * 1024) break;
    }
    const stoppedAt = verifier.offset;
    expect(stoppedAt).toBeLessThan(total);

    // nothing reads now: the receiver's window fills and the sender's sends stop being accepted
    await sleep(300);
    const acceptedWhileIdle = state.accepted;
    await sleep(300);
    expect(state.done).toBe(false);
    expect(state.accepted).toBe(acceptedWhileIdle);
    expect(state.accepted).toBeLessThan(total);

    // second loop continues at the exact next byte, breaks again
    for await (const m of client) {
      expect(verifier.push(m), verifier.error ?? '').toBe(true);
      if (verifier.offset >= 640 * 1024) break;
    }
    expect(verifier.offset).toBeGreaterThan(stoppedAt);

    // a plain data$ reader takes the rest
    await readVerified(client.data$, verifier, total);
    await finished;
    expect(verifier.offset).toBe(total);
    expect(verifier.error).toBeNull();
  }, 60_000);

  it('a loop ends when its session closes, and a next() pending at return() settles done', async () => {
    const { client, server } = await pair();
    const it = client[Symbol.asyncIterator]();
    const pending = it.next(); // nothing is sent: it waits
    await sleep(50);
    expect(await it.return!()).toEqual({ done: true, value: undefined });
    expect(await pending).toEqual({ done: true, value: undefined });

    await server.send(patternBytes(0, 1000));
    const seen: number[] = [];
    setTimeout(() => client.close(), 300);
    for await (const m of client) seen.push(m.length);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(1000); // what came before the close, then the end
    expect(client.closed).toBe(true);
  }, 30_000);

  it('a loop that errors rejects with the session error', async () => {
    const { client } = await pair();
    const loop = (async () => {
      for await (const _ of client) void _;
    })();
    client.fail(new KcpError('RESET', 'reset by the test'));
    await expect(loop).rejects.toMatchObject({ name: 'KcpError', code: 'RESET' });
  }, 30_000);
});

describe('for await over a conversation', () => {
  it('reads every byte in virtual time over a lossy link, one message per step', async () => {
    const scheduler = new VirtualTimeScheduler();
    const clock = new Clock(scheduler);
    const options = { conv: 5, clock, crypt: createCrypt('none', new Uint8Array(0)), kcp: { nodelay: 1, interval: 10, resend: 2, nc: 1 } };
    const a = new Conversation(options);
    const b = new Conversation(options);
    const net = virtualNetwork(a, b, { ab: { seed: 11, loss: 0.1, delay: 20 }, ba: { seed: 12, delay: 20 }, scheduler });
    void a.send(patternBytes(0, 50_000));
    const verifier = new PatternVerifier();
    const it = b[Symbol.asyncIterator]();
    let steps = 0;
    while (verifier.offset < 50_000) {
      let r: IteratorResult<Uint8Array> | null = null;
      void it.next().then((x) => (r = x));
      // virtual time runs 10 ms at a time (the clock never idles) until the read has its message
      while (r === null) {
        expect(++steps).toBeLessThan(100_000);
        scheduler.maxFrames = scheduler.frame + 10;
        scheduler.flush();
        await Promise.resolve();
        await Promise.resolve();
      }
      const got = r as IteratorResult<Uint8Array>;
      expect(got.done).toBe(false);
      expect(verifier.push(got.value!), verifier.error ?? '').toBe(true);
    }
    await it.return!();
    a.close({ linger: false });
    b.close({ linger: false });
    net.unsubscribe();
    expect(verifier.offset).toBe(50_000);
  });
});
