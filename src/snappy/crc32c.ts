/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and the masked form the snappy framing
 * format stores with every chunk: `rotr15(crc) + 0xa282ead8`, little-endian, over the
 * uncompressed bytes. Portable slicing-by-8.
 * @module
 */

// prettier-ignore
const T = ((): Uint32Array => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
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
})();

/** CRC-32C of `data[start..end)` as a uint32. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
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

/** The snappy framing checksum of `data[start..end)`: CRC-32C rotated right by 15 plus 0xa282ead8. */
export function maskedCrc32c(data: Uint8Array, start = 0, end = data.length): number {
  const c = crc32c(data, start, end);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}
