/**
 * How a session ends, as a user meets it over real UDP sockets on 127.0.0.1: ends a user asked
 * for (close, idle timeout) complete `data$`; faults error it; `ended$` says which it was. A
 * dialled session can fail when nothing at all answers within `connectTimeout`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { config, firstValueFrom, map } from 'rxjs';
import { portFree } from './helpers/sockets.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { echo } from '../operators/apps/echo.js';
import { Listener } from '../operators/transport/listener.js';
import type { Session, SessionEnd } from '../operators/transport/session.js';
import { KcpError } from '../src/errors.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1 };
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

async function silentPeer(): Promise<Socket> {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r)); // receives, never answers
  cleanup.push(() => sink.close());
  return sink;
}

async function closedPort(): Promise<number> {
  const gone = createSocket('udp4');
  await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
  const port = gone.address().port;
  await new Promise<void>((r) => gone.close(r)); // the kernel now answers with port-unreachable
  return port;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** How `data$` ended: 'complete', or the error's code. */
function outcome(s: Session): Promise<string> {
  return new Promise((resolve) => s.data$.subscribe({ error: (e: KcpError) => resolve(e.code), complete: () => resolve('complete') }));
}


describe('how a session ends', () => {
  it('a server written the natural way (data$.subscribe(next) with idleTimeout) survives a client going quiet: data$ completes, ended$ says idle-timeout', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', idleTimeout: 300, ...fast });
    cleanup.push(() => l.close());
    const got: number[] = [];
    const server = new Promise<Session>((resolve) =>
      l.sessions$.subscribe((s) => {
        s.data$.subscribe((m) => got.push(m.length)); // no error handler, as people write it
        resolve(s);
      })
    );
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    cleanup.push(() => c.close());
    await c.send(new Uint8Array(100));
    const s = await server;
    const end = await firstValueFrom(s.ended$); // the client says nothing more
    expect(end).toEqual({ reason: 'idle-timeout' });
    expect(got).toEqual([100]);
    await new Promise((r) => setTimeout(r, 50)); // RxJS reports unhandled errors on a timer
    expect(unhandled).toEqual([]);
    expect(s.stats.IdleTimeouts).toBe(1);
  });

  it('an idle timeout on a dialled session completes data$ and reports idle-timeout', async () => {
    const peer = await silentPeer();
    const s = await dial({ connect: `127.0.0.1:${peer.address().port}`, idleTimeout: 200, ...fast });
    expect(await outcome(s)).toBe('complete');
    expect(await firstValueFrom(s.ended$)).toEqual({ reason: 'idle-timeout' });
  });

  it('close() completes data$ and ended$ says closed, also to a subscriber that comes after the end', async () => {
    const peer = await silentPeer();
    const s = await dial({ connect: `127.0.0.1:${peer.address().port}`, ...fast });
    const done = outcome(s);
    s.close();
    expect(await done).toBe('complete');
    expect(await firstValueFrom(s.ended$)).toEqual({ reason: 'closed' });
  });

  it('an ICMP refusal with failFast errors data$ with UNREACHABLE and ended$ says unreachable, with the error', async () => {
    const s = await dial({ connect: `127.0.0.1:${await closedPort()}`, failFast: true, ...fast });
    const done = outcome(s);
    s.write(new Uint8Array(10));
    expect(await done).toBe('UNREACHABLE');
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('unreachable');
    expect(end.error).toBeInstanceOf(KcpError);
    expect(end.error!.code).toBe('UNREACHABLE');
  });

  it('a listener socket that closes under its sessions ends them with socket-error', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    const server = firstValueFrom(l.sessions$);
    const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    cleanup.push(() => c.close());
    c.write(new Uint8Array(10));
    const s = await server;
    const done = outcome(s);
    l.socket.close();
    expect(await done).toBe('SOCKET_CLOSED');
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('socket-error');
    expect(end.error!.code).toBe('SOCKET_CLOSED');
    l.close();
  });

  it('a conv reset from the same address ends the old session as reset: data$ completes', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    // a client that restarts on the same address with a new conv: its first PUSH has sn 0 again
    const raw = createSocket('udp4');
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', r));
    cleanup.push(() => raw.close());
    const first = (conv: number) => encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 32, ts: 0, sn: 0, una: 0 }, new Uint8Array(8));
    raw.send(first(1), l.address.port, '127.0.0.1');
    await until(() => accepted.length === 1);
    const old = accepted[0]!;
    const done = outcome(old);
    raw.send(first(2), l.address.port, '127.0.0.1');
    expect(await done).toBe('complete');
    const end: SessionEnd = await firstValueFrom(old.ended$);
    expect(end).toEqual({ reason: 'reset' });
  });

  it('a layer that throws ends the session with layer-error', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    l.sessions$.subscribe((s) => echo(s));
    const s = await dial({
      connect: `127.0.0.1:${l.address.port}`,
      ...fast,
      layers: {
        afterFecDecode: map(() => {
          throw new Error('bad layer');
        }),
      },
    });
    cleanup.push(() => s.close());
    const done = outcome(s);
    s.write(new Uint8Array(10)); // the echo's first datagram meets the layer
    expect(await done).toBe('LAYER_ERROR');
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('layer-error');
    expect(end.error!.code).toBe('LAYER_ERROR');
  });

  it('each fault code maps to its reason', () => {
    const cases: [KcpError['code'], SessionEnd['reason']][] = [
      ['DEAD_LINK', 'dead-link'],
      ['SOCKET_ERROR', 'socket-error'],
      ['SOCKET_CLOSED', 'socket-error'],
      ['RESET', 'reset'],
      ['UNREACHABLE', 'unreachable'],
      ['CONNECT_TIMEOUT', 'unreachable'],
      ['LAYER_ERROR', 'layer-error'],
    ];
    return Promise.all(
      cases.map(async ([code, reason]) => {
        const peer = await silentPeer();
        const s = await dial({ connect: `127.0.0.1:${peer.address().port}`, ...fast });
        const done = outcome(s);
        s.fail(new KcpError(code, 'test'));
        expect(await done).toBe(code);
        const end = await firstValueFrom(s.ended$);
        expect(end).toEqual({ reason, error: expect.objectContaining({ code }) });
      })
    );
  });
});

