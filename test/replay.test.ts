import { createSocket } from 'node:dgram';
import { tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import { ReplayWindow } from '../src/crypt/replay-window.js';
import { createCrypt } from '../src/crypt/crypt.js';
import { aeadSeal, openDatagram } from '../src/crypt/packet.js';
import { Prng } from '../src/prng.js';
import { Snmp } from '../src/stats.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

describe('anti-replay window (AEAD, opt-in)', () => {
  it('remembers the last N nonces: repeats inside the window are refused, older ones forgotten', () => {
    const w = new ReplayWindow(3);
    const n = (i: number) => new Uint8Array(12).fill(i);
    expect([1, 2, 3].map((i) => w.accept(n(i)))).toEqual([true, true, true]);
    expect(w.accept(n(2))).toBe(false);
    expect(w.accept(n(4))).toBe(true); // evicts 1
    expect(w.accept(n(1))).toBe(true);
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
  });

  it('drops a replayed sealed datagram and counts it in ReplayDrops', () => {
    const c = createCrypt('aes-128-gcm', new Uint8Array(16).fill(1));
    if (c.kind !== 'aead') throw new Error('aead expected');
    const stats = new Snmp();
    const w = new ReplayWindow(1024);
    const dg = aeadSeal(new Prng(1).bytes(40), c.aead, c.random);
    expect(openDatagram(c, dg.slice(), stats, w)).not.toBeNull();
    expect(openDatagram(c, dg.slice(), stats, w)).toBeNull();
    expect(stats.ReplayDrops).toBe(1);
    expect(stats.InCsumErrors).toBe(0);
  });

  for (const antiReplay of [undefined, 4096]) {
    it(`a listener ${antiReplay ? 'with' : 'without'} the window, facing datagrams replayed from another address`, async () => {
      const opts = { crypt: 'aes-256-gcm' as const, key: 'replay', nodelay: 1, interval: 10, resend: 2, nc: 1 };
      const l = await Listener.listen({ listen: '127.0.0.1:0', ...opts, antiReplay });
      cleanup.push(() => l.close());
      l.sessions$.subscribe((s) => s.data$.subscribe({ error: () => {} }));
      const captured: Uint8Array[] = [];
      const c = await dial({ connect: `127.0.0.1:${l.address.port}`, ...opts, layers: { afterEncrypt: tap((d) => captured.push(d.slice())) } });
      cleanup.push(() => c.close());
      c.write(new Uint8Array(500).fill(7));
      await new Promise((r) => setTimeout(r, 150));
      expect(l.size).toBe(1);
      const attacker = createSocket('udp4');
      cleanup.push(() => attacker.close());
      for (const d of captured) attacker.send(d, l.address.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 150));
      if (antiReplay) {
        expect(l.stats.ReplayDrops).toBe(captured.length);
        expect(l.size).toBe(1); // the replays made no session
      } else {
        expect(l.stats.ReplayDrops).toBe(0);
        expect(l.size).toBe(2); // kcp-go behaves the same: a replay from a new address opens a session
      }
    });
  }

  it('refuses antiReplay with a CFB cipher when the pipeline is built', async () => {
    await expect(Listener.listen({ listen: '127.0.0.1:0', crypt: 'aes', key: 'x', antiReplay: 10 })).rejects.toThrow(/AEAD/);
  });
});
