import { describe, expect, it } from 'vitest';
import { Conversation } from '../operators/conversation/conversation.js';
import { ConversationPolicy } from '../operators/conversation/conversation-policy.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';
import { createCrypt } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';
import { IKCP_CMD_ACK, IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { decodeHeader, encodeSegment } from '../src/kcp/segment.js';
import { CC_NAMES } from '../src/kcp/cc-names.js';
import type { CcName } from '../src/kcp/cc.js';
import { Prng } from '../src/prng.js';
import { Digest, bytes, pumpThrough, seededRandom, testScheduler } from './helpers.js';

describe('Conversation timing in virtual time', () => {
  it('backs off retransmissions (200, 400, 600 ms) and, with failOnDeadLink, errors with DEAD_LINK at deadLink', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const c = new Conversation({ conv: 1, kcp: { nodelay: 0, interval: 10, nc: 1, deadLink: 4 }, failOnDeadLink: true });
      const times = c.datagrams$;
      const err = new KcpError('DEAD_LINK', 'conversation 1: peer unreachable (dead link)', { conv: 1 });
      expectObservable(times, '^ 2000ms !').toBe('a 199ms b 399ms c 599ms (d#)', { a: expect.any(Uint8Array), b: expect.any(Uint8Array), c: expect.any(Uint8Array), d: expect.any(Uint8Array) }, err);
      cold('a').subscribe(() => c.write(bytes(100, 1))); // frame 0, after the expectation subscribed
    });
  });

  it('by default, as kcp-go, keeps retransmitting past deadLink and counts the dead link once', () => {
    const seen: { dead: boolean; deadLinks: number; closed: boolean }[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const c = new Conversation({ conv: 1, kcp: { nodelay: 0, interval: 10, nc: 1, deadLink: 4 } });
      const any = expect.any(Uint8Array);
      expectObservable(c.datagrams$).toBe('a 199ms b 399ms c 599ms d 799ms e 999ms f 99ms |', { a: any, b: any, c: any, d: any, e: any, f: any });
      cold('a').subscribe(() => c.write(bytes(100, 1)));
      cold('3100ms a').subscribe(() => {
        seen.push({ dead: c.kcp.isDead, deadLinks: c.stats.DeadLinks, closed: c.closed });
        c.close(); // it would retransmit for ever, as kcp-go's session does
      });
    });
    expect(seen).toEqual([{ dead: true, deadLinks: 1, closed: false }]);
  });

  it('stops the clock when every conversation on it is closed', () => {
    testScheduler().run(() => {
      const clock = new Clock();
      const convs = [1, 2, 3].map((conv) => new Conversation({ conv, clock }));
      expect(clock.armed).toBe(true);
      convs.forEach((c) => c.close());
      expect(clock.armed).toBe(false);
      expect(clock.size).toBe(0);
    });
  });

  it('refuses writes at the send window and signals when they may resume', () => {
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const a = new Conversation({ conv: 9, clock, kcp: { sndWnd: 4, nodelay: 1, interval: 10, nc: 1 } });
      const b = new Conversation({ conv: 9, clock, kcp: { rcvWnd: 128, nodelay: 1, interval: 10, nc: 1 } });
      const net = virtualNetwork(a, b, { ab: { seed: 1, delay: 20 }, ba: { seed: 2, delay: 20 } });
      const got: number[] = [];
      b.data$.subscribe((m) => got.push(m.length));
      let accepted = 0;
      let resumed = 0;
      while (a.write(bytes(100, accepted))) accepted++;
      expect(accepted).toBe(4);
      a.writable$.subscribe(() => {
        resumed++;
        a.close();
        b.close();
        net.unsubscribe();
      });
      flush();
      expect(resumed).toBe(1);
      expect(got).toEqual([100, 100, 100, 100]);
      expect(() => a.write(bytes(1))).toThrow(KcpError);
    });
  });
});

