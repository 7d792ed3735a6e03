/**
 * Limits and faults at the session layer: a flood from 100,000 distinct source addresses,
 * sockets that close under live sessions, and the MTU bound on every datagram sent.
 */
import { describe, expect, it } from 'vitest';
import { Conversation } from '../operators/conversation/conversation.js';
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import type { Session } from '../operators/transport/session.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';
import { CFB_CRYPT_NAMES, createCrypt, keySliceFor, AEAD_CRYPT_NAMES } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { Prng } from '../src/prng.js';
import { testScheduler } from '../marbles/helpers.js';

describe('a flood of new source addresses', () => {
  it('100,000 addresses: sessions stay capped, refusals are counted, idle sessions expire, memory stays bounded', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', maxSessions: 1000, idleTimeout: 300 });
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    const rssBefore = process.memoryUsage().rss;
    let maxHeld = 0;
    for (let i = 0; i < 100_000; i++) {
      // a valid first datagram from 127.a.b.c:port: loopback only
      const dg = encodeSegment({ conv: i, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 32, ts: 0, sn: 0, una: 0 }, new Uint8Array(16));
      const address = `127.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${(i & 0xff) || 1}`;
      l.socket.emit('message', Buffer.from(dg), { address, port: 20000 + (i % 40000), family: 'IPv4', size: dg.length });
      if (l.size > maxHeld) maxHeld = l.size;
    }
    const rssFlood = process.memoryUsage().rss;
    expect(maxHeld).toBe(1000);
    expect(l.stats.SessionsRefused).toBeGreaterThanOrEqual(99_000 - 100); // a few addresses repeat
    await new Promise((r) => setTimeout(r, 900));
    expect(l.size).toBe(0); // all idle: expired
    expect(accepted.every((s) => s.closed)).toBe(true);
    console.log(`flood of 100,000 addresses: held at most ${maxHeld} sessions, refused ${l.stats.SessionsRefused}, RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssFlood / 2 ** 20).toFixed(0)} MiB`);
    expect(rssFlood - rssBefore).toBeLessThan(512 * 2 ** 20);
    l.close();
  }, 60_000);
});

describe('socket faults', () => {
  it('a listener socket that closes ends every session on it with SOCKET_CLOSED; writes then fail clearly, and close twice is harmless', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0' });
    const sessions: Session[] = [];
    l.sessions$.subscribe((s) => sessions.push(s));
    const clients = await Promise.all([1, 2, 3].map((conv) => dial({ connect: `127.0.0.1:${l.address.port}`, conv })));
    for (const c of clients) c.write(new Uint8Array(10));
    await new Promise((r) => setTimeout(r, 100));
    expect(sessions.length).toBe(3);
    const errors = sessions.map((s) => new Promise<unknown>((resolve) => s.data$.subscribe({ error: resolve, complete: () => resolve('completed') })));
    l.socket.close();
    const codes = (await Promise.all(errors)).map((e) => (e as KcpError).code);
    expect(codes).toEqual(['SOCKET_CLOSED', 'SOCKET_CLOSED', 'SOCKET_CLOSED']);
    expect(() => sessions[0]!.write(new Uint8Array(1))).toThrow(KcpError);
    l.close();
    l.close();
    for (const c of clients) (c.close(), c.close());
  });
});

describe('datagram sizes', () => {
  it('no datagram is ever longer than the configured MTU, for every framing, with and without FEC', () => {
    const names = [...CFB_CRYPT_NAMES, ...AEAD_CRYPT_NAMES, 'null'] as const;
    for (const name of names) {
      for (const fec of [null, { dataShards: 10, parityShards: 3 }]) {
        for (const mtu of [1500, 1400, 576]) {
          let longest = 0;
          testScheduler().run(({ flush }) => {
            const clock = new Clock();
            const key = keySliceFor(name, new Prng(1).bytes(32));
            const opts = { conv: 1, clock, mtu, fec, kcp: { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 128, rcvWnd: 128 } };
            const a = new Conversation({ ...opts, crypt: createCrypt(name, key) });
            const b = new Conversation({ ...opts, crypt: createCrypt(name, key) });
            a.datagrams$.subscribe((d) => (longest = Math.max(longest, d.length)));
            const net = virtualNetwork(a, b, { ab: { seed: 1, loss: 0.1, delay: 10 }, ba: { seed: 2, delay: 10 } });
            let got = 0;
            b.data$.subscribe((m) => {
              got += m.length;
              if (got >= 60_000) (a.close(), b.close(), net.unsubscribe());
            });
            a.write(new Prng(2).bytes(60_000));
            flush();
          });
          expect(longest, `${name} fec=${fec !== null} mtu=${mtu}`).toBe(mtu); // full-size segments fill it exactly
        }
      }
    }
  });
});
