/**
 * A KCP ACK echoes the `ts` of the transmission it acknowledges. An ACK for a segment sent more
 * than once that carries an earlier transmission's `ts` shows the retransmission was not needed
 * (Eifel detection, RFC 3522): counted in SpuriousRetrans. Measurement only; nothing is undone.
 */
import { describe, expect, it } from 'vitest';
import { Kcp } from '../src/kcp/kcp.js';
import { Snmp } from '../src/stats.js';

function pair() {
  const sStats = new Snmp();
  const tx = new Kcp(3, { nodelay: 1, interval: 10, nc: 1 }, sStats);
  const rx = new Kcp(3, { nodelay: 1, interval: 10, nc: 1 });
  return { tx, rx, sStats };
}

const collect = () => {
  const out: Uint8Array[] = [];
  return { out, sink: { next: (d: Uint8Array) => out.push(d.slice()) } };
};

describe('spurious retransmissions (Eifel detection)', () => {
  it('counts a timeout retransmission whose original was acknowledged late', () => {
    const { tx, rx, sStats } = pair();
    tx.send(new Uint8Array(100));
    const first = collect();
    tx.flush(0, first.sink, 'full'); // the original, at t = 0
    const second = collect();
    tx.flush(1000, second.sink, 'full'); // long past the RTO: sent again
    expect(second.out.length).toBe(1);
    expect(sStats.RetransSegs).toBeGreaterThan(0);
    // the original was only slow: the receiver acknowledges it, echoing ts 0
    const acks = collect();
    rx.input(first.out[0]!, 1005, { next: () => {} }, 'wire');
    rx.flush(1005, acks.sink, 'full');
    tx.input(acks.out[0]!, 1010, { next: () => {} }, 'wire');
    expect(sStats.SpuriousRetrans).toBe(1);
  });

  it('does not count a retransmission that was needed (the ACK echoes its own ts)', () => {
    const { tx, rx, sStats } = pair();
    tx.send(new Uint8Array(100));
    tx.flush(0, { next: () => {} }, 'full'); // the original is lost
    const second = collect();
    tx.flush(1000, second.sink, 'full');
    const acks = collect();
    rx.input(second.out[0]!, 1005, { next: () => {} }, 'wire');
    rx.flush(1005, acks.sink, 'full');
    tx.input(acks.out[0]!, 1010, { next: () => {} }, 'wire');
    expect(sStats.RetransSegs).toBeGreaterThan(0);
    expect(sStats.SpuriousRetrans).toBe(0);
  });

  it('does not count a segment sent once', () => {
    const { tx, rx, sStats } = pair();
    tx.send(new Uint8Array(100));
    const first = collect();
    tx.flush(0, first.sink, 'full');
    const acks = collect();
    rx.input(first.out[0]!, 5, { next: () => {} }, 'wire');
    rx.flush(5, acks.sink, 'full');
    tx.input(acks.out[0]!, 10, { next: () => {} }, 'wire');
    expect(sStats.SpuriousRetrans).toBe(0);
  });
});