/** kcp-go's TestLossyConn: 16 echo round trips of 64-byte messages over a lossy 100 ms link. */
function lossyConn(loss: number, nc: number, seed: number) {
  const digest = new Digest();
  let roundTrips = 0;
  let finishedAt = -1;
  const stats: number[] = [];
  testScheduler().run(({ flush }) => {
    const clock = new Clock();
    const kcp = { nodelay: 1, interval: 10, resend: 2, nc };
    const crypt = createCrypt('aes', bytes(32, 3), { random: seededRandom(seed) });
    const client = new Conversation({ conv: 42, clock, kcp, crypt });
    const server = new Conversation({ conv: 42, clock, kcp, crypt });
    const net = virtualNetwork(client, server, { ab: { seed, loss, delay: 100 }, ba: { seed: seed + 1, loss, delay: 100 } });
    const prng = new Prng(seed);
    server.data$.subscribe((m) => server.write(m));
    let expected = prng.bytes(64);
    client.data$.subscribe((m) => {
      digest.bytes(m).num(clock.now());
      expect(m).toEqual(expected);
      if (++roundTrips === 16) {
        finishedAt = clock.now();
        for (const c of [client, server]) for (const v of Object.values(c.stats.snapshot())) stats.push(v);
        client.close();
        server.close();
        net.unsubscribe();
        return;
      }
      expected = prng.bytes(64);
      client.write(expected);
    });
    client.write(expected);
    clock.scheduler.schedule(() => (client.close(), server.close(), net.unsubscribe()), 600_000); // a bound, not reached
    flush();
  });
  stats.forEach((v) => digest.num(v));
  return { roundTrips, finishedAt, digest: digest.value };
}

describe("kcp-go's TestLossyConn in virtual time", () => {
  const cases: [string, number, number][] = [
    ['TestLossyConn1: 10 % loss', 0.1, 1],
    ['TestLossyConn2: 20 % loss', 0.2, 1],
    ['TestLossyConn3: 30 % loss', 0.3, 1],
    ['TestLossyConn4: 10 % loss, congestion control on', 0.1, 0],
  ];
  cases.forEach(([name, loss, nc], i) => {
    it(`${name}: 16 round trips of 64 bytes complete, bit for bit repeatable`, () => {
      const first = lossyConn(loss, nc, 100 + i);
      expect(first.roundTrips).toBe(16);
      expect(first.finishedAt).toBeGreaterThanOrEqual(16 * 200); // each round trip is at least 200 ms
      expect(first.finishedAt).toBeLessThan(600_000);
      expect(lossyConn(loss, nc, 100 + i)).toEqual(first);
      expect(lossyConn(loss, nc, 200 + i).digest).not.toBe(first.digest); // the seed matters
    });
  });
});

describe('FEC in a lossy transfer', () => {
  function transfer(fec: boolean) {
    const out = { delivered: 0, retrans: 0, recovered: 0, at: 0 };
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 256, rcvWnd: 256 };
      const opts = { conv: 7, clock, kcp, fec: fec ? { dataShards: 10, parityShards: 3 } : null };
      const a = new Conversation(opts);
      const b = new Conversation(opts);
      const net = virtualNetwork(a, b, { ab: { seed: 5, loss: 0.2, delay: 30 }, ba: { seed: 6, loss: 0.2, delay: 30 } });
      const data = new Prng(1).bytes(1 << 20);
      pumpThrough(a, b, net, data, (received) => {
        out.delivered = received.length;
        out.at = clock.now();
        out.retrans = a.stats.RetransSegs;
        out.recovered = b.stats.FECRecovered;
        expect(received.equals(Buffer.from(data))).toBe(true);
      });
      flush();
    });
    return out;
  }

  it('1 MB at 20 % loss: with FEC 10/3 most losses are rebuilt and fewer segments are retransmitted', () => {
    const plain = transfer(false);
    const withFec = transfer(true);
    expect(plain.delivered).toBe(1 << 20);
    expect(withFec.delivered).toBe(1 << 20);
    expect(plain.recovered).toBe(0);
    expect(withFec.recovered).toBeGreaterThan(100);
    expect(withFec.retrans).toBeLessThan(plain.retrans);
  });
});

