/**
 * smux frames (github.com/xtaci/smux, versions 1 and 2), as kcptun multiplexes TCP connections
 * over one KCP session:
 *
 *   version (1) ‖ cmd (1) ‖ length (2, LE) ‖ stream id (4, LE) ‖ data (length bytes)
 *
 *   SYN 0  open a stream              FIN 1  end of the sender's data on a stream
 *   PSH 2  data                       NOP 3  keepalive, stream id 0
 *   UPD 4  (version 2) flow control: consumed (4, LE) ‖ window (4, LE), always 8 bytes
 *
 * Clients open odd stream ids (3, 5, ...), servers even ones (2, 4, ...).
 * @module
 */
import type { Sink } from '../sink.js';

export const SMUX_HEADER_SIZE = 8;
export const CMD_SYN = 0;
export const CMD_FIN = 1;
export const CMD_PSH = 2;
export const CMD_NOP = 3;
export const CMD_UPD = 4;
/** Payload size of an UPD frame. */
export const UPD_SIZE = 8;
/** The largest payload a frame can carry (the length field is 16 bits). */
export const SMUX_MAX_PAYLOAD = 65535;

export const SMUX_COMMAND_NAMES = ['SYN', 'FIN', 'PSH', 'NOP', 'UPD'] as const;

/** A parsed frame; `data` is a view the receiver may keep. */
export interface SmuxFrame {
  version: number;
  cmd: number;
  sid: number;
  data: Uint8Array;
}

/** Writes a header into `dst` at `o`. */
export function writeSmuxHeader(dst: Uint8Array, o: number, version: number, cmd: number, length: number, sid: number): void {
  dst[o] = version;
  dst[o + 1] = cmd;
  dst[o + 2] = length & 0xff;
  dst[o + 3] = length >>> 8;
  dst[o + 4] = sid & 0xff;
  dst[o + 5] = (sid >>> 8) & 0xff;
  dst[o + 6] = (sid >>> 16) & 0xff;
  dst[o + 7] = sid >>> 24;
}

/** One frame as bytes. Throws `RangeError` for a payload over 65535 bytes. */
export function encodeSmuxFrame(version: number, cmd: number, sid: number, data?: Uint8Array): Uint8Array {
  const n = data?.length ?? 0;
  if (n > SMUX_MAX_PAYLOAD) throw new RangeError(`smux: frame payload of ${n} bytes, at most ${SMUX_MAX_PAYLOAD}`);
  const out = new Uint8Array(SMUX_HEADER_SIZE + n);
  writeSmuxHeader(out, 0, version, cmd, n, sid);
  if (data && n > 0) out.set(data, SMUX_HEADER_SIZE);
  return out;
}

/** The payload of an UPD frame. */
export function encodeUpd(consumed: number, window: number): Uint8Array {
  const b = new Uint8Array(UPD_SIZE);
  b[0] = consumed & 0xff;
  b[1] = (consumed >>> 8) & 0xff;
  b[2] = (consumed >>> 16) & 0xff;
  b[3] = consumed >>> 24;
  b[4] = window & 0xff;
  b[5] = (window >>> 8) & 0xff;
  b[6] = (window >>> 16) & 0xff;
  b[7] = window >>> 24;
  return b;
}

/**
 * Cuts a byte stream into frames, whatever the pieces it arrives in. Only the length decides
 * where a frame ends: whether the frame makes sense is the mux's business. Frames that fit in one
 * piece are views of it; others are gathered into a new array.
 */
export class SmuxFrameReader {
  private readonly header = new Uint8Array(SMUX_HEADER_SIZE);
  private headerFill = 0;
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private version = 0;
  private cmd = 0;
  private sid = 0;

  /** True between frames. */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.body === null;
  }

  /** Parses `data`, handing each complete frame to `out`. */
  push(data: Uint8Array, out: Sink<SmuxFrame>): void {
    let i = 0;
    const n = data.length;
    while (i < n) {
      if (this.body !== null) {
        const take = Math.min(n - i, this.body.length - this.bodyFill);
        this.body.set(data.subarray(i, i + take), this.bodyFill);
        this.bodyFill += take;
        i += take;
        if (this.bodyFill < this.body.length) return;
        const body = this.body;
        this.body = null;
        out.next({ version: this.version, cmd: this.cmd, sid: this.sid, data: body });
        continue;
      }
      let h: Uint8Array;
      let o: number;
      if (this.headerFill === 0 && n - i >= SMUX_HEADER_SIZE) {
        h = data;
        o = i;
        i += SMUX_HEADER_SIZE;
      } else {
        while (this.headerFill < SMUX_HEADER_SIZE && i < n) this.header[this.headerFill++] = data[i++]!;
        if (this.headerFill < SMUX_HEADER_SIZE) return;
        this.headerFill = 0;
        h = this.header;
        o = 0;
      }
      const version = h[o]!;
      const cmd = h[o + 1]!;
      const length = h[o + 2]! | (h[o + 3]! << 8);
      const sid = (h[o + 4]! | (h[o + 5]! << 8) | (h[o + 6]! << 16) | (h[o + 7]! << 24)) >>> 0;
      if (n - i >= length) {
        const body = data.subarray(i, i + length);
        i += length;
        out.next({ version, cmd, sid, data: body });
      } else {
        this.version = version;
        this.cmd = cmd;
        this.sid = sid;
        this.body = new Uint8Array(length);
        this.bodyFill = 0;
      }
    }
  }
}
