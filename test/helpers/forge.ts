/**
 * Forged datagrams, as an attacker who can send from any source address writes them: KCP segments
 * framed the way a listener with `crypt` expects (so 'none' or 'null' take anyone's, a keyed crypt
 * a replayed or insider's), sent from many source ports at once.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { PacketCrypt } from '../../src/crypt/crypt.js';
import { addCrcHeader, aeadSeal, encryptDatagram } from '../../src/crypt/packet.js';
import { IKCP_CMD_PUSH } from '../../src/kcp/constants.js';
import { encodeSegment, type SegmentHeader } from '../../src/kcp/segment.js';

/** `body` framed for `crypt`: nonce and CRC (CFB ciphers and 'none'), nonce and tag (AEAD), or bare ('null'). */
export function seal(crypt: PacketCrypt, body: Uint8Array): Uint8Array {
  if (crypt.kind === 'null') return body;
  if (crypt.kind === 'aead') return aeadSeal(body, crypt.aead, crypt.random);
  const dg = addCrcHeader(body, crypt.crc32);
  encryptDatagram(dg, crypt.block, crypt.random);
  return dg;
}

/**
 * One PUSH segment, as a fresh kcp-go peer sends it (una 0, frg 0, window 128), sealed for
 * `crypt`; `sn` 0 is what a new client's first datagram starts with.
 */
export function forgedPush(crypt: PacketCrypt, conv: number, sn: number, payload: Uint8Array = new Uint8Array(16).fill(conv & 0xff), h: Partial<SegmentHeader> = {}): Uint8Array {
  return seal(crypt, encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn, una: 0, ...h }, payload));
}

/** `n` UDP sockets bound to ephemeral ports of 127.0.0.1, each counting what it receives. */
export async function sources(n: number): Promise<{ sockets: Socket[]; received: () => number; close: () => void }> {
  let received = 0;
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4');
    s.on('message', () => received++);
    sockets.push(s);
  }
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
  return { sockets, received: () => received, close: () => sockets.forEach((s) => s.close()) };
}

/** Sends `datagram(i)` from `sockets[i]` to `port` on 127.0.0.1, 256 at a time; resolves once all are sent. */
export async function sendFrom(sockets: Socket[], port: number, datagram: (i: number) => Uint8Array): Promise<void> {
  for (let i = 0; i < sockets.length; i += 256) {
    await Promise.all(sockets.slice(i, i + 256).map((s, j) => new Promise<void>((r) => s.send(datagram(i + j), port, '127.0.0.1', () => r()))));
  }
}
