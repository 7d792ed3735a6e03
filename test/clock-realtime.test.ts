import { asyncScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Conversation } from '../operators/conversation/conversation.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';

describe('one clock in real time', () => {
  it('10,000 conversations on the async scheduler each deliver a message, and the clock stops after', async () => {
    const clock = new Clock(asyncScheduler);
    const pairs = 5000;
    let delivered = 0;
    const started = Date.now();
    await new Promise<void>((resolve) => {
      for (let i = 0; i < pairs; i++) {
        const a = new Conversation({ conv: i, clock });
        const b = new Conversation({ conv: i, clock });
        const net = virtualNetwork(a, b, { ab: { seed: i, delay: 5 }, ba: { seed: i + 7, delay: 5 } });
        b.data$.subscribe((m) => {
          expect(m[0]).toBe(i & 0xff);
          a.close();
          b.close();
          net.unsubscribe();
          if (++delivered === pairs) resolve();
        });
        a.write(new Uint8Array(64).fill(i & 0xff));
      }
      expect(clock.size).toBe(2 * pairs);
    });
    expect(delivered).toBe(pairs);
    // each receiver lingers after close() to acknowledge retransmissions (at most 10 s), then leaves
    for (let i = 0; i < 300 && clock.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(clock.size).toBe(0);
    expect(clock.armed).toBe(false);
    console.log(`10,000 conversations delivered in ${Date.now() - started} ms of real time, ${clock.ticks} clock ticks`);
  }, 60_000);
});
