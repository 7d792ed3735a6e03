/**
 * Items waiting for a time: a binary min-heap by due time, ties in the order they were added.
 * What a simulated link (`LossyLink`) and the UDP relay hold in flight.
 * @module
 */
interface Entry<T> {
  due: number;
  order: number;
  item: T;
}

export class DueQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private order = 0;

  /** Items waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** The earliest due time, or undefined when empty. */
  peekDue(): number | undefined {
    return this.heap.length > 0 ? this.heap[0]!.due : undefined;
  }

  /** Adds `item`, due at `due`. */
  push(item: T, due: number): void {
    const h = this.heap;
    h.push({ due, order: this.order++, item });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Takes the earliest item (the first added among equals). The queue must not be empty. */
  pop(): T {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top.item;
  }

  /** Drops everything. */
  clear(): void {
    this.heap.length = 0;
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}
