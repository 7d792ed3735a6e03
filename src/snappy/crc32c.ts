/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and the masked form the snappy framing
 * format stores with every chunk: `rotr15(crc) + 0xa282ead8`, little-endian, over the
 * uncompressed bytes. Portable slicing-by-8.
 * @module
 */
import { crcSliced, crcTables } from '../wire/crc32.js';

const CASTAGNOLI = crcTables(0x82f63b78);

/** CRC-32C of `data[start..end)` as a uint32. */
export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  return crcSliced(CASTAGNOLI, data, start, end);
}

/** The snappy framing checksum of `data[start..end)`: CRC-32C rotated right by 15 plus 0xa282ead8. */
export function maskedCrc32c(data: Uint8Array, start = 0, end = data.length): number {
  const c = crc32c(data, start, end);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}
