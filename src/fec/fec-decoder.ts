/**
 * kcp-go's FEC decoder (fec.go `fecDecoder.decode` of later kcp-go; docs/protocol.md#fec-decoder):
 * shards are kept per group (`seqid / shardSize`) within a window of 3 groups; when a group holds
 * `dataShards` packets, the missing data shards are rebuilt and handed on, trimmed by their size
 * field. A peer whose geometry differs is detected from the F1/F2 pattern (autotune) and followed.
 *
 * Direct data shards are not emitted here: the caller feeds `body.subarray(8)` to KCP itself,
 * before decoding, as kcp-go does (docs/protocol.md#fec-input).
 * @module
 */
import type { Sink } from '../sink.js';
import type { Snmp } from '../stats.js';
import { readU16, readU32 } from '../wire/bytes.js';
import { fecHeaderSize, typeData } from '../wire/constants.js';
import { AutoTune } from './autotune.js';
import { assertFecOptions, type FecOptions } from './fec-options.js';
import { pawsOf } from './fec-packet.js';
import { ReedSolomon } from './reed-solomon.js';

/**
 * KCP bytes rebuilt by FEC. The KCP input layer feeds these as kcp-go's IKCP_PACKET_FEC: they do
 * not update the remote window or sample the RTT.
 */
export class RecoveredPacket extends Uint8Array {}

/** kcp-go's `maxShardSets`: groups older than this many behind the newest are discarded. */
const maxShardSets = 3;

interface ShardSet {
  /** seqid → the shard's bytes after the 6-byte header (size+kcp, or parity). */
  packets: Map<number, Uint8Array>;
}

export class FecDecoder {
  private ds: number;
  private ps: number;
  private shardSize: number;
  private paws: number;
  private codec: ReedSolomon;
  private readonly sets = new Map<number, ShardSet>();
  /** Groups already decoded (or found whole) and still inside the window: their late shards are ignored. */
  private readonly done = new Set<number>();
  private newestShardId = 0;
  private shouldTune = false;
  private readonly autotune = new AutoTune();

  /**
   * @param options The geometry to expect, or null to start at (1, 1) and adapt to the peer, as a
   *   kcp-go session without local FEC does when FEC packets arrive.
   */
  constructor(
    options: FecOptions | null,
    private readonly stats: Snmp
  ) {
    const o = options ?? { dataShards: 1, parityShards: 1 };
    assertFecOptions(o);
    this.ds = o.dataShards;
    this.ps = o.parityShards;
    this.shardSize = this.ds + this.ps;
    this.paws = pawsOf(this.shardSize);
    this.codec = new ReedSolomon(this.ds, this.ps);
  }

  /** The geometry in use (after any autotune). */
  get options(): FecOptions {
    return { dataShards: this.ds, parityShards: this.ps };
  }

  /**
   * Takes one F1/F2 body (starting at the FEC header) and writes the KCP bytes of any data shards
   * it lets us rebuild to `out`, as `RecoveredPacket`s. Never throws on wire data. With `keep`, the
   * caller gives the body's memory to the decoder, which may hold a view of it until its group is
   * decoded or dropped, instead of a copy: no one may change those bytes afterwards.
   */
  decode(body: Uint8Array, out: Sink<Uint8Array>, keep = false): void {
    if (body.length < fecHeaderSize) {
      this.stats.InErrs++;
      return;
    }
    const seqid = readU32(body, 0);
    const isData = readU16(body, 4) === typeData;
    this.autotune.sample(isData, seqid);
    if (seqid >= this.paws) return;
    if ((seqid % this.shardSize < this.ds) !== isData) this.shouldTune = true;
    if (this.shouldTune) {
      this.tune();
      return; // this packet is not stored
    }

    const shardId = Math.floor(seqid / this.shardSize);
    // DIVERGES(kcp-go): kcp-go frees a group once decoded, so its late shards start it again,
    // and together with shards of a restarted peer (whose seqids begin again at 0) they can be
    // rebuilt into a segment nobody sent; a decoded group stays closed while it is in the window
    if (!isData) this.stats.FECParityShards++; // every parity shard received, as kcp-go counts them
    if (this.done.has(shardId)) return;
    let set = this.sets.get(shardId);
    if (set === undefined) {
      set = { packets: new Map() };
      this.sets.set(shardId, set);
    }
    if (!set.packets.has(seqid)) {
      set.packets.set(seqid, keep ? body.subarray(fecHeaderSize) : body.slice(fecHeaderSize));
      if (set.packets.size >= this.ds) {
        this.sets.delete(shardId);
        this.done.add(shardId);
        this.decodeSet(set, out);
      }
    }

    const ss = this.shardSize;
    if (((Math.imul(shardId, ss) - Math.imul(this.newestShardId, ss)) | 0) > 0) this.newestShardId = shardId;
    const newest = Math.imul(this.newestShardId, ss);
    for (const id of this.sets.keys()) {
      if (((newest - Math.imul(id, ss)) | 0) > maxShardSets * ss) this.sets.delete(id);
    }
    for (const id of this.done) {
      if (((newest - Math.imul(id, ss)) | 0) > maxShardSets * ss) this.done.delete(id);
    }
    this.stats.FECShardSet = this.sets.size;
    this.stats.FECShardMin = this.newestShardId;
  }

  private tune(): void {
    const ds = this.autotune.findPeriod(true);
    const ps = this.autotune.findPeriod(false);
    if (ds <= 0 || ps <= 0 || ds + ps >= 256) return; // keep sampling until it can tell
    if (ds !== this.ds || ps !== this.ps) {
      this.ds = ds;
      this.ps = ps;
      this.shardSize = ds + ps;
      this.paws = pawsOf(this.shardSize);
      this.codec = new ReedSolomon(ds, ps);
      this.sets.clear();
      this.done.clear();
    }
    this.shouldTune = false;
  }

  private decodeSet(set: ShardSet, out: Sink<Uint8Array>): void {
    const shards: (Uint8Array | null)[] = new Array<Uint8Array | null>(this.shardSize).fill(null);
    let maxlen = 0;
    let dataPresent = 0;
    for (const [seqid, bytes] of set.packets) {
      const i = seqid % this.shardSize;
      shards[i] = bytes;
      if (i < this.ds) dataPresent++;
      if (bytes.length > maxlen) maxlen = bytes.length;
    }
    set.packets.clear();
    if (dataPresent === this.ds) {
      this.stats.FECFullShardSet++;
      return;
    }
    for (let i = 0; i < shards.length; i++) {
      const s = shards[i];
      if (s && s.length < maxlen) {
        const padded = new Uint8Array(maxlen);
        padded.set(s);
        shards[i] = padded;
      }
    }
    const rebuilt = this.codec.reconstructData(shards, maxlen);
    if (rebuilt === null) {
      this.stats.FECErrs++;
      return;
    }
    this.stats.FECRecovered += rebuilt.length;
    for (const i of rebuilt) {
      const r = shards[i]!;
      if (r.length < 2) continue;
      const sz = readU16(r, 0);
      if (sz < 2 || sz > r.length) continue; // a bad size field: ignored, as kcp-go does
      out.next(new RecoveredPacket(r.buffer as ArrayBuffer, r.byteOffset + 2, sz - 2));
    }
  }
}
