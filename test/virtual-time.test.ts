/**
 * `withVirtualTime` from `rxkcp/testing`: marble expectations checked by its own deep-equal (no
 * test framework) and failing when they should, `advance` stopping at its bound while a
 * conversation's clock still ticks, and the same seeded run giving the same datagrams twice.
 */
import { delay, map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Conversation } from '../operators/conversation/conversation.js';
import { deepEqual, patternBytes, PatternVerifier, virtualNetwork, withVirtualTime } from '../operators/testing/index.js';
import { createCrypt } from '../src/crypt/crypt.js';
import type { LossyLink } from '../src/sim/lossy-link.js';

describe('withVirtualTime', () => {
  it('checks marble expectations with its own deep-equal, and fails a wrong one', () => {
    withVirtualTime(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b|', { a: 1, b: 2 }).pipe(map((x) => x * 10), delay(5))).toBe('------a-(b|)', { a: 10, b: 20 });
    });
    expect(() =>
      withVirtualTime(({ cold, expectObservable }) => {
        expectObservable(cold('-a|', { a: new Uint8Array([1, 2]) })).toBe('-a|', { a: new Uint8Array([1, 3]) });
      })
    ).toThrow(/virtual time: expected/);
  });

  it('deepEqual compares typed arrays, errors and objects by content', () => {
    expect(deepEqual({ a: new Uint8Array([1]), e: new RangeError('x') }, { a: new Uint8Array([1]), e: new RangeError('x') })).toBe(true);
    expect(deepEqual(new Uint8Array([1]), new Uint16Array([1]))).toBe(false);
    expect(deepEqual([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
  });

  it('advance runs a bounded stretch while a conversation keeps its clock going; a seeded run repeats exactly', () => {
    const run = () =>
      withVirtualTime(({ clock, scheduler, advance, now }) => {
        const options = { conv: 3, clock, crypt: createCrypt('none', new Uint8Array(0)), kcp: { nodelay: 1, interval: 10, resend: 2, nc: 1 } };
        const a = new Conversation(options);
        const b = new Conversation(options);
        const links: LossyLink<never>[] = [];
        const net = virtualNetwork(a, b, { ab: { seed: 5, loss: 0.3, delay: 25, onLink: (l) => links.push(l) }, ba: { seed: 6, loss: 0.3, delay: 25, onLink: (l) => links.push(l) }, scheduler });
        const v = new PatternVerifier();
        b.data$.subscribe((m) => v.push(m));
        void a.send(patternBytes(0, 30_000));
        // 20 ms is less than the 25 ms one-way delay: nothing can have arrived yet
        advance(20);
        const early = { at: now(), received: v.offset };
        advance(20_000);
        const after = { at: now(), received: v.offset, error: v.error, links: links.map((l) => ({ ...l.stats })) };
        a.close({ linger: false });
        b.close({ linger: false });
        net.unsubscribe();
        return { early, after };
      });
    const first = run();
    expect(first.early.at).toBe(20);
    expect(first.early.received).toBe(0);
    expect(first.after.at).toBe(20_020);
    expect(first.after.received).toBe(30_000);
    expect(first.after.error).toBeNull();
    expect(first.after.links[0]!.dropped).toBeGreaterThan(0);
    expect(run()).toEqual(first);
    expect(() => withVirtualTime(({ advance }) => advance(-1))).toThrow(RangeError);
  });
});
