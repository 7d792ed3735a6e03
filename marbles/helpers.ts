import type { Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Conversation } from '../operators/conversation/conversation.js';
import { expect } from 'vitest';
import { Prng } from '../src/prng.js';

/** A TestScheduler asserting with vitest (Uint8Arrays compare byte by byte). */
export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** `n` bytes all equal to `fill`. */
export function bytes(n: number, fill = 0): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

/** A deterministic nonce source for marble output that does not change run to run. */
export function seededRandom(seed: number): (into: Uint8Array) => void {
  const prng = new Prng(seed);
  return (into) => void prng.fill(into);
}

/** FNV-1a over byte arrays and numbers: a digest to assert repeatability of a whole run. */
export class Digest {
  private h = 0x811c9dc5;
  bytes(b: Uint8Array): this {
    let h = this.h;
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    this.h = h;
    return this;
  }
  num(n: number): this {
    return this.bytes(new TextEncoder().encode(String(n) + ';'));
  }
  get value(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}

/**
 * Inside `TestScheduler.run`: writes `data` from `a` in 8 KiB writes as fast as its window takes
 * them (retrying on `writable$`); once `b` has read all of it, calls `done` with what `b` read
 * (concatenated), closes both and takes `net` down, in an action of its own (TestScheduler's run
 * mode leaves a timer's pending run behind when a handler clears another timer due in the same
 * frame). Everything is taken down after an hour of virtual time in any case.
 */
export function pumpThrough(a: Conversation, b: Conversation, net: Subscription, data: Uint8Array, done: (received: Buffer) => void): void {
  let sent = 0;
  const pump = () => {
    while (sent < data.length && a.write(data.subarray(sent, Math.min(data.length, sent + 8192)))) sent += 8192;
  };
  a.writable$.subscribe(pump);
  const received: Uint8Array[] = [];
  let delivered = 0;
  b.data$.subscribe((m) => {
    received.push(m);
    delivered += m.length;
    if (delivered >= data.length) {
      done(Buffer.concat(received));
      a.close();
      b.close();
      a.clock.scheduler.schedule(() => net.unsubscribe());
    }
  });
  pump();
  a.clock.scheduler.schedule(() => (a.close(), b.close(), net.unsubscribe()), 3_600_000);
}
