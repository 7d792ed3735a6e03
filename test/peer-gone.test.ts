/**
 * Peers that go away, as a user meets them over real UDP sockets on 127.0.0.1: the keepalive
 * (KCP's window probe, WASK → WINS) keeps a quiet session whose peer answers and ends one whose
 * peer is gone, with a typed reason; a dial with default options to where nothing answers ends
 * by itself; a wrong key is named when the datagrams that came back say so; half-set FEC options
 * are refused at the call.
 */
import { createSocket } from 'node:dgram';
import { config, firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dial, type DialOptions } from '../operators/transport/dial.js';
import { echo } from '../operators/apps/echo.js';
import { Listener } from '../operators/transport/listener.js';
import type { Session } from '../operators/transport/session.js';
import { KcpError } from '../src/errors.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1 };
/** Short enough for a test, long against loopback round trips on a busy machine. */
const keepalive = { interval: 100, timeout: 1000 };
const cleanup: (() => void)[] = [];
let unhandled: unknown[] = [];
beforeEach(() => {
  unhandled = [];
  config.onUnhandledError = (e) => unhandled.push(e);
});
afterEach(() => {
  config.onUnhandledError = null;
  while (cleanup.length) cleanup.pop()!();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How `data$` ended: 'complete', or the error's code. */
function outcome(s: Session): Promise<string> {
  return new Promise((resolve) => s.data$.subscribe({ error: (e: KcpError) => resolve(e.code), complete: () => resolve('complete') }));
}

/** The code a promise rejected with, or 'resolved'. */
const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof KcpError ? e.code : String(e))
  );

async function closedPort(): Promise<number> {
  const gone = createSocket('udp4');
  await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
  const port = gone.address().port;
  await new Promise<void>((r) => gone.close(r)); // the kernel now answers with port-unreachable
  return port;
}

describe('keepalive', () => {
  it('keeps a quiet session whose peer answers the window probes, and ends it once the server is gone: ended$ says keepalive-timeout, data$ completes, drain and send reject with KEEPALIVE_TIMEOUT', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, keepalive: false });
    l.sessions$.subscribe((s) => echo(s));
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, keepalive });
    cleanup.push(() => c.close());
    const reply = firstValueFrom(c.data$);
    await c.send(new Uint8Array([1, 2, 3]));
    expect(await reply).toEqual(new Uint8Array([1, 2, 3]));
    const heard = c.stats.InSegs;
    await sleep(2 * keepalive.timeout); // nothing to send: only probes and their answers
    expect(c.closed).toBe(false);
    expect(c.stats.InSegs).toBeGreaterThan(heard + 3); // the server's WINS answers

    const done = outcome(c);
    l.close(); // the server goes away without a word: KCP has none
    const waiting = c.send(new Uint8Array(100_000)).then(() => c.drain());
    expect(await done).toBe('complete');
    const end = await firstValueFrom(c.ended$);
    expect(end.reason).toBe('keepalive-timeout');
    expect(end.error).toBeInstanceOf(KcpError);
    expect(end.error!.code).toBe('KEEPALIVE_TIMEOUT');
    expect(end.error!.message).toMatch(/stopped answering/);
    expect(await codeOf(waiting)).toBe('KEEPALIVE_TIMEOUT');
    expect(await codeOf(c.send(new Uint8Array(1)))).toBe('KEEPALIVE_TIMEOUT');
    expect(() => c.write(new Uint8Array(1))).toThrow(/stopped answering/);
    await sleep(50);
    expect(unhandled).toEqual([]);
  }, 30_000);

  it('ends a listener session whose client vanished, and a server written with subscribe(next) alone is not brought down', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, keepalive });
    cleanup.push(() => l.close());
    const got: number[] = [];
    const server = new Promise<Session>((resolve) =>
      l.sessions$.subscribe((s) => {
        s.data$.subscribe((m) => got.push(m.length));
        resolve(s);
      })
    );
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, keepalive: false });
    await c.send(new Uint8Array(10));
    await c.drain();
    const s = await server;
    c.close({ linger: false }); // its socket is gone: the probes meet a closed port
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('keepalive-timeout');
    expect(end.error!.code).toBe('KEEPALIVE_TIMEOUT');
    expect(got).toEqual([10]);
    expect(l.sessions).not.toContain(s);
    await sleep(50);
    expect(unhandled).toEqual([]);
  }, 30_000);

  it('does not take a peer that stopped reading for a dead one: a zero window is answered too', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, rcvWnd: 32, keepalive: false });
    cleanup.push(() => l.close());
    l.sessions$.subscribe(() => {}); // accepted, never read: its window closes
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast, sndWnd: 32, keepalive });
    cleanup.push(() => c.close());
    const sending = c.send(new Uint8Array(1 << 20));
    sending.catch(() => {});
    await sleep(2 * keepalive.timeout);
    expect(c.closed).toBe(false);
    expect(c.waitSnd()).toBeGreaterThan(0); // still held back by the reader, not ended
  }, 30_000);

  it('refuses a keepalive it cannot run, at the call', async () => {
    await expect(dial({ connect: '127.0.0.1:9', keepalive: { interval: 100, timeout: 50 } })).rejects.toThrow(/keepalive timeout must be a number > its interval \(100 ms\), got 50/);
    await expect(dial({ connect: '127.0.0.1:9', keepalive: 5 })).rejects.toThrow(RangeError);
    await expect(Listener.listen({ listen: '127.0.0.1:0', keepalive: 'on' as unknown as number })).rejects.toThrow(TypeError);
  });
});

