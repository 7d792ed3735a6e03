/**
 * The per-datagram steps of the crypto layers, pure and allocation-light, so the operators stay
 * thin. Outbound: `addCrcHeader` (nonce slot + CRC + body) then `encryptDatagram` (nonce, cipher), or
 * `aeadSeal`. Inbound: `decryptDatagram` then `verifyCrc`, or `aeadOpen`. Bad wire data returns
 * null and is counted (docs/protocol.md#bad-input); nothing here throws on it.
 * @module
 */
import type { Snmp } from '../stats.js';
import { readU32, writeU32 } from '../wire/bytes.js';
import { claimRoom, takeBytes } from '../wire/slab.js';
import { cryptHeaderSize, nonceSize } from '../wire/constants.js';
import type { Crc32 } from '../wire/crc32.js';
import type { AeadCrypt } from './aead.js';
import type { BlockCrypt } from './block-crypt.js';
import type { ReplayWindow } from './replay-window.js';
import type { PacketCrypt, RandomSource } from './crypt.js';

/**
 * The datagram `[16-byte nonce slot, zero][CRC32 LE of body][body]`; the nonce is filled by
 * `encryptDatagram`. A new array, unless `inPlace` is set and `body`'s maker marked at least 20
 * free bytes in front of it (`markRoom`, claimed once): then the header is written there and the
 * datagram is a view over the same memory.
 */
export function addCrcHeader(body: Uint8Array, crc32: Crc32, inPlace = false): Uint8Array {
  let out: Uint8Array;
  if (inPlace && claimRoom(body) >= cryptHeaderSize) {
    out = new Uint8Array(body.buffer, body.byteOffset - cryptHeaderSize, cryptHeaderSize + body.length);
    out.fill(0, 0, nonceSize);
  } else {
    out = takeBytes(cryptHeaderSize + body.length);
    out.set(body, cryptHeaderSize);
  }
  writeU32(out, nonceSize, crc32(body));
  return out;
}

/** Fills the nonce with random bytes and encrypts the whole datagram in place. */
export function encryptDatagram(datagram: Uint8Array, block: BlockCrypt, random: RandomSource): void {
  random(datagram.subarray(0, nonceSize));
  if (block.encryptFresh !== undefined) block.encryptFresh(datagram);
  else block.encrypt(datagram, datagram);
}

/** Decrypts in place; returns false (and leaves it) if shorter than the 20-byte header. */
export function decryptDatagram(datagram: Uint8Array, block: BlockCrypt): boolean {
  if (datagram.length < cryptHeaderSize) return false;
  block.decrypt(datagram, datagram);
  return true;
}

/**
 * The body of a decrypted datagram if its CRC matches, else null: `InCsumErrors` counts a
 * mismatch, a datagram shorter than the header is dropped uncounted (as kcp-go).
 */
export function verifyCrc(datagram: Uint8Array, crc32: Crc32, stats: Snmp): Uint8Array | null {
  if (datagram.length < cryptHeaderSize) return null;
  const body = datagram.subarray(cryptHeaderSize);
  if (crc32(body) !== readU32(datagram, nonceSize)) {
    stats.InCsumErrors++;
    return null;
  }
  return body;
}

/** `nonce ‖ ciphertext ‖ tag` with a fresh random nonce. */
export function aeadSeal(body: Uint8Array, aead: AeadCrypt, random: RandomSource): Uint8Array {
  const nonce = new Uint8Array(aead.nonceSize);
  random(nonce);
  return aead.seal(nonce, body);
}

/** The body, or null: short datagrams dropped uncounted, failed tags counted in `InCsumErrors`. */
export function aeadOpen(datagram: Uint8Array, aead: AeadCrypt, stats: Snmp): Uint8Array | null {
  if (datagram.length < aead.nonceSize + aead.overhead) return null;
  const body = aead.open(datagram);
  if (body === null) stats.InCsumErrors++;
  return body;
}


/**
 * Decrypts and checks a datagram with any framing, as kcp-go's `packetInput` does before it looks
 * at the body: the body, or null (counted as the steps above say). CFB works in place.
 */
export function openDatagram(crypt: PacketCrypt, datagram: Uint8Array, stats: Snmp, replay?: ReplayWindow): Uint8Array | null {
  if (crypt.kind === 'null') return datagram;
  if (crypt.kind === 'aead') {
    const body = aeadOpen(datagram, crypt.aead, stats);
    if (body !== null && replay !== undefined && !replay.accept(datagram.subarray(0, crypt.aead.nonceSize))) {
      stats.ReplayDrops++;
      return null;
    }
    return body;
  }
  return decryptDatagram(datagram, crypt.block) ? verifyCrc(datagram, crypt.crc32, stats) : null;
}
