import { createSocket } from 'node:dgram';
import { firstValueFrom, toArray, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import { aggregateStats, type Session } from '../operators/transport/session.js';
import { echo } from '../operators/apps/echo.js';
import { toDuplex } from '../operators/adapters/stream.js';
import { parseHostPort } from '../operators/transport/udp.js';

import { KcpError } from '../src/errors.js';
import { Prng } from '../src/prng.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 512, rcvWnd: 512 };
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

async function echoServer(options: Parameters<typeof Listener.listen>[0]) {
  const l = await Listener.listen(options);
  cleanup.push(() => l.close());
  l.sessions$.subscribe((s) => {
    const d = toDuplex(s);
    d.on('error', () => {});
    d.pipe(d); // echo with back-pressure both ways
  });
  return l;
}

/** Writes `data` through a session, honouring back-pressure, and reads the echo back. */
async function echoThrough(s: Session, data: Uint8Array, chunk = 8192): Promise<Uint8Array> {
  const got = new Uint8Array(data.length);
  let n = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.data$.subscribe({
      next: (m) => {
        got.set(m, n);
        n += m.length;
        if (n >= data.length) resolve();
      },
      error: reject,
    });
  });
  let sent = 0;
  const pump = () => {
    while (sent < data.length && s.write(data.subarray(sent, Math.min(data.length, sent + chunk)))) sent += chunk;
  };
  s.writable$.subscribe(pump);
  pump();
  await done;
  return got;
}

describe('addresses', () => {
  it('parses IPv4, IPv6 and bare ports', () => {
    expect(parseHostPort('127.0.0.1:4000')).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(parseHostPort('[::1]:4001')).toEqual({ host: '::1', port: 4001 });
    expect(parseHostPort('4002')).toEqual({ host: '127.0.0.1', port: 4002 });
    expect(parseHostPort('localhost:9')).toEqual({ host: 'localhost', port: 9 });
    expect(() => parseHostPort('::1:4000')).toThrow(TypeError);
    expect(() => parseHostPort('host:99999')).toThrow(TypeError);
  });
});

