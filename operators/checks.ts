/** Option checks shared by the operators: they throw when a pipeline is built, naming the layer. */
import type { PacketCrypt } from '../src/crypt/crypt.js';

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
