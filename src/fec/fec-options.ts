/** FEC group geometry: `dataShards` data packets protected by `parityShards` parity packets. */
export interface FecOptions {
  dataShards: number;
  parityShards: number;
}

/**
 * Checks FEC options; throws TypeError/RangeError naming the bad field (limits in
 * docs/protocol.md#reed-solomon).
 */
export function assertFecOptions(o: FecOptions): void {
  if (o === null || typeof o !== 'object') throw new TypeError('fec: options must be an object');
  for (const k of ['dataShards', 'parityShards'] as const) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`fec: ${k} must be an integer, got ${String(v)}`);
    if (v < 1 || v > 255) throw new RangeError(`fec: ${k} must be 1..255, got ${v}`);
  }
  if (o.dataShards + o.parityShards > 256) {
    throw new RangeError(`fec: dataShards + parityShards must be ≤ 256, got ${o.dataShards + o.parityShards}`);
  }
}
