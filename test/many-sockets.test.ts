/**
 * The session limits with real sockets: a few thousand UDP sockets on loopback, each opening a
 * session with a valid encrypted first datagram, against a listener's accept backlog,
 * `maxSessions` and `idleTimeout`. Each socket also reads what the listener sends back, so a
 * refused address is shown to get nothing at all.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { Listener, acceptBacklog } from '../operators/transport/listener.js';
import type { Session } from '../operators/transport/session.js';
import { addCrcHeader, encryptDatagram } from '../src/crypt/packet.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { nodeCryptFromPassword } from '../src/node/crypt.js';

const SOCKETS = 3000;
const crypt = nodeCryptFromPassword('aes', 'many');
if (crypt.kind !== 'framed') throw new Error('aes is a CFB cipher');

interface Client {
  socket: Socket;
  port: number;
  /** Datagrams the listener sent to this socket. */
  received: number;
}

const clients: Client[] = [];

async function openClients(n: number): Promise<void> {
  while (clients.length < n) {
    const socket = createSocket('udp4');
    const c: Client = { socket, port: 0, received: 0 };
    socket.on('message', () => c.received++);
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    c.port = socket.address().port;
    clients.push(c);
  }
}

/** A first datagram of conv `conv`: PUSH sn 0 with 16 bytes, CRC-framed and encrypted under aes. */
function firstDatagram(conv: number): Uint8Array {
  if (crypt.kind !== 'framed') throw new Error('unreachable');
  const seg = encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0 }, new Uint8Array(16).fill(conv & 0xff));
  const dg = addCrcHeader(seg, crypt.crc32);
  encryptDatagram(dg, crypt.block, crypt.random);
  return dg;
}

/** Every client in `from..to` sends its first datagram; resolves once the kernel took them all. */
async function sendFirst(l: Listener, from: number, to: number): Promise<void> {
  const port = l.address.port;
  for (let i = from; i < to; i += 250) {
    const batch = clients.slice(i, Math.min(to, i + 250));
    await Promise.all(batch.map((c, j) => new Promise<void>((r) => c.socket.send(firstDatagram(1 + i + j), port, '127.0.0.1', () => r()))));
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterAll(() => {
  for (const c of clients) c.socket.close();
});

describe(`${SOCKETS} real sockets against one listener`, () => {
  it('the accept backlog holds at most 128 unaccepted sessions; the rest are refused, counted and answered with nothing', async () => {
    await openClients(500);
    const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'aes', key: 'many' });
    for (const c of clients) c.received = 0;
    await sendFirst(l, 0, 500);
    await until(() => l.size + l.stats.SessionsRefused === 500);
    expect(l.size).toBe(acceptBacklog);
    expect(l.stats.SessionsRefused).toBe(500 - acceptBacklog);
    expect(l.stats.InCsumErrors).toBe(0);
    // the first 128 addresses got sessions (and their ACKs); no refused address hears anything
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    await until(() => clients.slice(0, 500).filter((c) => c.received > 0).length === acceptBacklog);
    expect(accepted.length).toBe(acceptBacklog);
    expect(new Set(accepted.map((s) => s.remote.port))).toEqual(new Set(clients.slice(0, acceptBacklog).map((c) => c.port)));
    expect(clients.slice(acceptBacklog, 500).every((c) => c.received === 0)).toBe(true);
    l.close();
  }, 60_000);

  it(`maxSessions caps ${SOCKETS} sockets at 2,000, each held session delivers its message, idle ones expire and make room`, async () => {
    await openClients(SOCKETS);
    const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'aes', key: 'many', maxSessions: 2000, idleTimeout: 1500 });
    for (const c of clients) c.received = 0;
    const messages = new Map<number, Uint8Array>();
    const endings = new Map<string, number>();
    l.sessions$.subscribe((s) => {
      s.data$.subscribe((m) => messages.set(s.conv, m)); // an idle timeout completes data$
      s.ended$.subscribe(({ reason }) => endings.set(reason, (endings.get(reason) ?? 0) + 1));
    });
    const rssBefore = process.memoryUsage().rss;
    let maxHeld = 0;
    const sampler = setInterval(() => (maxHeld = Math.max(maxHeld, l.size)), 5);
    await sendFirst(l, 0, SOCKETS);
    await until(() => l.size + l.stats.SessionsRefused === SOCKETS);
    maxHeld = Math.max(maxHeld, l.size);
    const rssHeld = process.memoryUsage().rss;
    expect(l.size).toBe(2000);
    expect(l.stats.SessionsRefused).toBe(SOCKETS - 2000);
    await until(() => messages.size === 2000);
    for (const [conv, m] of messages) expect(m).toEqual(new Uint8Array(16).fill(conv & 0xff));
    // the held sessions are the first 2,000 sockets; the refused 1,000 heard nothing
    await until(() => clients.slice(0, 2000).every((c) => c.received > 0));
    expect(clients.slice(2000).every((c) => c.received === 0)).toBe(true);

    // nothing more arrives: every session goes idle and expires
    await until(() => l.size === 0, 5000);
    clearInterval(sampler);
    expect(maxHeld).toBe(2000);
    expect(Object.fromEntries(endings)).toEqual({ 'idle-timeout': 2000 });
    // the refused sockets now get sessions
    const refusedBefore = l.stats.SessionsRefused;
    await sendFirst(l, 2000, SOCKETS);
    await until(() => l.size === SOCKETS - 2000);
    expect(l.stats.SessionsRefused).toBe(refusedBefore);
    await until(() => clients.slice(2000).every((c) => c.received > 0));
    console.log(
      `${SOCKETS} sockets: held ${maxHeld} (maxSessions 2000), refused ${refusedBefore}, all expired after idleTimeout, the refused ${SOCKETS - 2000} accepted afterwards; RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssHeld / 2 ** 20).toFixed(0)} MiB with 2,000 sessions`
    );
    expect(rssHeld - rssBefore).toBeLessThan(256 * 2 ** 20);
    l.close();
  }, 120_000);
});
