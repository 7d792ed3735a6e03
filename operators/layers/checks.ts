/** Option checks shared by the operators: they throw when a pipeline is built, naming the layer. */
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { Kcp } from '../../src/kcp/kcp.js';

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
 * Checks that an operator was given its one options object (`decrypt({ crypt })`): a crypt, FEC
 * geometry or KCP core passed in its place (a field `kind` or `dataShards`, a `Kcp`), or anything
 * not an object, throws naming the form the operator takes.
 */
export function assertLayerOptions(layer: string, a: unknown, form: string): void {
  if (a === null || typeof a !== 'object' || a instanceof Kcp || 'kind' in a || 'dataShards' in a) {
    throw new TypeError(`${layer} takes one options object: ${layer}(${form})`);
  }
}
