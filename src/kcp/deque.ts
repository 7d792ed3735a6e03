/**
 * An array-backed FIFO with O(1) amortised `shift`, for KCP's queues (snd_queue, snd_buf,
 * rcv_queue). Elements stay addressable by index from the head, which the flush scan needs.
 * @module
 */
export class Deque<T> {
  /** Backing store: live elements are `items[head .. items.length)`. Exposed for hot loops. */
  items: (T | undefined)[] = [];
  head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The element `i` places from the head (0 = head). No bounds check. */
  at(i: number): T {
    return this.items[this.head + i] as T;
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  last(): T | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes the first `n` elements. */
  drop(n: number): void {
    for (let i = 0; i < n; i++) this.shift();
  }

  clear(): void {
    this.items.length = 0;
    this.head = 0;
  }
}
