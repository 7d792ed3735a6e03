/**
 * The contract of conversations and sessions as users meet it: layer throws become typed errors,
 * one failing conversation does not stop the clock for the others, the listener runs every layer
 * slot, one reader at a time, writes that cannot drop, and an end that waits for the peer's ACKs.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asyncScheduler, filter, map, take, tap, timer } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { testScheduler } from '../../marbles/helpers.js';
import { Conversation } from '../../operators/conversation/conversation.js';
import { dial } from '../../operators/transport/dial.js';
import { Listener } from '../../operators/transport/listener.js';
import { PatternVerifier, patternBytes } from '../../operators/testing/pattern.js';
import { toDuplex } from '../../operators/adapters/stream.js';
import { Clock } from '../../operators/conversation/update-clock.js';
import { virtualNetwork } from '../../operators/testing/virtual-link.js';
import { KcpError } from '../../src/errors.js';
import { Prng } from '../../src/prng.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1 };
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** A seeded loss filter for a layer slot: drops `rate` of the datagrams that pass. */
function lossy(seed: number, rate: number) {
  const prng = new Prng(seed);
  return filter<Uint8Array>(() => !prng.chance(rate));
}

describe('a throw inside a layer', () => {
  it("ends only its own conversation, with a KcpError 'LAYER_ERROR', while the clock drives the others", () => {
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const boom = new Error('user layer broke');
      const a = new Conversation({ conv: 1, clock, kcp: fast, layers: { afterCrcCheck: map(() => { throw boom; }) } });
      const b = new Conversation({ conv: 1, clock, kcp: fast });
      const c = new Conversation({ conv: 2, clock, kcp: fast });
      const d = new Conversation({ conv: 2, clock, kcp: fast });
      virtualNetwork(b, a, { ab: { seed: 1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      virtualNetwork(c, d, { ab: { seed: 3, delay: 5 }, ba: { seed: 4, delay: 5 } });
      let error: unknown;
      a.data$.subscribe({ error: (e) => (error = e) });
      let got = 0;
      d.data$.subscribe((m) => {
        got += m.length;
        if (got === 50_000) (c.close(), d.close(), b.close());
      });
      b.write(new Uint8Array(100));
      for (let i = 0; i < 50; i++) void c.send(new Uint8Array(1000));
      flush();
      expect(error).toBeInstanceOf(KcpError);
      expect((error as KcpError).code).toBe('LAYER_ERROR');
      expect((error as KcpError).cause).toBe(boom);
      expect(got).toBe(50_000);
    });
  });

  it('from a clock flush isolates that conversation: the others keep ticking', () => {
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const broken = new Conversation({ conv: 1, clock, kcp: fast });
      const c = new Conversation({ conv: 2, clock, kcp: fast });
      const d = new Conversation({ conv: 2, clock, kcp: fast });
      virtualNetwork(c, d, { ab: { seed: 3, loss: 0.1, delay: 5 }, ba: { seed: 4, delay: 5 } });
      broken.kcp.flush = () => {
        throw new TypeError('core broke');
      };
      let error: unknown;
      broken.data$.subscribe({ error: (e) => (error = e) });
      let got = 0;
      d.data$.subscribe((m) => {
        got += m.length;
        if (got === 50_000) (c.close(), d.close());
      });
      for (let i = 0; i < 50; i++) void c.send(new Uint8Array(1000));
      flush();
      expect((error as KcpError).code).toBe('LAYER_ERROR');
      expect(broken.closed).toBe(true);
      expect(got).toBe(50_000);
    });
  });
});