describe('one clock, many conversations', () => {
  it('10,000 conversations share a single scheduled action and all deliver', () => {
    let scheduled = 0;
    testScheduler().run(({ flush }) => {
      const base = new Clock().scheduler;
      const counting = {
        now: () => base.now(),
        schedule: ((...args: Parameters<typeof base.schedule>) => {
          scheduled++;
          return base.schedule(...args);
        }) as typeof base.schedule,
      };
      const clock = new Clock(counting);
      let delivered = 0;
      const pairs = 5000;
      const subs: { close(): void }[] = [];
      for (let i = 0; i < pairs; i++) {
        const a = new Conversation({ conv: i, clock });
        const b = new Conversation({ conv: i, clock });
        const net = virtualNetwork(a, b, { ab: { seed: i, delay: 10 }, ba: { seed: i + 1e6, delay: 10 } });
        b.data$.subscribe(() => {
          delivered++;
          a.close();
          b.close();
          net.unsubscribe();
        });
        a.write(bytes(64, i & 0xff));
        subs.push(a, b);
      }
      expect(clock.size).toBe(2 * pairs);
      flush();
      expect(delivered).toBe(pairs);
      expect(clock.size).toBe(0);
      expect(clock.armed).toBe(false);
    });
    expect(scheduled).toBe(1); // every tick after the first re-arms the same action
  });
});

describe('zero-window probing through the operators', () => {
  it('a reader that stops makes the writer probe 500 ms after the window closes, then back off ×1.5; reading resumes it', () => {
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1 };
      const a = new Conversation({ conv: 3, clock, kcp: { ...kcp, sndWnd: 64 } });
      const b = new Conversation({ conv: 3, clock, kcp: { ...kcp, rcvWnd: 8 } });
      const net = virtualNetwork(a, b, { ab: { seed: 1, delay: 5 }, ba: { seed: 2, delay: 5 } });
      const wasks: number[] = [];
      a.datagrams$.subscribe((d) => {
        for (let off = 0; off + 24 <= d.length; off += 24 + (d[off + 20]! | (d[off + 21]! << 8))) if (d[off + 4] === 83) wasks.push(clock.now());
      });
      for (let i = 0; i < 20; i++) a.write(bytes(100, i)); // nobody reads b: its 8-segment window fills
      const got: number[] = [];
      clock.scheduler.schedule(() => {
        b.data$.subscribe((m) => {
          got.push(m[0]!);
          if (got.length === 20) (a.close(), b.close(), net.unsubscribe());
        });
      }, 4000);
      flush();
      const gaps = wasks.slice(1).map((t, i) => t - wasks[i]!);
      expect(wasks[0]).toBeGreaterThanOrEqual(500);
      gaps.slice(0, 2).forEach((g, i) => {
        expect(g).toBeGreaterThanOrEqual([750, 1125][i]!);
        expect(g).toBeLessThan([750, 1125][i]! + 20);
      });
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });
  });
});

describe('idle conversations sleep', () => {
  // bursts with idle gaps between them, both directions, over a lossy, reordering link
  function run(sleep: boolean, cc: CcName): { wire: string[]; ticks: number; delivered: number } {
    const wire: string[] = [];
    let ticks = 0;
    let delivered = 0;
    ConversationPolicy.sleepWhenIdle = sleep;
    try {
      testScheduler().run(({ cold, flush }) => {
        const clock = new Clock();
        const opts = { clock, kcp: { nodelay: 1, interval: 20, resend: 2, nc: 1, sndWnd: 64, rcvWnd: 64, cc } };
        const a = new Conversation({ conv: 5, ...opts });
        const b = new Conversation({ conv: 5, ...opts });
        const digest = (side: string) => (d: Uint8Array) => wire.push(`${clock.now()} ${side} ${new Digest().bytes(d).value}`);
        a.datagrams$.subscribe(digest('a'));
        b.datagrams$.subscribe(digest('b'));
        const net = virtualNetwork(a, b, { ab: { seed: 3, loss: 0.1, delay: 15, jitter: 10, reorder: 0.1 }, ba: { seed: 4, loss: 0.1, delay: 15, jitter: 10 } });
        b.data$.subscribe((m) => ((delivered += m.length), b.write(m.subarray(0, 100)))); // b answers each message
        a.data$.subscribe((m) => (delivered += m.length));
        const prng = new Prng(11);
        cold('a 700ms b 2999ms c 10ms d 9999ms e').subscribe(() => a.write(prng.bytes(3000)));
        cold('5s |').subscribe({ complete: () => b.write(prng.bytes(500)) });
        cold('30s |').subscribe({ complete: () => (a.close(), b.close(), net.unsubscribe()) });
        flush();
        ticks = clock.ticks;
      });
    } finally {
      ConversationPolicy.sleepWhenIdle = true;
    }
    return { wire, ticks, delivered };
  }

  // every congestion control: a paced sender's budget after an idle gap must not depend on how
  // often the idle core was woken (bbr's did: a sleeping core came back with an interval's worth)
  for (const cc of CC_NAMES) {
    it(`send the same datagrams at the same virtual times as conversations that tick every interval, with far fewer ticks (cc ${cc})`, () => {
      const ticking = run(false, cc);
      const sleeping = run(true, cc);
      expect(ticking.delivered).toBeGreaterThan(12_000);
      expect(sleeping.delivered).toBe(ticking.delivered);
      expect(sleeping.wire.length).toBeGreaterThan(40);
      expect(sleeping.wire).toEqual(ticking.wire);
      expect(sleeping.ticks).toBeLessThan(ticking.ticks / 3);
      console.log(`idle sleep (${cc}): ${sleeping.wire.length} datagrams identical; clock ticks ${ticking.ticks} → ${sleeping.ticks}`);
    });
  }
});

