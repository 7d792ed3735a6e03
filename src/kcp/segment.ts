/**
 * The KCP segment and its 24-byte little-endian header (kcp.go `segment.encode`;
 * docs/protocol.md#kcp-segment):
 *
 *     0      4     5     6     8      12     16     20     24
 *     | conv | cmd | frg | wnd | ts   | sn   | una  | len  | data...
 * @module
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { IKCP_OVERHEAD } from './constants.js';

/** One KCP segment, with the sender-side bookkeeping kcp-go keeps beside it. */
export class Segment {
  conv = 0;
  cmd = 0;
  frg = 0;
  wnd = 0;
  ts = 0;
  sn = 0;
  una = 0;
  /** Current retransmission timeout of this segment (ms). */
  rto = 0;
  /** Transmissions so far. */
  xmit = 0;
  /** When it is due for retransmission (uint32 ms). */
  resendts = 0;
  /** ACKs seen for later segments; 0xFFFFFFFF locks out fast/early retransmit until an RTO. */
  fastack = 0;
  /** Selectively acknowledged, waiting for una to pass it. */
  acked = false;
  /** Payload bytes are `data[0 .. len)`; `data` may be longer (stream mode grows into it). */
  data: Uint8Array;
  len: number;

  constructor(data: Uint8Array, len = data.length) {
    this.data = data;
    this.len = len;
  }
}

/** A decoded segment header (the payload stays in the datagram). */
export interface SegmentHeader {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
}

/** Writes a 24-byte header at `off`; returns the offset after it. */
export function encodeHeader(
  b: Uint8Array,
  off: number,
  conv: number,
  cmd: number,
  frg: number,
  wnd: number,
  ts: number,
  sn: number,
  una: number,
  len: number
): number {
  writeU32(b, off, conv);
  b[off + 4] = cmd;
  b[off + 5] = frg;
  writeU16(b, off + 6, wnd);
  writeU32(b, off + 8, ts);
  writeU32(b, off + 12, sn);
  writeU32(b, off + 16, una);
  writeU32(b, off + 20, len);
  return off + IKCP_OVERHEAD;
}

/** Reads the header at `off` (the caller checks 24 bytes are there). */
export function decodeHeader(b: Uint8Array, off: number): SegmentHeader {
  return {
    conv: readU32(b, off),
    cmd: b[off + 4]!,
    frg: b[off + 5]!,
    wnd: readU16(b, off + 6),
    ts: readU32(b, off + 8),
    sn: readU32(b, off + 12),
    una: readU32(b, off + 16),
    len: readU32(b, off + 20),
  };
}

/**
 * Splits a datagram of packed KCP segments into headers and payload views. Stops at a short tail,
 * as kcp-go's input loop does; returns null if a segment claims more bytes than remain.
 */
export function decodeSegments(
  datagram: Uint8Array
): { header: SegmentHeader; data: Uint8Array }[] | null {
  const out: { header: SegmentHeader; data: Uint8Array }[] = [];
  let off = 0;
  while (datagram.length - off >= IKCP_OVERHEAD) {
    const header = decodeHeader(datagram, off);
    off += IKCP_OVERHEAD;
    if (datagram.length - off < header.len) return null;
    out.push({ header, data: datagram.subarray(off, off + header.len) });
    off += header.len;
  }
  return out;
}

/** Encodes a header and payload into one new array (for tests and tools). */
export function encodeSegment(h: Omit<SegmentHeader, 'len'>, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(IKCP_OVERHEAD + data.length);
  encodeHeader(out, 0, h.conv, h.cmd, h.frg, h.wnd, h.ts, h.sn, h.una, data.length);
  out.set(data, IKCP_OVERHEAD);
  return out;
}
