/**
 * One clock for any number of KCP conversations: a single scheduled action and a min-heap of
 * per-conversation deadlines, so a tick costs O(due · log n) and a process with 10,000 sessions
 * holds one timer, not 10,000 (kcp-go's timed scheduler, docs/protocol.md#scheduling). Each
 * target's `flush` says when it wants to run again, as kcp-go's `update` re-schedules itself with
 * flush's result.
 *
 * All time comes from `scheduler.now()`; under `TestScheduler.run` the clock is virtual.
 * @module
 */
import { asyncScheduler, Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

/**
 * Something the clock drives: flushes at `now` (ms) and returns ms until it wants to run again,
 * or Infinity to sleep until `at` moves its deadline.
 */
export interface ClockTarget {
  flush(now: number): number;
  /** Called once for each `soon` request, in the clock's next action, before the due flushes. */
  soon?(now: number): void;
  /**
   * Told when its `flush` or `soon` threw: the clock has removed it by then, and every other
   * target keeps its schedule.
   */
  fail?(error: unknown): void;
}

/** A target's place in the clock; pass it back to `kick`, `at` or `remove`. */
export interface ClockEntry {
  readonly target: ClockTarget;
  /** When it is due (scheduler ms). */
  readonly due: number;
}

interface Slot extends ClockEntry {
  due: number;
  index: number; // position in the heap, -1 once removed
  seq: number; // registration order: targets due at the same time run in it
  queued: boolean; // in the soon list
}

export class Clock {
  private readonly heap: Slot[] = [];
  private action: Subscription | null = null;
  private armedFor = Infinity;
  private registered = 0;
  private soonList: Slot[] = [];
  private ticking = false;
  /** How many times the single action has run (for tests and stats). */
  ticks = 0;
  private lastTick = -Infinity;

  /**
   * When the action last ran (scheduler ms; -Infinity before the first): a target that slept knows
   * from it whether the tick of this very moment, which would have flushed it, has run already.
   */
  get lastTickAt(): number {
    return this.lastTick;
  }

  constructor(readonly scheduler: SchedulerLike = asyncScheduler) {}

  /** The scheduler's time in ms (not wrapped). KCP cores take it `>>> 0`. */
  now(): number {
    return this.scheduler.now();
  }

  /** Number of targets registered. */
  get size(): number {
    return this.heap.length;
  }

  /** Whether an action is scheduled (false once every target is removed). */
  get armed(): boolean {
    return this.action !== null;
  }

  /** Registers a target, first due at `due` (default: now). */
  add(target: ClockTarget, due = this.now()): ClockEntry {
    const slot: Slot = { target, due, index: this.heap.length, seq: this.registered++, queued: false };
    this.heap.push(slot);
    this.up(slot.index);
    this.arm();
    return slot;
  }

  /** Unregisters a target; the clock stops when none are left. */
  remove(entry: ClockEntry): void {
    const slot = entry as Slot;
    if (slot.index < 0) return;
    const last = this.heap.pop()!;
    if (last !== slot) {
      this.heap[slot.index] = last;
      last.index = slot.index;
      this.down(last.index);
      this.up(last.index);
    }
    slot.index = -1; // a pending soon() is skipped
    this.arm();
  }

  /** Moves a target's deadline (e.g. after a flush that input or a write triggered). */
  at(entry: ClockEntry, due: number): void {
    const slot = entry as Slot;
    if (slot.index < 0) return;
    slot.due = due;
    this.down(slot.index);
    this.up(slot.index);
    this.arm();
  }

  /**
   * Asks for `target.soon(now)` in the clock's next action, scheduled at once: work a target wants
   * done after what is being handled now (for example, every datagram a socket has ready) and
   * before its next flush. Idempotent until it runs.
   */
  soon(entry: ClockEntry): void {
    const slot = entry as Slot;
    if (slot.index < 0 || slot.queued) return;
    slot.queued = true;
    this.soonList.push(slot);
    this.arm();
  }

  /** When the action should run next: now if something is queued for `soon`, else the first deadline. */
  private wanted(): number {
    return this.soonList.length > 0 ? this.now() : (this.heap[0]?.due ?? Infinity);
  }

  private arm(): void {
    if (this.ticking) return; // the tick re-arms when it is done
    const due = this.wanted();
    if (due === Infinity) {
      // no targets, or every target sleeps until something wakes it with `at`
      this.action?.unsubscribe();
      this.action = null;
      this.armedFor = Infinity;
      return;
    }
    if (this.action !== null && this.armedFor <= due) return;
    this.action?.unsubscribe();
    this.armedFor = due;
    const self = this;
    this.action = this.scheduler.schedule(function tick(this: SchedulerAction<unknown>) {
      self.tick(this);
    }, Math.max(0, due - this.now()));
  }

  private tick(action: SchedulerAction<unknown>): void {
    this.ticks++;
    this.ticking = true;
    const now = this.now();
    this.lastTick = now;
    try {
      if (this.soonList.length > 0) {
        const list = this.soonList;
        this.soonList = [];
        for (const slot of list) {
          slot.queued = false;
          if (slot.index < 0) continue;
          try {
            slot.target.soon?.(now);
          } catch (e) {
            this.isolate(slot, e);
          }
        }
      }
      let first = this.heap[0];
      while (first !== undefined && first.due <= now) {
        let wait: number;
        try {
          wait = first.target.flush(now);
        } catch (e) {
          this.isolate(first, e);
          first = this.heap[0];
          continue;
        }
        if (first.index >= 0) {
          first.due = now + Math.max(1, wait);
          this.down(first.index);
        }
        first = this.heap[0];
      }
    } finally {
      this.ticking = false;
    }
    const next = this.wanted();
    if (next === Infinity) {
      this.action = null;
      this.armedFor = Infinity;
      return;
    }
    // re-arm the same action, as rxjs's own timers do
    this.armedFor = next;
    this.action = action.schedule(undefined, Math.max(0, next - now));
  }

  /** A target that threw leaves the clock and is told; the others are not affected. */
  private isolate(slot: Slot, error: unknown): void {
    this.remove(slot);
    try {
      slot.target.fail?.(error);
    } catch {
      // a target that cannot even fail is already off the clock
    }
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    a.index = j;
    b.index = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
