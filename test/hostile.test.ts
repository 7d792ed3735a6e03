/**
 * A listener against an attacker who can send any datagram from any source address, on real UDP
 * sockets of 127.0.0.1 (forged datagrams from test/helpers/forge.ts), with crypt 'none' (anyone
 * can forge) and a keyed crypt (a replaying or insider attacker). The application is the one the
 * README shows: `sessions$` and `data$` subscribed with a `next` callback only. What must hold:
 * a forged datagram costs a bounded entry with no timer, no flush and no reply, gone at its
 * deadline; a flood evicts only unproven entries and never keeps a real client out; a datagram
 * never errors a stream the application holds. The relay, a NAT to its clients, holds a bounded
 * number of mappings and forgets idle ones.
 */
import { getEventListeners } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { config, filter, firstValueFrom, tap, timeout, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { Conversation } from '../operators/conversation/conversation.js';
import { defaultPaceMaxQueue } from '../operators/layers/pace.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { Listener, type ListenOptions } from '../operators/transport/listener.js';
import { relay } from '../operators/apps/relay.js';
import { tunnelClient, tunnelServer, type TunnelHandle } from '../operators/apps/tunnel.js';
import type { Session, SessionEnd } from '../operators/transport/session.js';
import type { PacketCrypt } from '../src/crypt/crypt.js';
import { createNodeCrypt, nodeCryptFromPassword } from '../src/node/crypt.js';
import { forgedPush, sendFrom, sources } from './helpers/forge.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1, dataShards: 0, parityShards: 0 } as const;
const KEY = 'hostile-peer-suite';
const crypts: { name: string; options: { crypt: 'none' | 'aes'; key?: string }; crypt: () => PacketCrypt }[] = [
  { name: 'crypt none', options: { crypt: 'none' }, crypt: () => createNodeCrypt('none', new Uint8Array(0)) },
  { name: 'crypt aes (keyed)', options: { crypt: 'aes', key: KEY }, crypt: () => nodeCryptFromPassword('aes', KEY) },
];

const cleanup: (() => void)[] = [];
/** Errors RxJS could hand to nobody: in a process without this hook, each one crashes it. */
let unhandled: unknown[] = [];
beforeEach(() => {
  unhandled = [];
  config.onUnhandledError = (e) => unhandled.push(e);
});
afterEach(() => {
  config.onUnhandledError = null;
  while (cleanup.length) cleanup.pop()!();
});

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An echo server written as the README writes one: `next` callbacks only. */
async function echoServer(options: Omit<ListenOptions, 'listen'>): Promise<{ l: Listener; accepted: Session[]; completed: Set<Session> }> {
  const l = await Listener.listen({ listen: '127.0.0.1:0', ...options });
  cleanup.push(() => l.close());
  const accepted: Session[] = [];
  const completed = new Set<Session>();
  l.sessions$.subscribe((s) => {
    accepted.push(s);
    s.data$.subscribe({ next: (m) => s.write(m), complete: () => completed.add(s) }); // no error callback
  });
  return { l, accepted, completed };
}

/** Dials `l`, sends `text` and resolves with the echo (rejects after `ms`: the client was refused). */
async function echoed(l: Listener, options: object, text: string, ms = 5000): Promise<string> {
  const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...options });
  cleanup.push(() => c.close({ linger: false }));
  c.write(new TextEncoder().encode(text));
  return new TextDecoder().decode(await firstValueFrom(c.data$.pipe(timeout(ms))));
}

