/**
 * Hands out byte arrays as disjoint views of larger shared allocations. A typed array of 1.4 KB
 * costs about 0.5 µs to allocate (its memory lives outside the JavaScript heap and is counted
 * against it); a view of a 16 KiB slab costs about 0.15 µs, the slab's own allocation shared by
 * about ten datagrams. Every view is fresh, zeroed memory that no other view overlaps, so whoever
 * receives one owns its bytes; a view keeps its whole slab alive while it lives, which is why slabs
 * stay small.
 * @module
 */

/** Bytes per slab. */
export const SLAB_SIZE = 16 * 1024;

/**
 * One bump allocator over slabs. Two are kept: one for arrays handed downstream (datagrams) and one
 * for what a core keeps for itself (segment payloads), so a receiver that transfers or detaches a
 * datagram's `buffer` (postMessage with a transfer list) takes only other datagrams' memory with
 * it, never what a core still needs; a detached slab is left behind and a new one started.
 */
class Arena {
  private slab = new Uint8Array(SLAB_SIZE);
  private used = 0;

  take(n: number): Uint8Array {
    if (n > SLAB_SIZE >>> 2) return new Uint8Array(n);
    // byteLength reads 0 once the slab's buffer was detached
    if (this.used + n > SLAB_SIZE || this.slab.byteLength === 0) {
      this.slab = new Uint8Array(SLAB_SIZE);
      this.used = 0;
    }
    const view = this.slab.subarray(this.used, this.used + n);
    this.used = (this.used + n + 7) & ~7;
    return view;
  }
}

const wire = new Arena();
const held = new Arena();

/** A new zeroed array of `n` bytes to hand downstream, a view at an 8-byte aligned offset of a shared slab. */
export function takeBytes(n: number): Uint8Array {
  return wire.take(n);
}

/** As `takeBytes`, for bytes a core keeps (segment payloads), from slabs no datagram shares. */
export function takeHeldBytes(n: number): Uint8Array {
  return held.take(n);
}

/** A copy of `src[start..end)` in memory from `takeHeldBytes`, for a core to keep. */
export function copyHeldBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = held.take(end - start);
  out.set(src.subarray(start, end));
  return out;
}

/** A copy of `src[start..end)` in memory from `takeBytes`. */
export function copyBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = takeBytes(end - start);
  out.set(src.subarray(start, end));
  return out;
}

/**
 * Free bytes in front of an array, vouched for by whoever made it: the KCP core and the FEC encoder
 * mark each datagram they allocate with room (`markRoom`) right before handing it on, and an
 * in-place layer claims that room (`claimRoom`) for its header. Only the array marked last is
 * remembered and a claim forgets it, so the room of an array can be used once, and only by a
 * layer that runs synchronously after its maker; any other array (one a caller made, one handed on
 * later, a view into someone else's memory) has no room and is copied. In-place writing therefore
 * never reaches bytes in front of a view that nobody set aside for it.
 */
let marked: Uint8Array | null = null;
let markedRoom = 0;

/** Records that the `room` bytes in front of `view` are free for the next layer. */
export function markRoom(view: Uint8Array, room: number): void {
  marked = view;
  markedRoom = room;
}

/** The free bytes in front of `view` if it is the array marked last (forgetting the mark), else 0. */
export function claimRoom(view: Uint8Array): number {
  if (view !== marked) return 0;
  marked = null;
  return markedRoom;
}
