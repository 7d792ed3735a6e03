/**
 * rxkcp's smux (src/smux, operators/conversation/mux.ts) against Debian's github.com/xtaci/smux 1.5.16, which
 * speaks both protocol versions, over one TCP connection on 127.0.0.1 (smux needs only a byte
 * stream; KCP and snappy are covered by the kcptun suites). The Go side is smuxpeer
 * (test/interop/smuxpeer), built at test time in GOPATH mode like kcppeer.
 *
 * Small stream windows (64 KiB) make version 2's flow control do the work: each side must send UPD
 * frames the other understands, or the transfers stall.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromEvent, map, Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Mux, type ByteDuplex } from '../../operators/conversation/mux.js';
import { muxStreamDuplex } from '../../operators/adapters/mux-stream.js';
import { buildGoProgram, GOPATH, haveGoPeer } from './go-peer.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const SRC = join(here, 'smuxpeer');
const BIN = join(here, 'bin', 'smuxpeer');
const haveSmux = existsSync(join(GOPATH, 'src/github.com/xtaci/smux/stream.go'));
if (!haveSmux && process.env.RXKCP_REQUIRE_GO) throw new Error("RXKCP_REQUIRE_GO is set but Debian's smux sources (golang-github-xtaci-smux-dev) are missing");
const have = haveGoPeer() && haveSmux;
/** Per-stream window on both sides: small, so v2 needs many UPDs. */
const STREAM_BUF = 65536;
const STREAMS = 8;
const BYTES = 2 << 20;

const pattern = (i: number) => (i * 7 + Math.floor(i / 251)) & 0xff;

/** A TCP socket as the byte duplex the mux runs over: a write is taken whole or refused until 'drain'. */
function socketDuplex(s: Socket): ByteDuplex {
  s.on('error', () => {}); // the peer going away ends data$ through 'close'
  return {
    data$: new Observable<Uint8Array>((sub) => {
      const onData = (d: Buffer) => sub.next(new Uint8Array(d.buffer, d.byteOffset, d.length));
      const onEnd = () => sub.complete();
      s.on('data', onData);
      s.on('end', onEnd);
      s.on('close', onEnd);
      s.resume();
      return () => {
        s.off('data', onData);
        s.off('end', onEnd);
        s.off('close', onEnd);
        s.pause();
      };
    }),
    write: (data) => {
      if (s.writableNeedDrain) return false;
      s.write(data);
      return true;
    },
    writable$: fromEvent(s, 'drain').pipe(map(() => undefined)),
    close: () => s.destroy(),
  };
}

function run(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => lines.push(`stderr: ${d.toString()}`));
  return { child, lines, exited: new Promise((r) => child.on('close', (c) => r(c))) };
}

async function until(pred: () => boolean, what: string, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!have)("rxkcp smux ⇄ Debian's Go smux 1.5.16 over TCP", () => {
  it('rxkcp v2 client → Go smux v2 server: 8 streams of 2 MiB echoed byte-exact, with UPDs both ways', async () => {
    await buildGoProgram(SRC, BIN);
    const go = run(['-role', 'server', '-version', '2', '-streambuf', String(STREAM_BUF)]);
    try {
      await until(() => go.lines.some((l) => l.startsWith('port ')), 'smuxpeer to listen', 30_000);
      const port = Number(go.lines.find((l) => l.startsWith('port '))!.slice(5));
      const sock = connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const mux = new Mux(socketDuplex(sock), { side: 'client', version: 2, maxStreamBuffer: STREAM_BUF });
      const results = await Promise.all(
        Array.from({ length: STREAMS }, () => {
          const d = muxStreamDuplex(mux.open());
          return new Promise<string | null>((resolve) => {
            let got = 0;
            d.on('data', (b: Buffer) => {
              for (let i = 0; i < b.length; i++) if (b[i] !== pattern(got + i)) return resolve(`byte ${got + i} differs`);
              got += b.length;
              if (got === BYTES) resolve(null);
            });
            d.on('error', (e) => resolve(e.message));
            const out = new Uint8Array(BYTES);
            for (let i = 0; i < BYTES; i++) out[i] = pattern(i);
            d.write(out);
          });
        })
      );
      expect(results).toEqual(new Array(STREAMS).fill(null));
      // the Go server read 16 MiB through 64 KiB windows: it must have taken our UPDs, and we its
      expect(mux.stats.updsOut).toBeGreaterThan(STREAMS * 10);
      expect(mux.stats.updsIn).toBeGreaterThan(STREAMS * 10);
      mux.close();
    } finally {
      go.child.kill();
      await go.exited;
    }
  });

  for (const version of [2, 1] as const) {
    it(`Go smux v${version} client → rxkcp server that detects the version: 8 streams of 2 MiB echoed byte-exact`, async () => {
      await buildGoProgram(SRC, BIN);
      const server = createServer((s) => {
        const mux = new Mux(socketDuplex(s), { side: 'server', version: 2, detectVersion: true, maxStreamBuffer: STREAM_BUF });
        mux.streams$.subscribe((st) => {
          const d = muxStreamDuplex(st);
          d.on('error', () => {});
          d.pipe(d);
        });
        muxes.push(mux);
      });
      const muxes: Mux[] = [];
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const go = run(['-role', 'client', '-version', String(version), '-streambuf', String(STREAM_BUF), '-connect', `127.0.0.1:${port}`, '-streams', String(STREAMS), '-bytes', String(BYTES)]);
      try {
        const code = await go.exited;
        expect(go.lines).toEqual([`ok ${STREAMS} ${BYTES}`]);
        expect(code).toBe(0);
        expect(muxes).toHaveLength(1);
        expect(muxes[0]!.session.version).toBe(version);
        if (version === 2) expect(muxes[0]!.stats.updsIn).toBeGreaterThan(STREAMS * 10);
        else expect(muxes[0]!.stats.updsIn + muxes[0]!.stats.updsOut).toBe(0);
      } finally {
        go.child.kill();
        for (const m of muxes) m.close();
        server.close();
      }
    });
  }
});