describe.each(crypts)('a listener under forged datagrams ($name)', ({ options, crypt }) => {
  const opts = { ...fast, ...options };

  it('one forged mid-flight PUSH per source opens no session, holds no timer, gets no reply, and is dropped at its deadline with no further datagram', async () => {
    // the deadline outlasts the client's echo below on a loaded machine, so the entries are still there to count
    const { l } = await echoServer({ ...opts, snZeroWait: 3000, keepalive: false }); // no idleTimeout; no keepalive entry to count
    const src = await sources(400);
    cleanup.push(src.close);
    const c = crypt();
    await sendFrom(src.sockets, l.address.port, (i) => forgedPush(c, 5000 + i, 1 + (i % 127)));
    // a real client after the flood: the socket hands the listener the flood first
    expect(await echoed(l, opts, 'after the flood')).toBe('after the flood');
    expect(l.size).toBe(1); // the client only
    expect(l.clock.size).toBeLessThanOrEqual(2); // the client's conversation, and one entry for the whole half-open table
    expect(l.halfOpen).toBeGreaterThan(0);
    await until('every half-open entry dropped at its deadline', () => l.halfOpen === 0);
    expect(l.stats.HalfOpenTimeouts).toBe(400);
    expect(src.received()).toBe(0); // not an ACK, nothing a spoofed source could be flooded with
    expect(unhandled).toEqual([]);
  });

  it('a flood of forged sources evicts half-open entries only: a proven session stays, and a new rxkcp client is served', async () => {
    const { l } = await echoServer({ ...opts, maxSessions: 4, maxHalfOpen: 64 });
    expect(await echoed(l, opts, 'before')).toBe('before');
    const proven = l.sessions[0]!;
    const src = await sources(600);
    cleanup.push(src.close);
    const c = crypt();
    await sendFrom(src.sockets, l.address.port, (i) => forgedPush(c, 9000 + i, 1 + (i % 127)));
    expect(await echoed(l, opts, 'during')).toBe('during');
    expect(proven.closed).toBe(false);
    expect(l.size).toBe(2);
    expect(l.halfOpen).toBeLessThanOrEqual(64);
    expect(l.stats.HalfOpenEvicted).toBeGreaterThanOrEqual(600 - 64);
    expect(l.stats.SessionsRefused).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('a client whose first datagram (sn 0) is lost is promoted when its retransmission of sn 0 arrives', async () => {
    const { l, accepted } = await echoServer(opts);
    let sent = 0;
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...opts, layers: { afterEncrypt: filter(() => sent++ !== 0) } });
    cleanup.push(() => c.close({ linger: false }));
    c.write(new TextEncoder().encode('first')); // a write flushes at once: sn 0 alone, dropped
    c.write(new TextEncoder().encode('second'));
    const got: string[] = [];
    c.data$.subscribe((m) => got.push(new TextDecoder().decode(m)));
    await until('both echoed', () => got.join('') === 'firstsecond');
    expect(accepted.length).toBe(1);
    expect(unhandled).toEqual([]);
  });

  it('sn 0 of a new conv from the same address (a peer restart) ends the old session as reset: data$ completes, nothing is thrown', async () => {
    const { l, accepted, completed } = await echoServer(opts);
    const src = await sources(1);
    cleanup.push(src.close);
    const c = crypt();
    await sendFrom(src.sockets, l.address.port, () => forgedPush(c, 111, 0));
    await until('the first session', () => accepted.length === 1);
    const old = accepted[0]!;
    await sendFrom(src.sockets, l.address.port, () => forgedPush(c, 222, 0));
    await until('the second session', () => accepted.length === 2);
    const end: SessionEnd = await firstValueFrom(old.ended$);
    expect(end).toEqual({ reason: 'reset' });
    expect(completed.has(old)).toBe(true);
    expect(accepted[1]!.conv).toBe(222);
    expect(unhandled).toEqual([]);
  });
});

describe('rxkcp relay under many one-datagram sources', () => {
  it('holds at most maxMappings upstream sockets (least recently used first) and closes a mapping idle for mappingTimeout; one in use stays', async () => {
    const server = await sources(1); // the relay's target: counts what arrives
    cleanup.push(server.close);
    const r = await relay({ connect: `127.0.0.1:${server.sockets[0]!.address().port}`, mappingTimeout: 400, maxMappings: 50 });
    cleanup.push(() => void r.close());
    const talker = await sources(1);
    cleanup.push(talker.close);
    const src = await sources(200);
    cleanup.push(src.close);
    await sendFrom(src.sockets, r.address.port, () => new Uint8Array(8));
    await until('every datagram relayed', () => server.received() === 200);
    expect(r.stats.clients).toBe(50);
    expect(r.stats.evicted).toBe(150);
    const talking = setInterval(() => talker.sockets[0]!.send(new Uint8Array(8), r.address.port, '127.0.0.1'), 50);
    cleanup.push(() => clearInterval(talking));
    await until('the silent mappings expire', () => r.stats.clients === 1);
    expect(r.stats.expired).toBe(49); // the talker's mapping took the room of one of the 50
    expect([...r.mappings.keys()]).toEqual([`127.0.0.1:${talker.sockets[0]!.address().port}`]);
    clearInterval(talking);
    await until('the talker, now silent, expires too', () => r.stats.clients === 0);
  });
});

