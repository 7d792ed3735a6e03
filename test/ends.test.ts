/**
 * Ends that end: a file sent over an smux stream on a KCP session, with Node streams used as
 * people use them (`pipeline(createReadStream(f), …)` on one side, `pipeline(…,
 * createWriteStream(g))` on the other), over real UDP sockets on 127.0.0.1. The receiver's
 * pipeline finishes by itself at the stream's FIN, and the sender's resolves only once the peer
 * has acknowledged every byte, so closing right after it loses nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Mux } from '../operators/conversation/mux.js';
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import { muxStreamDuplex } from '../operators/adapters/mux-stream.js';
import { toDuplex } from '../operators/adapters/stream.js';
import type { Session, SessionOptions } from '../operators/transport/session.js';

const options: SessionOptions = { mode: 'fast3', crypt: 'aes', key: 'secret', dataShards: 10, parityShards: 3 };
const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rxkcp-ends-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('a file over an smux stream', () => {
  it("the receiver's pipeline to a file finishes by itself, and the sender's resolves once the peer has every byte", async () => {
    const dir = tempDir();
    const input = join(dir, 'in.bin');
    const output = join(dir, 'out.bin');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(input, bytes);

    const server = await Listener.listen({ listen: '127.0.0.1:0', ...options });
    cleanup.push(() => server.close());
    const received = new Promise<void>((resolve, reject) => {
      server.sessions$.subscribe((session) => {
        const mux = new Mux(session, { side: 'server' });
        mux.streams$.subscribe((stream) => {
          pipeline(muxStreamDuplex(stream), createWriteStream(output)).then(resolve, reject);
        });
      });
    });

    const session = await dial({ connect: `127.0.0.1:${server.address.port}`, ...options });
    const mux = new Mux(session, { side: 'client' });
    await pipeline(createReadStream(input), muxStreamDuplex(mux.open()));
    expect(session.waitSnd()).toBe(0); // acknowledged, FIN included
    mux.close(); // closes the session too: nothing is lost by now

    await received;
    expect(sha(readFileSync(output))).toBe(sha(bytes));
  }, 60_000);

  it('both ways at once on one stream, each direction ending at its own FIN (half-close)', async () => {
    const server = await Listener.listen({ listen: '127.0.0.1:0', ...options });
    cleanup.push(() => server.close());
    const up = randomBytes(512 * 1024);
    const down = randomBytes(256 * 1024 + 3);
    const serverGot = new Promise<Buffer>((resolve, reject) => {
      server.sessions$.subscribe((session) => {
        const mux = new Mux(session, { side: 'server' });
        mux.streams$.subscribe((stream) => {
          const duplex = muxStreamDuplex(stream);
          const chunks: Buffer[] = [];
          duplex.on('data', (c: Buffer) => chunks.push(c));
          duplex.on('end', () => resolve(Buffer.concat(chunks)));
          duplex.on('error', reject);
          duplex.end(down);
        });
      });
    });
    const session: Session = await dial({ connect: `127.0.0.1:${server.address.port}`, ...options });
    cleanup.push(() => session.close());
    const duplex = muxStreamDuplex(new Mux(session, { side: 'client' }).open());
    const chunks: Buffer[] = [];
    const clientGot = new Promise<Buffer>((resolve, reject) => {
      duplex.on('data', (c: Buffer) => chunks.push(c));
      duplex.on('end', () => resolve(Buffer.concat(chunks)));
      duplex.on('error', reject);
    });
    duplex.end(up);
    expect(sha(await serverGot)).toBe(sha(up));
    expect(sha(await clientGot)).toBe(sha(down));
  }, 60_000);
});

describe('a plain session has no end of stream', () => {
  it("KCP has no FIN: the receiver's toDuplex readable does not end when the sender's pipeline is done, only when the session ends", async () => {
    const server = await Listener.listen({ listen: '127.0.0.1:0', ...options });
    cleanup.push(() => server.close());
    let ended = false;
    let got = 0;
    const accepted = new Promise<Session>((resolve) =>
      server.sessions$.subscribe((s) => {
        const d = toDuplex(s);
        d.on('data', (c: Buffer) => (got += c.length));
        d.on('end', () => (ended = true));
        resolve(s);
      })
    );
    const session = await dial({ connect: `127.0.0.1:${server.address.port}`, ...options });
    cleanup.push(() => session.close());
    const data = randomBytes(100_000);
    const source = toDuplex(session);
    await new Promise<void>((resolve, reject) => source.end(data, () => resolve()).on('error', reject));
    const s = await accepted;
    while (got < data.length) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    expect(ended).toBe(false); // everything arrived, and nothing says it was the end
    s.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(true);
  }, 60_000);
});
