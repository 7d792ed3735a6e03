/**
 * An opt-in anti-replay filter for AEAD datagrams (kcp-go has none). kcp-go's AEAD nonces are
 * 12 random bytes, not a counter, so the window is the set of the last `size` nonces accepted:
 * a datagram whose nonce is among them is a replay and is dropped (counted in `ReplayDrops`).
 *
 * What it protects: an on-path attacker re-sending captured datagrams within the window — e.g.
 * replayed OOB messages reaching the application twice, or replays used to inflate a session's
 * work. What it does not: replays older than the window (KCP itself discards stale segments),
 * CFB-family ciphers (their nonce is inside the encryption and nothing authenticates it), or
 * forged datagrams (that is the AEAD tag's job). Memory: about 60 bytes per remembered nonce.
 * @module
 */
export class ReplayWindow {
  private readonly seen = new Set<string>();
  private readonly order: string[];
  private next = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1 << 22) throw new RangeError(`antiReplay: window must be 1..${1 << 22} nonces, got ${size}`);
    this.order = new Array<string>(size).fill('');
  }

  /** Records the nonce; false if it was already within the window (a replay). */
  accept(nonce: Uint8Array): boolean {
    let key = '';
    for (let i = 0; i < nonce.length; i++) key += String.fromCharCode(nonce[i]!);
    if (this.seen.has(key)) return false;
    const evicted = this.order[this.next]!;
    if (evicted !== '') this.seen.delete(evicted);
    this.order[this.next] = key;
    this.next = (this.next + 1) % this.size;
    this.seen.add(key);
    return true;
  }
}