describe('rxkcp tunnel server caps what a peer can open', () => {
  const session = { crypt: 'none', dataShards: 0, parityShards: 0, nodelay: 1, interval: 10, resend: 2, nc: 1 } as const;

  /** A TCP echo target counting the connections it holds. */
  async function tcpTarget(): Promise<{ port: number; open: () => number }> {
    const conns = new Set<Socket>();
    const server = createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => {});
      c.pipe(c);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => {
      for (const c of conns) c.destroy();
      server.close();
    });
    return { port: (server.address() as AddressInfo).port, open: () => conns.size };
  }

  /** Opens `n` TCP connections through `client` and says which got their first bytes echoed. */
  async function connectThrough(client: TunnelHandle, n: number): Promise<boolean[]> {
    return Promise.all(
      Array.from({ length: n }, (_, i) =>
        new Promise<boolean>((resolve) => {
          const c = connect(client.address.port, '127.0.0.1');
          cleanup.push(() => c.destroy());
          c.on('error', () => resolve(false));
          c.on('close', () => resolve(false));
          c.on('data', () => resolve(true));
          c.write(`hello ${i}`);
        })
      )
    );
  }

  it.each([
    ['maxStreams', { maxStreams: 2 }, /maxstreams 2 reached/],
    ['maxConns', { maxConns: 2 }, /maxconns 2 reached/],
  ] as const)('%s: streams beyond it are closed at once, counted, and logged once', async (_name, cap, line) => {
    const target = await tcpTarget();
    const logs: string[] = [];
    const server = await tunnelServer({ listen: '127.0.0.1:0', target: `127.0.0.1:${target.port}`, session, ...cap, log: (l) => logs.push(l), quiet: true });
    cleanup.push(() => void server.close());
    const client = await tunnelClient({ listen: '127.0.0.1:0', remote: `127.0.0.1:${server.address.port}`, session, quiet: true });
    cleanup.push(() => void client.close());
    const served = await connectThrough(client, 5);
    expect(served.filter(Boolean)).toHaveLength(2);
    expect(server.stats().streamsRefused).toBe(3);
    expect(target.open()).toBe(2);
    expect(logs.filter((l) => line.test(l))).toHaveLength(1);
  });

  it("close() cancels a client's wait to dial again: it leaves no timer behind, so nothing dials after it", async () => {
    const logs: string[] = [];
    const client = await tunnelClient({ listen: '127.0.0.1:0', remote: 'no-such-host.invalid:29900', session, quiet: true, log: (l) => logs.push(l) });
    const c = connect(client.address.port, '127.0.0.1');
    c.on('error', () => {});
    cleanup.push(() => c.destroy());
    await until('a failed dial and its wait', () => logs.some((l) => l.startsWith('re-connecting')));
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const waiting = timers();
    await client.close();
    expect(timers()).toBeLessThan(waiting);
  });

  it('checks every option before it binds: a bad smux setting rejects the call', async () => {
    await expect(tunnelServer({ listen: '127.0.0.1:0', target: '127.0.0.1:1', session, smux: { maxFrameSize: 0 } })).rejects.toThrow(RangeError);
    await expect(tunnelClient({ listen: '127.0.0.1:0', remote: '127.0.0.1:1', session, smux: { version: 3 as 2 } })).rejects.toThrow(RangeError);
    await expect(tunnelClient({ listen: '127.0.0.1:0', remote: '127.0.0.1:1', session: { ...session, mtu: 10 } })).rejects.toThrow(RangeError);
  });
});

describe('what a long-lived application keeps', () => {
  it('drain() and end() remove their AbortSignal listener when they settle, whichever way', async () => {
    const { l } = await echoServer(fast);
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    cleanup.push(() => c.close({ linger: false }));
    const signal = new AbortController().signal; // one signal for the application's whole life
    for (let i = 0; i < 20; i++) {
      c.write(new Uint8Array(100));
      await c.drain({ signal });
    }
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    c.write(new Uint8Array(100));
    const ended = c.end({ signal });
    c.close({ linger: false }); // rejects the pending end
    await expect(ended).rejects.toMatchObject({ code: 'CLOSED' });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});

describe('a rate-limited conversation whose peer never acknowledges', () => {
  it('holds at most maxQueue bytes in its pacer: the core flushes only ACKs while the pacer is backlogged', () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, 60_000); // 60 s of virtual time
    const c = new Conversation({ conv: 1, clock: new Clock(scheduler), rateLimit: 2_000, kcp: { sndWnd: 1024, rcvWnd: 1024, nodelay: 1, interval: 10, resend: 2, nc: 1 }, layers: { afterEncrypt: tap((d) => (queued += d.length)) } });
    let queued = 0;
    let most = 0;
    c.datagrams$.subscribe((d) => (queued -= d.length)); // nothing comes back: every segment times out again and again
    c.writable$.subscribe(() => c.write(new Uint8Array(100_000)));
    scheduler.schedule(function sample() {
      most = Math.max(most, queued);
      this.schedule(undefined, 50);
    });
    c.write(new Uint8Array(1_000_000));
    scheduler.flush();
    expect(most).toBeLessThanOrEqual(defaultPaceMaxQueue);
    expect(most).toBeGreaterThan(defaultPaceMaxQueue / 4); // the pacer was busy: the bound mattered
    c.close({ linger: false });
  });
});
