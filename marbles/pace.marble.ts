import { describe, it } from 'vitest';
import { pace } from '../operators/layers/pace.js';
import { bytes, testScheduler } from './helpers.js';

describe('pace', () => {
  it('spaces 500-byte packets 500 ms apart at 1000 B/s with a 500-byte burst', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const p = { a: bytes(500, 1), b: bytes(500, 2), c: bytes(500, 3) };
      const input = cold('   (abc|)', p);
      const expected = '     a 499ms b 499ms (c|)';
      expectObservable(input.pipe(pace({ rate: 1000, burst: 500 }))).toBe(expected, p);
      expectSubscriptions(input.subscriptions).toBe('(^!)');
    });
  });

  it('passes a burst through at once, then paces', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const p = { a: bytes(400, 1), b: bytes(400, 2), c: bytes(400, 3) };
      // a and b fit the 800-byte bucket; c waits for 400 bytes at 1000 B/s
      expectObservable(cold('(abc|)', p).pipe(pace({ rate: 1000, burst: 800 }))).toBe('(ab) 396ms (c|)', p);
    });
  });

  it('sends a datagram larger than the burst once the bucket is full', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const p = { a: bytes(100, 1), b: bytes(1000, 2) };
      expectObservable(cold('(ab|)', p).pipe(pace({ rate: 1000, burst: 200 }))).toBe('a 99ms (b|)', p);
    });
  });

  it('drops queued datagrams and cancels its timer on unsubscribe', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const p = { a: bytes(500), b: bytes(500), c: bytes(500) };
      const input = cold('(abc)', p);
      expectObservable(input.pipe(pace({ rate: 1000, burst: 500 })), '^ 600ms !').toBe('a 499ms b', p);
      expectSubscriptions(input.subscriptions).toBe('^ 600ms !');
    });
  });

  it('rejects a rate that is not positive when the pipe is built', async () => {
    const { expect } = await import('vitest');
    expect(() => pace({ rate: 0 })).toThrow(RangeError);
    expect(() => pace({ rate: 1000, burst: -1 })).toThrow(/burst/);
  });
});