describe('a conversation holding only out-of-order data', () => {
  // one PUSH past a gap (sn 5 while sn 0..4 never came): the receiver owes one ACK, then can do
  // nothing until the peer retransmits, so it must leave the clock like any idle conversation
  function run(sleep: boolean): { wire: string[]; ticksAt: (t: number) => number; armed: boolean } {
    const wire: string[] = [];
    const ticks = new Map<number, number>();
    let armed = true;
    ConversationPolicy.sleepWhenIdle = sleep;
    try {
      testScheduler().run(({ cold, flush }) => {
        const clock = new Clock();
        const c = new Conversation({ conv: 9, clock, kcp: { interval: 20 } });
        c.datagrams$.subscribe((d) => wire.push(`${clock.now()} ${decodeHeader(d, 0).cmd} ${decodeHeader(d, 0).sn}`));
        c.data$.subscribe();
        cold('97ms a').subscribe(() => c.input(encodeSegment({ conv: 9, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn: 5, una: 0 }, bytes(16, 7))));
        for (const t of [1_000, 10_000]) cold(`${t}ms a`).subscribe(() => ticks.set(t, clock.ticks));
        cold('10001ms a').subscribe(() => ((armed = clock.armed), c.close({ linger: false })));
        flush();
      });
    } finally {
      ConversationPolicy.sleepWhenIdle = true;
    }
    return { wire, ticksAt: (t) => ticks.get(t)!, armed };
  }

  it('sends its ACK on the tick an always-ticking conversation would, then leaves the clock', () => {
    const ticking = run(false);
    const sleeping = run(true);
    expect(ticking.wire).toEqual([`100 ${IKCP_CMD_ACK} 5`]);
    expect(sleeping.wire).toEqual(ticking.wire);
    expect(sleeping.ticksAt(10_000)).toBe(sleeping.ticksAt(1_000));
    expect(sleeping.armed).toBe(false);
    expect(ticking.ticksAt(10_000)).toBeGreaterThan(ticking.ticksAt(1_000) + 400);
  });
});

describe('Clock.soon', () => {
  it('runs each requested target once in the next action, at the same virtual time, before due flushes; not after remove', () => {
    testScheduler().run(({ cold, flush }) => {
      const clock = new Clock();
      const log: string[] = [];
      const target = (name: string) => ({
        flush: (now: number) => (log.push(`${now} flush ${name}`), 100),
        soon: (now: number) => void log.push(`${now} soon ${name}`),
      });
      const a = clock.add(target('a'), 50);
      const b = clock.add(target('b'), 50);
      const c = clock.add(target('c'), 50);
      clock.soon(a);
      clock.soon(a); // idempotent until it runs
      clock.soon(c);
      clock.remove(c); // removed before it ran: skipped
      cold('200ms |').subscribe({ complete: () => (clock.remove(a), clock.remove(b)) });
      flush();
      expect(log).toEqual(['0 soon a', '50 flush a', '50 flush b', '150 flush a', '150 flush b']);
      expect(clock.armed).toBe(false);
    });
  });
});
