/**
 * Debian's kcptun-client (kcp-go 5.6.1 inside) pointed at an rxkcp echo listener with the same
 * key and crypt: kcptun carries smux frames, so this checks the layers, not the stream content —
 * rxkcp must decrypt, CRC-check and FEC-decode every datagram kcptun sends.
 */
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Listener } from '../../operators/transport/listener.js';
import { toDuplex } from '../../operators/adapters/stream.js';
import { INTEROP_KEY, haveKcptun, startKcptun } from './go-peer.js';
import { patternBytes } from './pattern.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.skipIf(!haveKcptun())('kcptun-client → rxkcp', () => {
  for (const crypt of ['aes', 'salsa20', 'none'] as const) {
    it(`rxkcp decrypts and FEC-decodes kcptun's traffic with --crypt ${crypt}, FEC 10/3, no checksum errors`, async () => {
      const l = await Listener.listen({
        listen: '127.0.0.1:0',
        crypt,
        key: INTEROP_KEY,
        dataShards: 10,
        parityShards: 3,
        mtu: 1350, // kcptun's defaults
        nodelay: 0,
        interval: 30,
        resend: 2,
        nc: 1,
        stream: true,
      });
      l.sessions$.subscribe((s) => {
        const d = toDuplex(s);
        d.on('error', () => {});
        d.pipe(d);
      });
      const localPort = await freePort();
      const client = await startKcptun('client', {
        key: INTEROP_KEY,
        crypt,
        mode: 'fast',
        quiet: true,
        nocomp: true, // kcptun would otherwise compress what it carries
        localaddr: `127.0.0.1:${localPort}`,
        remoteaddr: `127.0.0.1:${l.address.port}`,
      });
      try {
        const sock = connect(localPort, '127.0.0.1');
        sock.on('error', () => {});
        await new Promise<void>((r) => sock.once('connect', () => r()));
        for (let off = 0; off < 512 * 1024; off += 32768) sock.write(patternBytes(off, 32768));
        await new Promise((r) => setTimeout(r, 2000));
        sock.destroy();
        const sessions = l.sessions;
        expect(sessions.length).toBeGreaterThanOrEqual(1);
        const st = sessions[0]!.stats;
        expect(l.stats.InCsumErrors).toBe(0);
        expect(st.KCPInErrors).toBe(0);
        expect(st.InSegs).toBeGreaterThan(300); // 512 KiB of smux frames arrived as KCP segments
        expect(st.FECParityShards).toBeGreaterThan(0);
        expect(st.BytesReceived).toBeGreaterThan(512 * 1024);
      } finally {
        await client.stop();
        l.close();
      }
    });
  }
});