describe('one reader at a time', () => {
  it("refuses a second concurrent reader of data$ with 'READER_BUSY'; the first keeps every message", () => {
    testScheduler().run(({ flush }) => {
      const a = new Conversation({ conv: 3, kcp: fast });
      const b = new Conversation({ conv: 3, kcp: fast });
      virtualNetwork(a, b, { ab: { seed: 1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      const first: number[] = [];
      b.data$.subscribe((m) => first.push(m[0]!));
      let second: unknown;
      b.data$.subscribe({ next: () => expect.unreachable(), error: (e) => (second = e) });
      for (let i = 0; i < 20; i++) void a.send(new Uint8Array(10).fill(i));
      flush();
      expect((second as KcpError).code).toBe('READER_BUSY');
      expect(first).toEqual([...Array(20).keys()]);
      a.close();
      b.close();
    });
  });

  it('lets a reader pause (unsubscribe inside next) and a later one resume without losing or repeating a message', () => {
    testScheduler().run(({ flush }) => {
      const a = new Conversation({ conv: 3, kcp: fast });
      const b = new Conversation({ conv: 3, kcp: fast });
      const net = virtualNetwork(a, b, { ab: { seed: 1, loss: 0.1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      const got: number[] = [];
      const readOne = (): void => {
        // one message per reader: take(1) unsubscribes from inside next
        b.data$.pipe(take(1)).subscribe((m) => {
          got.push(m[0]!);
          if (got.length === 100) (a.close(), b.close(), net.unsubscribe());
          else asyncScheduler.schedule(readOne, 3); // the next reader comes a little later
        });
      };
      readOne();
      for (let i = 0; i < 100; i++) void a.send(new Uint8Array(10).fill(i));
      flush();
      expect(got).toEqual([...Array(100).keys()]);
    });
  });
});

describe('writes that cannot drop, and re-entrancy', () => {
  it('send() queues in order past a full window; write() from inside a data$ subscriber is safe', async () => {
    const results = testScheduler().run(({ flush }) => {
      const a = new Conversation({ conv: 4, kcp: { ...fast, sndWnd: 8, rcvWnd: 8 } });
      const b = new Conversation({ conv: 4, kcp: { ...fast, sndWnd: 8, rcvWnd: 8 } });
      const net = virtualNetwork(a, b, { ab: { seed: 5, loss: 0.05, delay: 5 }, ba: { seed: 6, loss: 0.05, delay: 5 } });
      // b echoes from inside its subscriber (re-entrant write); a reads the echo
      b.data$.subscribe((m) => void b.send(m));
      const back: number[] = [];
      a.data$.subscribe((m) => {
        back.push(m[0]!);
        if (back.length === 500) (a.close(), b.close(), net.unsubscribe());
      });
      const sends = Array.from({ length: 500 }, (_, i) => a.send(new Uint8Array(300).fill(i & 0xff)));
      expect(a.write(new Uint8Array(1))).toBe(false); // later writes wait behind queued sends
      flush();
      return { back, sends };
    });
    await Promise.all(results.sends);
    expect(results.back).toEqual(Array.from({ length: 500 }, (_, i) => i & 0xff));
  });

  it('close() from inside next completes data$ and rejects what still waits, with no throw', async () => {
    const r = testScheduler().run(({ flush }) => {
      const a = new Conversation({ conv: 5, kcp: { ...fast, sndWnd: 4 } });
      const b = new Conversation({ conv: 5, kcp: fast });
      virtualNetwork(a, b, { ab: { seed: 1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      let completed = false;
      const got: number[] = [];
      b.data$.subscribe({
        next: (m) => {
          got.push(m.length);
          b.close();
        },
        complete: () => (completed = true),
      });
      const pending = Array.from({ length: 20 }, () => a.send(new Uint8Array(2000)));
      const drained = a.drain();
      timer(5000).subscribe(() => a.close()); // the reader is gone: the writer gives up
      flush();
      return { completed, got, settled: Promise.allSettled([...pending, drained]) };
    });
    expect(r.completed).toBe(true);
    expect(r.got.length).toBeGreaterThanOrEqual(1);
    const settled = await r.settled;
    const rejected = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.length).toBeGreaterThan(0);
    for (const s of rejected) expect((s.reason as KcpError).code).toBe('CLOSED');
  });

  it('drain() and end() after close() reject when close() discarded a queued send, resolve when it discarded nothing', async () => {
    const r = testScheduler().run(({ flush }) => {
      // a: its window full, one send waits in the queue when it closes
      const a = new Conversation({ conv: 7, kcp: { ...fast, sndWnd: 2 } });
      // c: everything it wrote is acknowledged before it closes
      const c = new Conversation({ conv: 8, kcp: fast });
      const b = new Conversation({ conv: 7, kcp: fast });
      const d = new Conversation({ conv: 8, kcp: fast });
      virtualNetwork(a, b, { ab: { seed: 1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      virtualNetwork(c, d, { ab: { seed: 3, delay: 5 }, ba: { seed: 4, delay: 5 } });
      b.data$.subscribe();
      d.data$.subscribe();
      const outcome = (p: Promise<void>) => p.then(() => 'resolved', (e: KcpError) => e.code);
      const out: Record<string, Promise<string>> = {};
      expect(a.write(new Uint8Array(2 * a.kcp.mss))).toBe(true); // fills the window of 2
      out.queued = outcome(a.send(new Uint8Array(1))); // waits for room
      c.write(new Uint8Array(100));
      timer(500).subscribe(() => {
        // a's first write is acknowledged by now; its queued send was taken then, so queue again
        a.write(new Uint8Array(2 * a.kcp.mss));
        out.late = outcome(a.send(new Uint8Array(1)));
        a.close();
        c.close();
      });
      // later, while both linger: the ACKs for what was in flight have arrived, the queued send is gone
      timer(600).subscribe(() => {
        out.aDrain = outcome(a.drain());
        out.aEnd = outcome(a.end());
        out.cDrain = outcome(c.drain());
        out.cEnd = outcome(c.end());
      });
      flush();
      return out;
    });
    const got = Object.fromEntries(await Promise.all(Object.entries(r).map(async ([k, v]) => [k, await v])));
    expect(got).toEqual({ queued: 'resolved', late: 'CLOSED', aDrain: 'CLOSED', aEnd: 'CLOSED', cDrain: 'resolved', cEnd: 'resolved' });
  });

  it('drain() rejects with the error that ends the conversation', async () => {
    const r = testScheduler().run(({ flush }) => {
      const a = new Conversation({ conv: 6, kcp: { ...fast, deadLink: 3 }, failOnDeadLink: true }); // nobody answers
      a.data$.subscribe({ error: () => {} });
      a.write(new Uint8Array(100));
      const drained = a.drain().then(
        () => 'resolved',
        (e: KcpError) => e.code
      );
      flush();
      return drained;
    });
    expect(await r).toBe('DEAD_LINK');
  });
});

describe('sessions over real UDP', () => {
  it('runs a session\'s afterDecrypt layer on the server side of a listener too', async () => {
    let serverSaw = 0;
    const l = await Listener.listen({
      listen: '127.0.0.1:0',
      crypt: 'aes',
      key: 'slot',
      ...fast,
      layers: { afterDecrypt: tap(() => serverSaw++) },
    });
    cleanup.push(() => l.close());
    const got: Uint8Array[] = [];
    l.sessions$.subscribe((s) => s.data$.subscribe((m) => got.push(m)));
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: 'slot', ...fast });
    cleanup.push(() => c.close());
    await c.send(new TextEncoder().encode('hello'));
    await c.drain();
    expect(new TextDecoder().decode(got[0])).toBe('hello');
    expect(serverSaw).toBeGreaterThan(0);
  });

  it("the listener's accept stream: a subscriber that takes one session and stops inside next leaves the rest for the next", async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    const clients = await Promise.all([1, 2, 3].map(() => dial({ connect: `127.0.0.1:${l.address.port}`, ...fast })));
    cleanup.push(() => clients.forEach((c) => c.close()));
    for (const c of clients) await c.send(new Uint8Array([1]));
    for (let i = 0; i < 100 && l.size < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(l.size).toBe(3);
    const first: number[] = [];
    l.sessions$.pipe(take(1)).subscribe((s) => first.push(s.conv));
    const rest: number[] = [];
    l.sessions$.subscribe((s) => rest.push(s.conv));
    expect(first).toHaveLength(1);
    expect(rest).toHaveLength(2);
    expect(new Set([...first, ...rest])).toEqual(new Set(clients.map((c) => c.conv)));
  });

  it('await pipeline(source, toDuplex(session)) resolves only when the peer has every byte; close() right after loses nothing (5 % loss)', async () => {
    const seed = 11;
    const total = 3_000_000;
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, sndWnd: 256, rcvWnd: 256, layers: { afterEncrypt: lossy(seed, 0.05) } });
    cleanup.push(() => l.close());
    const verifier = new PatternVerifier();
    l.sessions$.subscribe((s) => s.data$.subscribe((m) => verifier.push(m)));
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, sndWnd: 256, rcvWnd: 256, layers: { afterEncrypt: lossy(seed + 1, 0.05) } });
    const chunks = function* () {
      for (let off = 0; off < total; off += 65536) yield Buffer.from(patternBytes(off, Math.min(65536, total - off)));
    };
    await pipeline(Readable.from(chunks()), toDuplex(c));
    c.close(); // as a user would, right after the pipeline resolved
    await new Promise((r) => setTimeout(r, 300)); // the server reads what already arrived
    expect(verifier.error, `seed ${seed}`).toBeNull();
    expect(verifier.offset, `seed ${seed}`).toBe(total);
  });

  it('a Duplex reader that pauses and resumes gets every byte; the readable side ends when the session closes', async () => {
    const total = 2_000_000;
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, sndWnd: 64, rcvWnd: 64 });
    cleanup.push(() => l.close());
    const verifier = new PatternVerifier();
    let ended = false;
    const serverSide = new Promise<void>((resolve, reject) => {
      l.sessions$.subscribe((s) => {
        const d = toDuplex(s);
        let n = 0;
        const slow = new Writable({
          highWaterMark: 16384,
          write(chunk: Buffer, _e, cb) {
            verifier.push(chunk);
            n += chunk.length;
            if (n >= total) s.close();
            if (n % 7 === 0) setTimeout(cb, 5); // a reader that stalls now and then
            else cb();
          },
        });
        d.on('end', () => (ended = true));
        pipeline(d, slow).then(resolve, reject);
      });
    });
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, sndWnd: 64, rcvWnd: 64 });
    cleanup.push(() => c.close());
    for (let off = 0; off < total; off += 10_000) await c.send(patternBytes(off, Math.min(10_000, total - off)));
    await c.end();
    await serverSide;
    expect(verifier.error).toBeNull();
    expect(verifier.offset).toBe(total);
    expect(ended).toBe(true);
  });
});
