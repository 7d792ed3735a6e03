/**
 * A property of the listener's admission control, in virtual time over an in-memory socket: for
 * any sequence of datagrams from a handful of source addresses (first-flight PUSHes at any sn,
 * conv changes, ACKs, mid-stream segments, garbage, in any order, with time passing between them)
 * to an application written as the README writes one (`sessions$` and `data$` with a `next`
 * callback only, echoing what it reads):
 * - nothing is thrown at the application (no error reaches RxJS's unhandled-error hook);
 * - the half-open table stays within `maxHalfOpen`, proven sessions within `maxSessions`;
 * - the clock holds one entry per session and one for the whole half-open table;
 * - an address that never sent a fresh sn 0 is sent nothing;
 * - once `snZeroWait` has passed with no more datagrams, no half-open entry is left.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:dgram';
import fc from 'fast-check';
import { config, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Listener } from '../operators/transport/listener.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { IKCP_CMD_ACK, IKCP_CMD_PUSH, IKCP_CMD_WASK } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { checkAsyncProperty, propertyTimeout } from './helpers/properties.js';

/** The part of a `dgram.Socket` a `Listener` uses, in memory; what the listener sends is recorded by port. */
class MemorySocket extends EventEmitter {
  readonly sentTo = new Map<number, number>();
  send(_data: Uint8Array, port: number, _address?: string, callback?: (error: Error | null) => void): void {
    this.sentTo.set(port, (this.sentTo.get(port) ?? 0) + 1);
    callback?.(null);
  }
  address(): { address: string; family: string; port: number } {
    return { address: '10.0.0.2', family: 'IPv4', port: 4000 };
  }
  close(): void {
    this.emit('close');
  }
}

type Event =
  | { kind: 'push'; from: number; conv: number; sn: number; una: number; frg: number; len: number }
  | { kind: 'ack'; from: number; conv: number; sn: number }
  | { kind: 'wask'; from: number; conv: number }
  | { kind: 'garbage'; from: number; bytes: Uint8Array }
  | { kind: 'wait'; ms: number };

const SOURCES = 6;
const MAX_HALF_OPEN = 3;
const MAX_SESSIONS = 2;
const SN_ZERO_WAIT = 500;

const from = fc.integer({ min: 0, max: SOURCES - 1 });
const conv = fc.integer({ min: 1, max: 4 });
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), from, conv, sn: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 })), una: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })), frg: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })), len: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ack' as const), from, conv, sn: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wask' as const), from, conv }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), from, bytes: fc.uint8Array({ minLength: 0, maxLength: 60 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 300 }) }) }
);

const unhandled: unknown[] = [];
afterEach(() => {
  config.onUnhandledError = null;
});

async function runWith(events: Event[]): Promise<void> {
  unhandled.length = 0;
  config.onUnhandledError = (e) => unhandled.push(e);
  const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  const clock = new Clock(scheduler);
  const socket = new MemorySocket();
  const listener = await Listener.listen({
    listen: '127.0.0.1:0',
    socket: socket as unknown as Socket,
    clock,
    keepalive: false,
    nodelay: 1,
    interval: 10,
    maxHalfOpen: MAX_HALF_OPEN,
    maxSessions: MAX_SESSIONS,
    snZeroWait: SN_ZERO_WAIT,
  });
  listener.sessions$.subscribe((s) => s.data$.subscribe((m) => s.write(m))); // next only, as the README does
  /** Ports that sent a datagram a fresh peer opens a session with (PUSH sn 0, una 0, first in the datagram). */
  const mayHearBack = new Set<number>();
  const advance = (ms: number) => {
    const until = scheduler.now() + ms;
    // run the clock's actions up to `until` (the virtual scheduler runs everything it holds on flush)
    scheduler.schedule(() => {}, ms);
    scheduler.maxFrames = until;
    scheduler.flush();
  };
  for (const e of events) {
    if (e.kind === 'wait') {
      advance(e.ms);
      continue;
    }
    const port = 40_000 + e.from;
    let dg: Uint8Array;
    if (e.kind === 'push') {
      dg = encodeSegment({ conv: e.conv, cmd: IKCP_CMD_PUSH, frg: e.frg, wnd: 128, ts: scheduler.now() >>> 0, sn: e.sn, una: e.una }, new Uint8Array(e.len).fill(e.sn & 0xff));
      if (e.sn === 0 && e.una === 0) mayHearBack.add(port);
    } else if (e.kind === 'ack') dg = encodeSegment({ conv: e.conv, cmd: IKCP_CMD_ACK, frg: 0, wnd: 128, ts: 0, sn: e.sn, una: e.sn + 1 });
    else if (e.kind === 'wask') dg = encodeSegment({ conv: e.conv, cmd: IKCP_CMD_WASK, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0 });
    else dg = e.bytes;
    socket.emit('message', Buffer.from(dg), { address: '10.0.0.1', family: 'IPv4', port, size: dg.length });
    expect(listener.halfOpen).toBeLessThanOrEqual(MAX_HALF_OPEN);
    expect(listener.size).toBeLessThanOrEqual(MAX_SESSIONS);
    expect(clock.size).toBe(1 + listener.size); // one entry per session, one for the half-open table
  }
  for (const port of socket.sentTo.keys()) expect(mayHearBack.has(port), `port ${port} was answered without sending sn 0`).toBe(true);
  advance(SN_ZERO_WAIT + 1);
  expect(listener.halfOpen).toBe(0);
  listener.close();
  await new Promise((r) => setTimeout(r, 0)); // RxJS reports an unhandled error on a timer of its own
  expect(unhandled).toEqual([]);
}

describe('listener admission, for any sequence of datagrams', () => {
  it('never throws at a next-only application, stays within its bounds, answers only sources that sent sn 0, and forgets half-open sources at their deadline', async () => {
    await checkAsyncProperty(fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 60 }), runWith), { numRuns: 150, seed: 19 });
  }, propertyTimeout({ numRuns: 150 }, 60_000));
});
