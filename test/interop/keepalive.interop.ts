/**
 * The keepalive against the real kcp-go 5.6.1 (kcppeer): it needs nothing kcp-go does not already
 * answer. A quiet rxkcp session to a kcp-go echo server stays up on the server's WINS answers to
 * its window probes, and ends with 'keepalive-timeout' once the server process is killed; an
 * rxkcp server's session ends the same way after a kcp-go client finished and exited.
 */
import { firstValueFrom } from 'rxjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dial } from '../../operators/transport/dial.js';
import { echo } from '../../operators/apps/echo.js';
import { Listener } from '../../operators/transport/listener.js';
import type { Session, SessionOptions } from '../../operators/transport/session.js';
import { KcpError } from '../../src/errors.js';
import { buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoPeer } from './go-peer.js';

/** kcppeer's defaults, which are kcptun's: aes with kcptun's default key, FEC 10/3, mode fast, mtu 1350. */
const kcptunDefaults: SessionOptions = { crypt: 'aes', key: "it's a secrect", dataShards: 10, parityShards: 3, mode: 'fast', mtu: 1350 };
const keepalive = { interval: 200, timeout: 1500 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const peers: GoPeer[] = [];
const cleanup: (() => void)[] = [];
afterEach(async () => {
  while (cleanup.length) cleanup.pop()!();
  for (const p of peers.splice(0)) p.process.kill('SIGKILL');
});

describe.skipIf(!haveGoPeer())('keepalive against kcp-go 5.6.1', () => {
  beforeAll(async () => {
    await buildGoPeer();
  });

  it('a quiet session to a kcp-go server stays up on its WINS answers, and ends with keepalive-timeout when the server is killed', async () => {
    const go = await startGoPeer('echo');
    peers.push(go);
    const s: Session = await dial({ connect: go.addr, ...kcptunDefaults, keepalive });
    cleanup.push(() => s.close());
    const reply = firstValueFrom(s.data$);
    await s.send(new TextEncoder().encode('hello kcp-go'));
    expect(new TextDecoder().decode(await reply)).toBe('hello kcp-go');
    const before = s.stats.InSegs;
    await sleep(4 * keepalive.timeout); // only probes and answers cross
    expect(s.closed).toBe(false);
    expect(s.stats.InSegs - before).toBeGreaterThanOrEqual(4); // kcp-go's WINS answers

    go.process.kill('SIGKILL');
    const done = new Promise<string>((resolve) => s.data$.subscribe({ complete: () => resolve('complete'), error: (e: KcpError) => resolve(e.code) }));
    const drained = s.send(new Uint8Array(4096)).then(() => s.drain()).then(
      () => 'resolved',
      (e: unknown) => (e instanceof KcpError ? e.code : String(e))
    );
    const end = await firstValueFrom(s.ended$);
    expect(end.reason).toBe('keepalive-timeout');
    expect(end.error!.code).toBe('KEEPALIVE_TIMEOUT');
    expect(await done).toBe('complete');
    expect(await drained).toBe('KEEPALIVE_TIMEOUT');
  }, 60_000);

  it("an rxkcp server's session ends with keepalive-timeout after its kcp-go client finished and exited", async () => {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...kcptunDefaults, keepalive });
    cleanup.push(() => l.close());
    const ended = new Promise<string>((resolve) =>
      l.sessions$.subscribe((s) => {
        echo(s);
        s.ended$.subscribe((e) => resolve(e.reason));
      })
    );
    const sent = await runGoSend({ connect: `127.0.0.1:${l.address.port}`, bytes: 256 * 1024 });
    expect(sent.ok).toBe(true);
    expect(await ended).toBe('keepalive-timeout');
  }, 60_000);
});
