/**
 * CRC-32 (IEEE 802.3, reflected 0xEDB88320), as Go's `crc32.ChecksumIEEE` and zlib's `crc32`:
 * kcp-go stores it little-endian at datagram bytes 16..20 over bytes 20..end
 * (docs/protocol.md#crc). Portable slicing-by-8; on Node, `rxkcp/node` offers `zlib.crc32`, several
 * times faster.
 * @module
 */

/** A CRC-32 function: the IEEE checksum of `data` as a uint32. */
export type Crc32 = (data: Uint8Array) => number;

/** Slicing-by-8 tables (8 × 256 entries) for a reflected CRC-32 polynomial. */
export function crcTables(poly: number): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? poly ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return t;
}

/** The reflected CRC-32 of `data[start..end)` with tables from `crcTables`, as a uint32. */
export function crcSliced(T: Uint32Array, data: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + data[i + 4]!]! ^
      T[512 + data[i + 5]!]! ^
      T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const IEEE = crcTables(0xedb88320);

/** IEEE CRC-32 of `data`, portable (slicing-by-8 tables). */
export const crc32: Crc32 = (data) => crcSliced(IEEE, data, 0, data.length);