describe('connectTimeout', () => {
  it('fails a dial that hears nothing at all within connectTimeout of its first write with CONNECT_TIMEOUT, and frees its socket', async () => {
    const peer = await silentPeer();
    const s = await dial({ connect: `127.0.0.1:${peer.address().port}`, connectTimeout: 300, ...fast });
    const done = outcome(s);
    s.write(new Uint8Array(10));
    expect(await done).toBe('CONNECT_TIMEOUT');
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('unreachable');
    expect(end.error!.code).toBe('CONNECT_TIMEOUT');
    expect(s.stats.OutPkts).toBeGreaterThan(0);
    expect(await portFree(s.localPort)).toBe(true);
  }, 20_000);

  it('also fails when only ICMP refusals come back (they are not the peer)', async () => {
    const s = await dial({ connect: `127.0.0.1:${await closedPort()}`, connectTimeout: 300, ...fast });
    const done = outcome(s);
    s.write(new Uint8Array(10));
    expect(await done).toBe('CONNECT_TIMEOUT');
    expect(s.stats.InErrs).toBeGreaterThan(0);
  }, 20_000);

  it('leaves a session whose peer answers alone, however long it then stays quiet', async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast });
    cleanup.push(() => l.close());
    l.sessions$.subscribe((s) => echo(s));
    const s = await dial({ connect: `127.0.0.1:${l.address.port}`, connectTimeout: 200, ...fast });
    cleanup.push(() => s.close());
    const reply = firstValueFrom(s.data$);
    s.write(new Uint8Array([1, 2, 3]));
    expect(await reply).toEqual(new Uint8Array([1, 2, 3]));
    await new Promise((r) => setTimeout(r, 500));
    expect(s.closed).toBe(false);
    await s.send(new Uint8Array(4));
    await s.drain();
  });

  it('does not start before the first write', async () => {
    const peer = await silentPeer();
    const s = await dial({ connect: `127.0.0.1:${peer.address().port}`, connectTimeout: 100, ...fast });
    cleanup.push(() => s.close());
    await new Promise((r) => setTimeout(r, 300));
    expect(s.closed).toBe(false);
    const done = outcome(s);
    s.write(new Uint8Array(1));
    expect(await done).toBe('CONNECT_TIMEOUT');
  }, 20_000);
});