describe('sessions over loopback UDP', () => {
  for (const [crypt, fec] of [['aes', true], ['salsa20', false], ['null', false], ['aes-128-gcm', true]] as const) {
    it(`echoes 2 MB byte-exact with ${crypt}${fec ? ' and FEC 10/3' : ''}`, async () => {
      const common = { crypt, key: 'session-test', ...(fec ? { dataShards: 10, parityShards: 3 } : {}), ...fast };
      const l = await echoServer({ listen: '127.0.0.1:0', ...common });
      const s = await dial({ connect: `127.0.0.1:${l.address.port}`, ...common });
      cleanup.push(() => s.close());
      const data = new Prng(9).bytes(2 << 20);
      const got = await echoThrough(s, data);
      expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
      expect(s.stats.InCsumErrors).toBe(0);
      expect(s.stats.OutPkts).toBeGreaterThan(0);
      expect(l.size).toBe(1);
    });
  }

  for (const stream of [false, true]) {
    it(`echo(): a server whose send window (16) fills echoes 2 MB byte-exact (${stream ? 'stream' : 'message'} mode)`, async () => {
      const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'salsa20', key: 'e', ...fast, sndWnd: 16, stream });
      cleanup.push(() => l.close());
      const echoing: Subscription[] = [];
      l.sessions$.subscribe((srv) => echoing.push(echo(srv)));
      const s = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'salsa20', key: 'e', ...fast, stream });
      cleanup.push(() => s.close());
      const data = new Prng(12).bytes(2 << 20);
      const got = await echoThrough(s, data, 1000);
      expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
      expect(l.sessions[0]!.stats.RingBufferSndQueue).toBeLessThanOrEqual(16);
      // unsubscribing stops the echo
      echoing[0]!.unsubscribe();
      let more = 0;
      s.data$.subscribe({ next: (m) => (more += m.length), error: () => {} });
      s.write(new Uint8Array(100));
      await new Promise((r) => setTimeout(r, 300));
      expect(more).toBe(0);
    });
  }

  it('works over IPv6 loopback', async () => {
    const l = await echoServer({ listen: '[::1]:0', crypt: 'xor', key: 'x', ...fast });
    const s = await dial({ connect: `[::1]:${l.address.port}`, crypt: 'xor', key: 'x', ...fast });
    cleanup.push(() => s.close());
    const data = new Prng(1).bytes(100_000);
    expect(Buffer.from(await echoThrough(s, data)).equals(Buffer.from(data))).toBe(true);
  });

  it('counts garbage, truncated and wrong-key datagrams at the listener and keeps serving', async () => {
    const l = await echoServer({ listen: '127.0.0.1:0', crypt: 'aes', key: 'right', ...fast });
    const raw = createSocket('udp4');
    cleanup.push(() => raw.close());
    const prng = new Prng(4);
    let garbage = 0;
    for (let i = 0; i < 100; i++) {
      const g = prng.bytes(prng.int(0, 600));
      if (g.length >= 20) garbage++; // shorter ones are dropped uncounted, as kcp-go
      raw.send(g, l.address.port, '127.0.0.1');
    }
    const wrong = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: 'wrong', ...fast });
    cleanup.push(() => wrong.close());
    wrong.write(new Uint8Array(100));
    const good = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: 'right', ...fast });
    cleanup.push(() => good.close());
    const data = new Prng(5).bytes(50_000);
    expect(Buffer.from(await echoThrough(good, data)).equals(Buffer.from(data))).toBe(true);
    expect(l.stats.InCsumErrors).toBeGreaterThanOrEqual(garbage + 1); // all garbage of ≥ 20 bytes, and the wrong key
    expect(l.size).toBe(1); // only the right key made a session
  });

  it('refuses sessions beyond maxSessions and ends idle ones after idleTimeout', async () => {
    const l = await echoServer({ listen: '127.0.0.1:0', maxSessions: 2, idleTimeout: 300, ...fast });
    const sessions = await Promise.all([0, 1, 2].map(() => dial({ connect: `127.0.0.1:${l.address.port}`, ...fast })));
    cleanup.push(() => sessions.forEach((s) => s.close()));
    for (const s of sessions) s.write(new Uint8Array(10));
    await new Promise((r) => setTimeout(r, 100));
    expect(l.size).toBe(2);
    expect(l.stats.SessionsRefused).toBeGreaterThanOrEqual(1);
    for (const s of sessions) s.close(); // clients go quiet
    await new Promise((r) => setTimeout(r, 700));
    expect(l.size).toBe(0);
    expect(aggregateStats().IdleTimeouts).toBeGreaterThanOrEqual(2);
  });

  it('replaces a session when the same address starts over with another conv at sn 0', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    const a = await dial({ connect: `127.0.0.1:${l.address.port}`, conv: 1, ...fast });
    a.write(new Uint8Array(5));
    await new Promise((r) => setTimeout(r, 100));
    expect(accepted.map((s) => s.conv)).toEqual([1]);
    const errors: string[] = [];
    accepted[0]!.data$.subscribe({ error: (e: KcpError) => errors.push(e.code), complete: () => errors.push('complete') });
    // the client restarts on the same port with a new conv: its first PUSH has sn 0
    const port = a.localPort;
    a.close({ linger: false }); // a peer that restarts: its port is free again at once
    const b = await dial({ connect: `127.0.0.1:${l.address.port}`, conv: 2, localPort: port, ...fast });
    cleanup.push(() => b.close());
    b.write(new Uint8Array(5));
    await new Promise((r) => setTimeout(r, 100));
    expect(errors).toEqual(['complete']); // the peer restarted: an end, not an error
    expect(accepted.map((s) => s.conv)).toEqual([1, 2]);
    expect(l.size).toBe(1);
  });

  it('ends a session whose peer vanished with a DEAD_LINK error when failOnDeadLink is set', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r)); // receives, never answers
    cleanup.push(() => sink.close());
    const s = await dial({ connect: `127.0.0.1:${sink.address().port}`, ...fast, deadLink: 5, failOnDeadLink: true });
    s.write(new Uint8Array(100));
    const err = await firstValueFrom(s.data$).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcpError);
    expect((err as KcpError).code).toBe('DEAD_LINK');
    expect(s.closed).toBe(true);
    expect(() => s.write(new Uint8Array(1))).toThrow(KcpError);
  });

  it('keeps a session whose peer port closed until the dead-link limit with failOnDeadLink (ICMP refusals are counted, not fatal)', async () => {
    const gone = createSocket('udp4');
    await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
    const port = gone.address().port;
    gone.close(); // nothing listens there now: the kernel answers with port-unreachable
    const s = await dial({ connect: `127.0.0.1:${port}`, ...fast, deadLink: 5, failOnDeadLink: true });
    s.write(new Uint8Array(100));
    const err = await firstValueFrom(s.data$).catch((e: unknown) => e);
    expect((err as KcpError).code).toBe('DEAD_LINK');
    expect(s.stats.InErrs).toBeGreaterThan(0);
  });

  it('close is idempotent and data already received stays readable', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    const got = firstValueFrom(l.sessions$);
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    cleanup.push(() => c.close());
    c.write(new TextEncoder().encode('one'));
    c.write(new TextEncoder().encode('two'));
    const server = await got;
    await new Promise((r) => setTimeout(r, 100));
    server.close();
    server.close();
    const msgs = await firstValueFrom(server.data$.pipe(toArray()));
    expect(msgs.map((m) => new TextDecoder().decode(m))).toEqual(['one', 'two']);
  });

  it('works as a Node Duplex with back-pressure both ways', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, sndWnd: 32, rcvWnd: 32 });
    cleanup.push(() => l.close());
    l.sessions$.subscribe((s) => {
      const d = toDuplex(s);
      d.on('error', () => {}); // the listener's close discards what the echo still had in flight
      d.pipe(d); // an echo, through Node streams
    });
    const c = toDuplex(await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, sndWnd: 32, rcvWnd: 32 }));
    cleanup.push(() => c.destroy());
    const data = new Prng(6).bytes(1 << 20);
    c.end(data);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of c) {
      chunks.push(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (n >= data.length) break;
    }
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
  });

  it('Listener.listen() and dial() are peers; OOB messages arrive on oob$ as an observable', async () => {
    const fec = { dataShards: 10, parityShards: 3 };
    const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'aes', key: 'oob$', ...fec, ...fast });
    cleanup.push(() => l.close());
    const atServer: string[] = [];
    l.sessions$.subscribe((s) => s.oob$.subscribe((p) => (atServer.push(new TextDecoder().decode(p)), s.sendOob(p))));
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: 'oob$', ...fec, ...fast });
    cleanup.push(() => c.close());
    const back: string[] = [];
    let completed = false;
    c.oob$.subscribe({ next: (p) => back.push(new TextDecoder().decode(p)), complete: () => (completed = true) });
    await c.send(new Uint8Array([1])); // opens the session at the server
    await c.drain();
    c.sendOob(new TextEncoder().encode('ping'));
    for (let i = 0; i < 100 && back.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(atServer).toEqual(['ping']);
    expect(back).toEqual(['ping']);
    c.close({ linger: false });
    expect(completed).toBe(true);
  });

  it('sends and receives OOB messages beside the stream when FEC is on, and refuses them without FEC', async () => {
    const got: number[] = [];
    const fec = { dataShards: 10, parityShards: 3 };
    const l = await echoServer({ listen: '127.0.0.1:0', crypt: 'aes', key: 'oob', ...fec, ...fast, onOob: (p, s) => (got.push(p.length), s.sendOob(p)) });
    const back: number[] = [];
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, crypt: 'aes', key: 'oob', ...fec, ...fast, onOob: (p) => back.push(p.length) });
    cleanup.push(() => c.close());
    const data = new Prng(2).bytes(200_000);
    const echoed = echoThrough(c, data);
    const max = c.conversation.kcp.mtu - 4;
    const sizes = [0, 1, 100, max];
    for (const n of sizes) c.sendOob(new Uint8Array(n).fill(n & 0xff));
    expect(() => c.sendOob(new Uint8Array(max + 1))).toThrow(RangeError);
    expect(Buffer.from(await echoed).equals(Buffer.from(data))).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(got.sort((a, b) => a - b)).toEqual(sizes);
    expect(back.sort((a, b) => a - b)).toEqual(sizes);
    const plain = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    cleanup.push(() => plain.close());
    expect(() => plain.sendOob(new Uint8Array(1))).toThrow(/requires FEC/);
  });
});
