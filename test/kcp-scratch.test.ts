/**
 * KCP cores assemble datagrams in scratch memory they may share: a sink that makes another core
 * flush (or take input and answer) at once, inside the first core's flush, as a virtual link
 * delivering synchronously does, must not change what either core sends.
 */
import { describe, expect, it } from 'vitest';
import { Kcp } from '../src/kcp/kcp.js';
import { Prng } from '../src/prng.js';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
const opts = { nodelay: 1, interval: 10, nc: 1, sndWnd: 128, rcvWnd: 128, mtu: 600 } as const;

/** Two cores with different data queued: a's flush output, and b's when flushed from inside a's sink. */
function run(nested: boolean, ackNoDelay: boolean): { a: string[]; b: string[]; c: string[] } {
  const a = new Kcp(1, opts);
  const b = new Kcp(2, { ...opts, mtu: 1400 });
  const c = new Kcp(1, { ...opts, ackNoDelay }); // a's peer: answers each datagram with ACKs at once
  a.send(new Prng(1).bytes(5000));
  b.send(new Prng(2).bytes(9000));
  const out = { a: [] as string[], b: [] as string[], c: [] as string[] };
  const bSink = { next: (d: Uint8Array) => out.b.push(hex(d)) };
  const cSink = { next: (d: Uint8Array) => out.c.push(hex(d)) };
  let first = true;
  a.flush(0, {
    next: (d) => {
      out.a.push(hex(d));
      if (!nested) return;
      c.input(d, 0, cSink); // with ackNoDelay, c flushes its ACKs inside a's flush
      if (first) b.flush(0, bSink); // another core's whole flush inside a's
      first = false;
    },
  });
  if (!nested) {
    for (const d of out.a) c.input(Buffer.from(d, 'hex'), 0, cSink);
    b.flush(0, bSink);
  }
  return out;
}

describe('KCP cores flushing inside one another', () => {
  for (const ackNoDelay of [false, true]) {
    it(`send the same datagrams as when flushed one after the other (ackNoDelay ${ackNoDelay})`, () => {
      const apart = run(false, ackNoDelay);
      expect(apart.a.length).toBeGreaterThan(5);
      expect(apart.b.length).toBeGreaterThan(5);
      if (ackNoDelay) expect(apart.c.length).toBeGreaterThan(0);
      const nested = run(true, ackNoDelay);
      expect(nested.a).toEqual(apart.a);
      expect(nested.b).toEqual(apart.b);
      expect(nested.c).toEqual(apart.c);
    });
  }
});
