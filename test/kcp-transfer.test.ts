import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transfer } from './helpers/transfer.js';
import { checkProperty } from './helpers/properties.js';

const MB = 1 << 20;

describe('Kcp transfer over a lossy in-memory link (virtual time)', () => {
  for (const loss of [0, 0.1, 0.3]) {
    for (const stream of [false, true]) {
      it(`10 MB byte-exact at ${loss * 100} % loss with reordering and duplication, ${stream ? 'stream' : 'message'} mode`, () => {
        const r = transfer({
          bytes: 10 * MB,
          seed: 1000 + loss * 100 + (stream ? 1 : 0),
          link: { loss, delay: 20, jitter: 10, duplicate: 0.02, reorder: 0.05 },
          kcp: { stream },
          maxSend: stream ? 3000 : 8000,
        });
        expect(r.mismatchAt).toBe(-1);
        expect(r.delivered).toBe(10 * MB);
        expect(r.ok).toBe(true);
        // lost datagrams are only ever made good by retransmission
        if (loss > 0) expect(r.sender.RetransSegs).toBeGreaterThan(r.pair.ab.stats.dropped / 4);
        // duplicated datagrams reach the receiver as repeats
        expect(r.receiver.RepeatSegs).toBeGreaterThan(0);
        expect(r.pair.inputErrors.size).toBe(0);
      });
    }
  }

  it('sequence numbers starting just below 2^32 wrap and still deliver in order', () => {
    const r = transfer({
      bytes: 2 * MB,
      seed: 77,
      link: { loss: 0.1, delay: 15, jitter: 5, reorder: 0.05 },
      kcp: { startSn: 0xffffff00 },
    });
    expect(r.ok).toBe(true);
    // the sender's next sn wrapped past zero
    expect(r.pair.a.sndNxt).toBeLessThan(0xffffff00);
    expect(r.pair.a.sndNxt).toBeGreaterThan(0);
    expect(r.pair.b.rcvNxt).toBe(r.pair.a.sndNxt);
  });

  it('property: any cutting into sends, loss ≤ 30 %, reordering and duplication deliver the same bytes', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 200_000 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0x7fffffff }),
        (bytes, lossPct, dupPct, reorderPct, maxSend, stream, seed) => {
          const r = transfer({
            bytes,
            seed,
            link: { loss: lossPct / 100, duplicate: dupPct / 100, reorder: reorderPct / 100, delay: 10, jitter: 10 },
            kcp: { stream, sndWnd: 128, rcvWnd: 128 },
            maxSend,
          });
          return r.ok;
        }
      ),
      { numRuns: 40, seed: 20261123 }
    );
  });
});

describe('flush shortcut', () => {
  it('sends exactly the datagrams a full scan of the send buffer would, under loss, reordering and duplication', async () => {
    const { Digest } = await import('../marbles/helpers.js');
    const trace = (scanEveryFlush: boolean) => {
      const d = new Digest();
      const r = transfer({
        bytes: 2 << 20,
        seed: 99,
        link: { loss: 0.2, delay: 20, jitter: 15, duplicate: 0.02, reorder: 0.1 },
        // kcp-go timing: the shortcut may wake a flush early on a stale bound, and with adaptive
        // timing (in-flight cap) when a flush runs decides when an early retransmission goes out
        kcp: { sndWnd: 512, rcvWnd: 512, cc: 'kcp-go' },
        driver: { scanEveryFlush },
        tap: (from, dg, now) => d.num(now).bytes(dg).num(from === 'a' ? 1 : 2),
      });
      expect(r.ok).toBe(true);
      d.num(r.virtualMs).num(r.sender.OutSegs).num(r.sender.RetransSegs).num(r.sender.EarlyRetransSegs).num(r.receiver.RepeatSegs).num(r.pair.datagramsA).num(r.pair.datagramsB);
      return d.value;
    };
    expect(trace(false)).toBe(trace(true));
  });
});
