/**
 * Pacing in the KCP core when the driver wakes it late: a busy event loop or a timer's slack
 * delays the flush a paced sender asked for, and the core must not lose the rate the strategy set.
 * A strategy with a fixed pacing rate and no in-flight limit, driven at whole-ms wake-ups that come
 * later than the core asked for.
 */
import { describe, expect, it } from 'vitest';
import { KcpGoCc, type CcFactory } from '../src/kcp/cc.js';
import { Kcp } from '../src/kcp/kcp.js';
import { CollectSink } from '../src/sink.js';

/** Payload bytes per ms the test strategy paces at (about 11 MB/s: a fast path). */
const RATE = 11_200;

/** kcp-go's rules with a fixed pacing rate and no in-flight limit. */
const fixedRate: CcFactory = (host) =>
  Object.assign(new KcpGoCc(host), { name: 'fixed-rate', pacingRate: () => RATE, inflightLimit: () => Infinity });

/**
 * Sends for `ms` through a core whose flushes come `late` ms after it asked, to a receiver that
 * acknowledges at once (no path delay, no loss); returns the payload bytes delivered per ms.
 */
function pacedRate(late: number, ms = 2_000): number {
  const options = { cc: fixedRate, nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 4096, rcvWnd: 4096, mtu: 1400 } as const;
  const sender = new Kcp(1, options);
  const receiver = new Kcp(1, options);
  const chunk = new Uint8Array(64 * 1024);
  const toReceiver = new CollectSink<Uint8Array>();
  const toSender = new CollectSink<Uint8Array>();
  let delivered = 0;
  let now = 0;
  while (now < ms) {
    while (sender.waitSnd() < 2048) sender.send(chunk);
    const wait = sender.flush(now, toReceiver);
    for (const d of toReceiver.take()) receiver.input(d, now, toSender);
    receiver.flush(now, toSender);
    for (let m = receiver.recv(); m !== null; m = receiver.recv()) delivered += m.length;
    for (const d of toSender.take()) sender.input(d, now, toReceiver);
    now += Math.max(1, wait) + late;
  }
  return delivered / now;
}

describe('pacing with late wake-ups', () => {
  it('holds the strategy rate when every wake-up comes on time', () => {
    expect(pacedRate(0) / RATE).toBeGreaterThan(0.95);
  });
  for (const late of [2, 5, 9]) {
    it(`holds the strategy rate when every wake-up comes ${late} ms late (within a flush interval)`, () => {
      const share = pacedRate(late) / RATE;
      expect(share, `share of the pacing rate reached: ${share.toFixed(3)}`).toBeGreaterThan(0.95);
      expect(share).toBeLessThan(1.05);
    });
  }
});
