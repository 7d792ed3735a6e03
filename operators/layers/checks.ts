/** Option checks shared by the operators: they throw when a pipeline is built, naming the layer. */
import type { PacketCrypt } from '../../src/crypt/crypt.js';

export function assertCrypt(layer: string, crypt: PacketCrypt): void {
  if (crypt === null || typeof crypt !== 'object' || !['framed', 'aead', 'null'].includes((crypt as { kind?: string }).kind ?? '')) {
    throw new TypeError(`${layer}: crypt must come from createCrypt or createNodeCrypt`);
  }
}

export function assertRate(layer: string, name: string, v: number, min = 0): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= min) {
    throw new RangeError(`${layer}: ${name} must be a finite number > ${min}, got ${String(v)}`);
  }
}

/**
 * Whether an operator's first argument is its options object (RxJS 7 style, `decrypt({ crypt })`)
 * rather than the first positional argument: a plain object carrying one of `keys` and none of
 * the positional value's own fields (`kind` of a crypt, `dataShards` of FEC options).
 */
export function isOptionsBag<T extends object>(a: unknown, keys: readonly string[]): a is T {
  if (a === null || typeof a !== 'object') return false;
  if ('kind' in a || 'dataShards' in a) return false;
  return keys.some((k) => k in a) || Object.keys(a).length === 0;
}
