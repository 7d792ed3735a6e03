/**
 * The FEC header inside the crypto layer (docs/protocol.md#fec-header): `seqid u32 | type u16 |
 * size u16 (data and OOB only)`, all little-endian, and how a receiver tells FEC, OOB and raw KCP
 * bodies apart.
 * @module
 */
import { readU16, readU32, writeU16, writeU32 } from '../wire/bytes.js';
import { convSize, fecHeaderSize, fecHeaderSizePlus2, typeData, typeOOB, typeParity } from '../wire/constants.js';

export type BodyKind = 'data' | 'parity' | 'oob' | 'kcp';

/**
 * What a decrypted body is, by the u16 at offset 4: 0xF1/0xF2 FEC, 0xF3 OOB, anything else raw KCP
 * (for KCP those bytes are cmd 81..84 and frg, so they never collide). Short bodies are 'kcp' and
 * fail KCP's own length check.
 */
export function classify(body: Uint8Array): BodyKind {
  if (body.length < fecHeaderSize) return 'kcp';
  const t = readU16(body, 4);
  return t === typeData ? 'data' : t === typeParity ? 'parity' : t === typeOOB ? 'oob' : 'kcp';
}

/** seqids run over [0, paws) and wrap: the largest multiple of the group size that fits in uint32. */
export function pawsOf(shardSize: number): number {
  return Math.floor(0xffffffff / shardSize) * shardSize;
}

/**
 * OOB body: `ffffffff | f3 00 | size = 2 + 4 + len | conv | payload` (kcp-go ≥ 5.6.60,
 * docs/protocol.md#oob).
 */
export function encodeOOB(payload: Uint8Array, conv: number): Uint8Array {
  const out = new Uint8Array(fecHeaderSizePlus2 + convSize + payload.length);
  writeU32(out, 0, 0xffffffff);
  writeU16(out, 4, typeOOB);
  writeU16(out, 6, 2 + convSize + payload.length);
  writeU32(out, 8, conv);
  out.set(payload, 12);
  return out;
}

/** The payload of an OOB body (everything after byte 12, as kcp-go hands it over), or null if short. */
export function decodeOOB(body: Uint8Array): Uint8Array | null {
  return body.length >= fecHeaderSizePlus2 + convSize ? body.subarray(12) : null;
}
