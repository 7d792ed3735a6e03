/**
 * kcp-go's FEC encoder (fec.go `fecEncoder.encode` of later kcp-go; docs/protocol.md#fec-encoder)
 * over datagram bodies (what sits inside the crypto layer): every KCP datagram becomes a data shard
 * `seqid | F1 00 | size | kcp`; after `dataShards` of them, `parityShards` parity bodies
 * `seqid | F2 00 | parity` follow, computed over the zero-padded `size + kcp` parts. Parity is
 * skipped (seqids still advance) when the last two data packets were ≥ 500 ms apart.
 * @module
 */
import type { Sink } from '../sink.js';
import type { Snmp } from '../stats.js';
import { writeU16, writeU32 } from '../wire/bytes.js';
import { claimRoom, markRoom, takeBytes } from '../wire/slab.js';
import { fecHeaderSize, fecHeaderSizePlus2, mtuLimit, typeData, typeParity } from '../wire/constants.js';
import { assertFecOptions, type FecOptions } from './fec-options.js';
import { pawsOf } from './fec-packet.js';
import { ReedSolomon } from './reed-solomon.js';

/** kcp-go's `maxFECEncodeLatency` (sess.go): a longer gap inside a group skips its parity (ms). */
export const maxFECEncodeLatency = 500;

/**
 * Room a caller may ask for in front of every body: more than the layers after FEC write (nonce 16
 * + CRC 4 bytes), small enough that a mistaken value is caught.
 */
const MAX_HEADROOM = 256;

/** How a `FecEncoder` starts and lays out what it allocates. */
export interface FecEncoderOptions {
  /** First seqid (default 0, as every kcp-go peer); for tests of the wrap at paws. */
  startSeqid?: number;
  /**
   * Bytes left free in front of every body this encoder allocates (views at that offset), for a
   * layer after it that writes its header there (`addCrcHeader` in place). Default 0.
   * @internal
   */
  headroom?: number;
}

export class FecEncoder {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly shardSize: number;
  readonly paws: number;
  private next: number;
  private shardCount = 0;
  /** Longest body of the group so far (bytes, header included). */
  private maxSize = 0;
  private tsLatestPacket: number | undefined;
  private readonly codec: ReedSolomon;
  /** Scratch: the group's `size + kcp` parts, zero-padded before coding, and the parity out. */
  private readonly data: Uint8Array[];
  private readonly lens: number[];
  private readonly parity: Uint8Array[];

  /** See `FecEncoderOptions.headroom`. */
  private readonly headroom: number;

  /**
   * @param options The group geometry.
   * @param stats Counters to increment.
   * @param setup Where the seqids start, and the room left in front of each body (see `FecEncoderOptions`).
   */
  constructor(
    options: FecOptions,
    private readonly stats: Snmp,
    setup: FecEncoderOptions = {}
  ) {
    if (setup === null || typeof setup !== 'object') {
      throw new TypeError(`fec: FecEncoder takes (options, stats, { startSeqid, headroom }), got ${String(setup)} as its third argument`);
    }
    const { startSeqid = 0, headroom = 0 } = setup;
    if (!Number.isInteger(headroom) || headroom < 0 || headroom > MAX_HEADROOM) throw new RangeError(`fec: headroom must be 0..${MAX_HEADROOM}, got ${String(headroom)}`);
    this.headroom = headroom;
    assertFecOptions(options);
    this.dataShards = options.dataShards;
    this.parityShards = options.parityShards;
    this.shardSize = this.dataShards + this.parityShards;
    this.paws = pawsOf(this.shardSize);
    if (!Number.isInteger(startSeqid) || startSeqid < 0 || startSeqid >= this.paws) {
      throw new RangeError(`fec: startSeqid must be 0..${this.paws - 1}, got ${startSeqid}`);
    }
    this.next = startSeqid;
    this.codec = new ReedSolomon(this.dataShards, this.parityShards);
    this.data = Array.from({ length: this.dataShards }, () => new Uint8Array(mtuLimit));
    this.lens = new Array<number>(this.dataShards).fill(0);
    this.parity = Array.from({ length: this.parityShards }, () => new Uint8Array(mtuLimit));
  }

  /**
   * Wraps one KCP datagram as a data shard (emitted at once), then the group's parity if it
   * completed. With `inPlace`, `kcp` is this encoder's to use: when its maker marked at least 8
   * free bytes in front of it (`markRoom`, claimed once) the header is written there and the body
   * emitted is a view over the same memory, wider by the header; otherwise the body is a new
   * array. Every body is marked with the room left in front of it, for an in-place CRC header.
   */
  encode(kcp: Uint8Array, now: number, out: Sink<Uint8Array>, inPlace = false): void {
    const n = kcp.length;
    let body: Uint8Array;
    const room = inPlace ? claimRoom(kcp) : 0;
    if (room >= fecHeaderSizePlus2) body = new Uint8Array(kcp.buffer, kcp.byteOffset - fecHeaderSizePlus2, fecHeaderSizePlus2 + n);
    else {
      body = this.allocate(fecHeaderSizePlus2 + n);
      body.set(kcp, fecHeaderSizePlus2);
    }
    writeU32(body, 0, this.next);
    writeU16(body, 4, typeData);
    writeU16(body, 6, n + 2); // counts itself
    this.next = (this.next + 1) % this.paws;

    const shard = this.data[this.shardCount]!;
    const len = n + 2;
    shard[0] = len & 0xff;
    shard[1] = len >>> 8;
    shard.set(kcp, 2);
    this.lens[this.shardCount] = len;
    this.shardCount++;
    if (body.length > this.maxSize) this.maxSize = body.length;
    if (room >= fecHeaderSizePlus2) markRoom(body, room - fecHeaderSizePlus2);
    else if (this.headroom > 0) markRoom(body, this.headroom);
    out.next(body);

    if (this.shardCount === this.dataShards) {
      const last = this.tsLatestPacket ?? now;
      if (((now - last) | 0) < maxFECEncodeLatency) this.emitParity(out);
      else this.next = (this.next + this.parityShards) % this.paws; // keep the groups aligned
      this.shardCount = 0;
      this.maxSize = 0;
    }
    this.tsLatestPacket = now >>> 0;
  }

  /** A new zeroed body of `n` bytes with `headroom` free bytes in front of it. */
  private allocate(n: number): Uint8Array {
    const room = this.headroom;
    return room === 0 ? takeBytes(n) : takeBytes(room + n).subarray(room);
  }

  private emitParity(out: Sink<Uint8Array>): void {
    const len = this.maxSize - fecHeaderSize;
    for (let i = 0; i < this.dataShards; i++) this.data[i]!.fill(0, this.lens[i]!, len);
    this.codec.encode(this.data, this.parity, len);
    for (let j = 0; j < this.parityShards; j++) {
      const body = this.allocate(fecHeaderSize + len);
      writeU32(body, 0, this.next);
      writeU16(body, 4, typeParity);
      body.set(this.parity[j]!.subarray(0, len), fecHeaderSize);
      this.next = (this.next + 1) % this.paws;
      if (this.headroom > 0) markRoom(body, this.headroom);
      out.next(body);
    }
  }
}
