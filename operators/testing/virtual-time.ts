/**
 * Runs code in virtual time: `TestScheduler.run` with a `Clock` on the test scheduler, so
 * conversations, virtual links and marble helpers share one virtual timeline and minutes of
 * protocol run in milliseconds, the same way every time.
 * @module
 */
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { Clock } from '../conversation/update-clock.js';

/** What {@link withVirtualTime} hands its callback: rxjs's marble helpers, plus the clock and scheduler. */
export interface VirtualTime extends RunHelpers {
  /** The test scheduler: pass it as `scheduler` to `virtualNetwork` and `virtualLink`. */
  readonly scheduler: TestScheduler;
  /** A clock on the test scheduler: pass it as `clock` to each `Conversation`. */
  readonly clock: Clock;
  /** Virtual time now, in ms since the run began. */
  now(): number;
  /**
   * Runs everything due within the next `ms` of virtual time, then stops with the clock at
   * `now() + ms`, even if work remains (a conversation that is not closed keeps its timer).
   */
  advance(ms: number): void;
}

/**
 * Compares what `expectObservable` and `expectSubscriptions` saw with what was expected, and
 * throws if they differ. The default is {@link deepEqual}; pass a test framework's own
 * (`(a, e) => expect(a).toEqual(e)`) for its messages.
 */
export type AssertDeepEqual = (actual: unknown, expected: unknown) => boolean | void;

/**
 * Calls `fn` inside `TestScheduler.run`, with a `Clock` on the test scheduler. Everything
 * scheduled, on the test scheduler or on rxjs's own schedulers, runs in virtual time; what is
 * still due when `fn` returns runs before `withVirtualTime` returns. Call `t.flush()` inside `fn`
 * to run everything due now, or `t.advance(ms)` to run a bounded stretch. Returns what `fn`
 * returns.
 *
 * Close conversations and unsubscribe virtual networks when done: their timers keep virtual time
 * going for as long as they live.
 *
 * @example
 * const delivered = withVirtualTime(({ clock, scheduler, flush }) => {
 *   const a = new Conversation({ conv: 1, clock, crypt: createCrypt('none', new Uint8Array(0)) });
 *   const b = new Conversation({ conv: 1, clock, crypt: createCrypt('none', new Uint8Array(0)) });
 *   const net = virtualNetwork(a, b, { ab: { seed: 1, loss: 0.1 }, ba: { seed: 2 }, scheduler });
 *   ...
 * });
 */
export function withVirtualTime<T>(fn: (t: VirtualTime) => T, assert: AssertDeepEqual = assertDeepEqual): T {
  const scheduler = new TestScheduler(assert);
  return scheduler.run((helpers) => {
    const clock = new Clock(scheduler);
    const advance = (ms: number): void => {
      if (!(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`advance: ms must be a finite number ≥ 0, got ${String(ms)}`);
      const until = scheduler.frame + ms;
      const max = scheduler.maxFrames;
      scheduler.maxFrames = until;
      try {
        scheduler.flush();
      } finally {
        scheduler.maxFrames = max;
      }
      scheduler.frame = until;
    };
    return fn({ ...helpers, scheduler, clock, now: () => scheduler.now(), advance });
  });
}

function assertDeepEqual(actual: unknown, expected: unknown): void {
  if (!deepEqual(actual, expected)) {
    throw new Error(`virtual time: expected ${describe(expected)}, got ${describe(actual)}`);
  }
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (ArrayBuffer.isView(x) ? Array.from(x as Uint8Array) : x instanceof Error ? `${x.name}: ${x.message}` : x));
  } catch {
    return String(v);
  }
}

/**
 * Structural equality as marble tests need it: primitives by `Object.is`, arrays and typed arrays
 * element by element, errors by name and message, other objects by their own enumerable keys.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Error || b instanceof Error) {
    return a instanceof Error && b instanceof Error && a.name === b.name && a.message === b.message;
  }
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}
