import { describe, expect, it } from 'vitest';
import { virtualLink } from '../operators/testing/virtual-link.js';
import { bytes, testScheduler } from './helpers.js';

describe('virtualLink', () => {
  it('delays every datagram by the fixed delay and completes after the last arrives', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const v = { a: bytes(1, 1), b: bytes(1, 2) };
      const input = cold('a-b|', v);
      expectObservable(input.pipe(virtualLink({ seed: 1, delay: 10 }))).toBe('10ms a-(b|)', v);
      expectSubscriptions(input.subscriptions).toBe('^--!');
    });
  });

  it('limits bandwidth: 500-byte datagrams at 1000 B/s leave 500 ms apart', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: bytes(500, 1), b: bytes(500, 2), c: bytes(500, 3) };
      expectObservable(cold('(abc|)', v).pipe(virtualLink({ seed: 1, bandwidth: 1000 }))).toBe('500ms a 499ms b 499ms (c|)', v);
    });
  });

  it('drops, duplicates and reorders the same way for the same seed, and differently for another', () => {
    const run = (seed: number) => {
      const seen: string[] = [];
      testScheduler().run(({ cold, flush }) => {
        const keys = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN';
        const values = Object.fromEntries([...keys].map((k, i) => [k, bytes(1, i)]));
        const marble = Object.keys(values).join('-') + '|';
        cold(marble, values)
          .pipe(virtualLink({ seed, loss: 0.2, delay: 20, jitter: 30, duplicate: 0.1, reorder: 0.2 }))
          .subscribe((b) => seen.push(String(b[0])));
        flush();
      });
      return seen.join(',');
    };
    const first = run(7);
    expect(run(7)).toBe(first);
    expect(run(8)).not.toBe(first);
    const ids = first.split(',').map(Number);
    expect(ids.length).toBeLessThan(48); // some lost…
    expect(new Set(ids).size).toBeLessThan(40);
    expect(ids.length).toBeGreaterThan(new Set(ids).size); // …some duplicated
    expect(ids).not.toEqual([...ids].sort((a, b) => a - b)); // …some out of order
  });

  it('drops what is in flight on unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { a: bytes(1, 1), b: bytes(1, 2) };
      expectObservable(cold('a-b|', v).pipe(virtualLink({ seed: 1, delay: 10 })), '^ 10ms !').toBe('10ms a', v);
    });
  });

  it('rejects impossible options when the pipe is built', () => {
    expect(() => virtualLink({ seed: 1, loss: 1.5 })).toThrow(RangeError);
    expect(() => virtualLink({ seed: 1.5 })).toThrow(TypeError);
  });
});
