/**
 * Detects a peer's (dataShards, parityShards) from the pattern of data and parity seqids
 * (autotune.go of later kcp-go; docs/protocol.md#autotune): the last 258 samples, sorted by seqid,
 * must be consecutive; the period of a kind is the length of its first complete run.
 * @module
 */
const MAX_SAMPLES = 258;

export class AutoTune {
  private readonly bits: boolean[] = [];
  private readonly seqs: number[] = [];
  private head = 0; // oldest sample once the ring is full

  /** Records one packet: `isData` for F1, false for F2. */
  sample(isData: boolean, seqid: number): void {
    if (this.bits.length < MAX_SAMPLES) {
      this.bits.push(isData);
      this.seqs.push(seqid >>> 0);
    } else {
      this.bits[this.head] = isData;
      this.seqs[this.head] = seqid >>> 0;
      this.head = (this.head + 1) % MAX_SAMPLES;
    }
  }

  /** Forgets the oldest sample. */
  pop(): void {
    if (this.bits.length === 0) return;
    if (this.bits.length < MAX_SAMPLES) {
      this.bits.shift();
      this.seqs.shift();
    } else {
      // unroll the ring into order, then drop the first
      const order = [...this.bits.keys()].map((i) => (this.head + i) % MAX_SAMPLES);
      const bits = order.map((i) => this.bits[i]!);
      const seqs = order.map((i) => this.seqs[i]!);
      bits.shift();
      seqs.shift();
      this.bits.splice(0, this.bits.length, ...bits);
      this.seqs.splice(0, this.seqs.length, ...seqs);
      this.head = 0;
    }
  }

  /** Run length of `isData` packets in the window, or -1 if it cannot be told. */
  findPeriod(isData: boolean): number {
    const n = this.bits.length;
    if (n < 3) return -1;
    const idx = [...Array(n).keys()].sort((a, b) => ((this.seqs[a]! - this.seqs[b]!) | 0) || a - b);
    for (let i = 1; i < n; i++) {
      if (((this.seqs[idx[i - 1]!]! + 1) >>> 0) !== this.seqs[idx[i]!]) return -1; // a gap: can't tell
    }
    let left = -1;
    for (let i = 1; i < n; i++) {
      if (this.bits[idx[i - 1]!] !== isData && this.bits[idx[i]!] === isData) {
        left = i;
        break;
      }
    }
    if (left < 0) return -1;
    for (let i = left + 1; i < n; i++) {
      if (this.bits[idx[i - 1]!] === isData && this.bits[idx[i]!] !== isData) return i - left;
    }
    return -1;
  }
}