describe('a dial with default options to where nothing answers', () => {
  it('ends by itself: send and drain reject, ended$ says unreachable and the error says nothing listens there', async () => {
    const port = await closedPort();
    const c = await dial({ connect: `127.0.0.1:${port}`, mode: 'fast3' });
    const done = outcome(c);
    const waiting = c.send(new Uint8Array(10)).then(() => c.drain());
    expect(await codeOf(waiting)).toBe('CONNECT_TIMEOUT');
    expect(await done).toBe('CONNECT_TIMEOUT');
    const end = await firstValueFrom(c.ended$);
    expect(end.reason).toBe('unreachable');
    expect(end.error!.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}: nothing listens there \\(\\d+ ICMP unreachable replies`));
  }, 30_000);
});

describe('a wrong key', () => {
  it('is named when datagrams come back and none passes the check (two peers dialling each other with different keys)', async () => {
    const ports = await Promise.all([closedPort(), closedPort()]);
    const a: DialOptions = { connect: `127.0.0.1:${ports[1]}`, localPort: ports[0], key: 'one secret', ...fast, connectTimeout: 1000 };
    const b: DialOptions = { connect: `127.0.0.1:${ports[0]}`, localPort: ports[1], key: 'another secret', ...fast, connectTimeout: 1000 };
    const [x, y] = await Promise.all([dial(a), dial(b)]);
    const ends = Promise.all([firstValueFrom(x.ended$), firstValueFrom(y.ended$)]);
    x.write(new Uint8Array(100));
    y.write(new Uint8Array(100));
    for (const end of await ends) {
      expect(end.reason).toBe('unreachable');
      expect(end.error!.code).toBe('KEY_MISMATCH');
      expect(end.error!.message).toMatch(/\d+ datagrams came back and none passed the aes check: the key or crypt probably differs/);
    }
  }, 30_000);

  it('is named as a possibility when a server drops everything without a reply, as kcp-go and rxkcp servers do', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', key: 'the server key', ...fast });
    cleanup.push(() => l.close());
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, key: 'a client key', ...fast, connectTimeout: 500 });
    const end = firstValueFrom(c.ended$);
    c.write(new Uint8Array(100));
    const { error } = await end;
    expect(error!.code).toBe('CONNECT_TIMEOUT');
    expect(error!.message).toMatch(/no answer in 500 ms \(nothing listens, a firewall drops the datagrams, or the peer's key or crypt differs/);
    expect(l.stats.InCsumErrors).toBeGreaterThan(0);
  }, 30_000);
});

describe('half-set FEC options', () => {
  for (const [what, options, message] of [
    ['dataShards without parityShards', { dataShards: 10 }, /dataShards 10 without parityShards: give both for FEC/],
    ['parityShards without dataShards', { parityShards: 3 }, /parityShards 3 without dataShards: give both for FEC/],
  ] as const) {
    it(`${what} is refused by dial and Listener.listen at the call`, async () => {
      await expect(dial({ connect: '127.0.0.1:9', ...options })).rejects.toThrow(message);
      await expect(Listener.listen({ listen: '127.0.0.1:0', ...options })).rejects.toThrow(message);
    });
  }

  it("one count with the other 0 is kcptun's way to turn FEC off, and accepted", async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', dataShards: 10, parityShards: 0 });
    l.close();
    const c = await dial({ connect: '127.0.0.1:9', dataShards: 0, parityShards: 3 });
    c.close();
  });
});
