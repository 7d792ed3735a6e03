/**
 * rxkcp's tunnel against Debian's kcptun 20210922 (kcp-go 5.6.1, smux 1.5.16, snappy), over real
 * sockets on 127.0.0.1, with a TCP target in this process:
 *
 *   TCP client → kcptun-client → UDP → rxkcp tunnel server → target
 *   TCP client → rxkcp tunnel client → UDP → kcptun-server → target
 *
 * Big transfers (64 MiB through one stream, 50 streams of 1 MiB at once) on a covering subset of
 * settings; for every setting of crypt (aes, aes-128, salsa20, none, blowfish, 3des), mode (fast,
 * fast3, normal), smux version (1, 2) and compression (on, off), both directions: connections
 * opened and closed over and over, FIN from either end, half-close, compressible and random data.
 *
 * kcptun closes both directions of a stream at the first FIN it sees (its copy loop closes both
 * ends), so a half-close toward kcptun ends the stream; the assertions say what kcptun does.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relay, type Relay } from '../../operators/apps/relay.js';
import { tunnelClient, tunnelServer, type TunnelHandle } from '../../operators/apps/tunnel.js';
import { haveKcptun, startKcptun, type KcptunProcess } from './go-peer.js';
import { patternBytes, PatternVerifier } from './pattern.js';

const KEY = 'tunnel-interop-key';
type Crypt = 'aes' | 'aes-128' | 'salsa20' | 'none' | 'blowfish' | '3des';
type Mode = 'fast' | 'fast3' | 'normal';

interface Setting {
  crypt: Crypt;
  mode: Mode;
  smuxver: 1 | 2;
  comp: boolean;
}

const label = (s: Setting) => `${s.crypt} ${s.mode} smux v${s.smuxver} ${s.comp ? 'snappy' : 'nocomp'}`;
const MODES: Record<Mode, [number, number, number, number]> = { normal: [0, 40, 2, 1], fast: [0, 30, 2, 1], fast3: [1, 10, 2, 1] };

// ---- the target: the first byte says what to do with the connection ----
//   'E'           echo everything after it; end when the client ends
//   'G' + u32 LE  write that many pattern bytes and end (FIN from the target), read until the client ends
let target: Server;
let targetPort = 0;
const targetEvents = { ends: 0, closes: 0 };

async function startTarget(): Promise<void> {
  target = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.on('end', () => targetEvents.ends++);
    s.on('close', () => targetEvents.closes++);
    s.once('readable', function first() {
      const head = s.read(1) as Buffer | null;
      if (head === null) return s.once('readable', first);
      if (head[0] === 0x45) return void s.pipe(s);
      const len = s.read(4) as Buffer | null;
      if (head[0] !== 0x47 || len === null) return s.destroy();
      s.resume();
      s.end(patternBytes(0, len.readUInt32LE(0)));
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as AddressInfo).port;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function kcptunFlags(s: Setting): Record<string, string | number | boolean> {
  return { key: KEY, crypt: s.crypt, mode: s.mode, smuxver: s.smuxver, nocomp: !s.comp, quiet: true };
}

function rxkcpOptions(s: Setting) {
  const [nodelay, interval, resend, nc] = MODES[s.mode];
  return {
    session: { crypt: s.crypt, key: KEY, dataShards: 10, parityShards: 3, mtu: 1350, nodelay, interval, resend, nc },
    smux: { version: s.smuxver, maxStreamBuffer: 2097152 },
    compress: s.comp,
    quiet: true,
  };
}

/** One tunnel: `entry` is the TCP port clients connect to. */
interface Rig {
  entry: number;
  rx: TunnelHandle;
  kcptun: KcptunProcess;
  stop(): Promise<void>;
}

/** kcptun-client → rxkcp tunnel server → target */
async function kcptunToRxkcp(s: Setting, extra: Record<string, string | number | boolean> = {}): Promise<Rig> {
  const rx = await tunnelServer({ ...rxkcpOptions(s), session: { ...rxkcpOptions(s).session, sndWnd: 1024, rcvWnd: 1024 }, listen: '127.0.0.1:0', target: `127.0.0.1:${targetPort}` });
  const entry = await freeTcpPort();
  const kcptun = await startKcptun('client', { ...kcptunFlags(s), localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${rx.address.port}`, ...extra });
  return { entry, rx, kcptun, stop: async () => (await rx.close(), await kcptun.stop()) }; // rxkcp first: kcptun acknowledges its last FINs
}

/** rxkcp tunnel client → kcptun-server → target */
async function rxkcpToKcptun(s: Setting, extra: Record<string, string | number | boolean> = {}): Promise<Rig> {
  const port = await freeUdpPort();
  const kcptun = await startKcptun('server', { ...kcptunFlags(s), listen: `127.0.0.1:${port}`, target: `127.0.0.1:${targetPort}`, ...extra });
  // kcptun's client defaults: send window 128, receive window 512
  const rx = await tunnelClient({ ...rxkcpOptions(s), session: { ...rxkcpOptions(s).session, sndWnd: 128, rcvWnd: 512 }, listen: '127.0.0.1:0', remote: `127.0.0.1:${port}` });
  return { entry: rx.address.port, rx, kcptun, stop: async () => (await rx.close(), await kcptun.stop()) };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Echoes `total` bytes through a new connection: writes with back-pressure while checking the
 * echo; resolves with null when every byte came back exactly, else what went wrong.
 */
async function echoThrough(port: number, total: number, make: (offset: number, n: number) => Uint8Array, check: (chunk: Uint8Array, offset: number) => boolean): Promise<string | null> {
  const s = await open(port);
  return new Promise<string | null>((resolve) => {
    let got = 0;
    let bad: string | null = null;
    const stall = stallGuard(s, () => resolve(`stalled: ${got} of ${total} bytes came back`));
    s.on('data', (d: Buffer) => {
      stall.progress();
      if (bad === null && !check(d, got)) bad = `mismatch within [${got}, ${got + d.length})`;
      got += d.length;
      if (got >= total) s.end();
    });
    s.on('error', (e) => resolve(`socket error after ${got} of ${total}: ${e.message}`));
    s.on('close', () => resolve(bad ?? (got === total ? null : `${got} of ${total} bytes came back`)));
    (async () => {
      s.write('E');
      for (let off = 0; off < total; off += 65536) {
        if (!s.write(make(off, Math.min(65536, total - off)))) await new Promise((r) => s.once('drain', r));
      }
    })().catch(() => {});
  });
}

/** Random bytes and compressible text, reproducible from an offset. */
function dataOf(kind: 'pattern' | 'text') {
  if (kind === 'pattern') {
    return {
      make: (off: number, n: number) => patternBytes(off, n),
      check: (chunk: Uint8Array, off: number) => {
        const v = new PatternVerifier(off);
        return v.push(chunk);
      },
    };
  }
  const words = ['kcptun ', 'smux ', 'snappy ', 'stream ', 'window ', 'frame ', 'the ', 'of '].map((w) => new TextEncoder().encode(w.padEnd(8, '.')));
  const byteAt = (i: number) => words[patternBytes(i >> 3, 1)[0]! & 7]![i & 7]!;
  return {
    make: (off: number, n: number) => Uint8Array.from({ length: n }, (_, k) => byteAt(off + k)),
    check: (chunk: Uint8Array, off: number) => chunk.every((b, k) => b === byteAt(off + k)),
  };
}

/** Connects, asks the target for `n` bytes, expects exactly them and the target's FIN. */
async function targetCloses(port: number, n: number): Promise<string | null> {
  const s = await open(port);
  const head = Buffer.alloc(5);
  head[0] = 0x47;
  head.writeUInt32LE(n, 1);
  s.write(head);
  const v = new PatternVerifier(0);
  let bad: string | null = null;
  return new Promise((resolve) => {
    const stall = stallGuard(s, () => resolve(`stalled: ${v.offset} of ${n} bytes came`));
    s.on('data', (d: Buffer) => {
      stall.progress();
      if (!v.push(d)) bad = v.error;
    });
    s.on('end', () => {
      s.end();
      resolve(bad ?? (v.offset === n ? null : `${v.offset} of ${n} before the FIN`));
    });
    s.on('error', (e) => resolve(e.message));
  });
}

/** Ends a transfer that made no progress for 20 s (the test then fails with what arrived). */
function stallGuard(s: Socket, onStall: () => void): { progress(): void } {
  let last = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - last < 20_000) return;
    clearInterval(timer);
    onStall();
    s.destroy();
  }, 500);
  s.on('close', () => clearInterval(timer));
  return { progress: () => (last = Date.now()) };
}

function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 25);
    };
    tick();
  });
}

function checkClean(rig: Rig): void {
  const st = rig.rx.stats();
  expect(st.snmp.InCsumErrors, 'checksum errors (wrong key or cipher?)').toBe(0);
  expect(st.snmp.KCPInErrors).toBe(0);
}

const SETTINGS: Setting[] = [
  { crypt: 'aes', mode: 'fast', smuxver: 1, comp: true },
  { crypt: 'aes-128', mode: 'fast3', smuxver: 2, comp: false },
  { crypt: 'salsa20', mode: 'normal', smuxver: 2, comp: true },
  { crypt: 'none', mode: 'fast', smuxver: 2, comp: false },
  { crypt: 'blowfish', mode: 'fast3', smuxver: 1, comp: false },
  { crypt: '3des', mode: 'normal', smuxver: 1, comp: true },
];

const DIRECTIONS = [
  ['kcptun-client → rxkcp tunnel server', kcptunToRxkcp],
  ['rxkcp tunnel client → kcptun-server', rxkcpToKcptun],
] as const;

describe.skipIf(!haveKcptun())('rxkcp tunnel ⇄ kcptun 20210922', () => {
  beforeAll(startTarget);
  afterAll(() => new Promise<void>((r) => target.close(() => r())));

  describe('big transfers', () => {
    const big: Array<[string, Setting, typeof kcptunToRxkcp]> = [
      ['kcptun-client → rxkcp server', { crypt: 'aes', mode: 'fast', smuxver: 1, comp: true }, kcptunToRxkcp],
      ['rxkcp client → kcptun-server', { crypt: 'salsa20', mode: 'fast3', smuxver: 2, comp: false }, rxkcpToKcptun],
    ];
    for (const [dir, s, make] of big) {
      it(`${dir}, ${label(s)}: 64 MiB echoed byte-exact through one stream`, async () => {
        const rig = await make(s);
        try {
          const d = dataOf('pattern');
          expect(await echoThrough(rig.entry, 64 << 20, d.make, d.check)).toBeNull();
          checkClean(rig);
          expect(rig.rx.stats().streamsTotal).toBe(1);
        } finally {
          await rig.stop();
        }
      });
    }
    const wide: Array<[string, Setting, typeof kcptunToRxkcp]> = [
      ['kcptun-client → rxkcp server', { crypt: 'aes-128', mode: 'normal', smuxver: 2, comp: true }, kcptunToRxkcp],
      ['rxkcp client → kcptun-server', { crypt: 'blowfish', mode: 'fast', smuxver: 1, comp: false }, rxkcpToKcptun],
    ];
    for (const [dir, s, make] of wide) {
      it(`${dir}, ${label(s)}: 50 streams of 1 MiB at once, each byte-exact`, async () => {
        const rig = await make(s);
        try {
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, i) => {
              const d = dataOf(i % 2 === 0 ? 'pattern' : 'text');
              const base = i * 4096; // each stream its own bytes
              return echoThrough(
                rig.entry,
                1 << 20,
                (off, n) => d.make(base + off, n),
                (c, off) => d.check(c, base + off)
              ).then((r) => (r === null ? null : `stream ${i}: ${r}`));
            })
          );
          expect(results.filter((r) => r !== null)).toEqual([]);
          checkClean(rig);
          expect(rig.rx.stats().streamsTotal).toBe(50);
          await until(() => rig.rx.stats().streams === 0, 'the streams to close');
        } finally {
          await rig.stop();
        }
      });
    }
  });

  describe('through rxkcp relay with loss', () => {
    // 3 % loss each way plus Gilbert–Elliott bursts, 1 % duplication, 2 % reordering
    const SEED = 4242;
    const impair = { seed: SEED, loss: 0.03, burst: { enter: 0.01, exit: 0.3 }, duplicate: 0.01, reorder: 0.02 };
    const s: Setting = { crypt: 'aes', mode: 'fast3', smuxver: 2, comp: true };

    async function check(entry: number, rxStats: () => ReturnType<TunnelHandle['stats']>, net: Relay): Promise<void> {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const d = dataOf(i % 2 === 0 ? 'pattern' : 'text');
          const base = i * 8192;
          return echoThrough(entry, 1 << 20, (off, n) => d.make(base + off, n), (c, off) => d.check(c, base + off)).then((r) => (r === null ? null : `stream ${i}: ${r}`));
        })
      );
      const big = dataOf('pattern');
      results.push(await echoThrough(entry, 8 << 20, big.make, big.check));
      expect(results.filter((r) => r !== null), `relay seed ${SEED}`).toEqual([]);
      expect(rxStats().snmp.InCsumErrors).toBe(0);
      const st = net.stats;
      expect(st.up.dropped.total, 'the relay dropped datagrams client → server').toBeGreaterThan(0);
      expect(st.down.dropped.total, 'the relay dropped datagrams server → client').toBeGreaterThan(0);
    }

    it(`kcptun-client → relay → rxkcp tunnel server, ${label(s)}: 8 streams of 1 MiB and one of 8 MiB byte-exact (seed ${SEED})`, async () => {
      const rx = await tunnelServer({ ...rxkcpOptions(s), session: { ...rxkcpOptions(s).session, sndWnd: 1024, rcvWnd: 1024 }, listen: '127.0.0.1:0', target: `127.0.0.1:${targetPort}` });
      const net = await relay({ connect: `127.0.0.1:${rx.address.port}`, ...impair });
      const entry = await freeTcpPort();
      const kcptun = await startKcptun('client', { ...kcptunFlags(s), localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${net.address.port}` });
      try {
        await check(entry, () => rx.stats(), net);
      } finally {
        await rx.close();
        await kcptun.stop();
        await net.close();
      }
    });

    it(`rxkcp tunnel client → relay → kcptun-server, ${label(s)}: 8 streams of 1 MiB and one of 8 MiB byte-exact (seed ${SEED})`, async () => {
      const port = await freeUdpPort();
      const kcptun = await startKcptun('server', { ...kcptunFlags(s), listen: `127.0.0.1:${port}`, target: `127.0.0.1:${targetPort}` });
      const net = await relay({ connect: `127.0.0.1:${port}`, ...impair });
      const rx = await tunnelClient({ ...rxkcpOptions(s), session: { ...rxkcpOptions(s).session, sndWnd: 128, rcvWnd: 512 }, listen: '127.0.0.1:0', remote: `127.0.0.1:${net.address.port}` });
      try {
        await check(rx.address.port, () => rx.stats(), net);
      } finally {
        await rx.close();
        await kcptun.stop();
        await net.close();
      }
    });
  });

  for (const [dir, make] of DIRECTIONS) {
    describe(dir, () => {
      for (const s of SETTINGS) {
        it(`${label(s)}: streams opened and closed over and over, FIN from either end, half-close, random and compressible data`, async () => {
          const rig = await make(s);
          try {
            const text = dataOf('text');
            const pattern = dataOf('pattern');
            // 12 connections one after another: echo, then the client's FIN, then the close
            for (let i = 0; i < 12; i++) {
              const d = i % 2 === 0 ? text : pattern;
              expect(await echoThrough(rig.entry, 1000 + i * 3000, (o, n) => d.make(o + i, n), (c, o) => d.check(c, o + i)), `connection ${i}`).toBeNull();
            }
            // 4 at once, 256 KiB each
            const par = await Promise.all([0, 1, 2, 3].map((i) => echoThrough(rig.entry, 256 << 10, (o, n) => (i % 2 ? text : pattern).make(o, n), (c, o) => (i % 2 ? text : pattern).check(c, o))));
            expect(par).toEqual([null, null, null, null]);
            // the target's FIN reaches the client, after all its data, 5 times
            for (let i = 0; i < 5; i++) expect(await targetCloses(rig.entry, 20_000 + i), `target close ${i}`).toBeNull();
            // half-close: the client shuts down its sending side after its echo came back; the FIN
            // reaches the target, and the client's side ends too (kcptun ends both ways at a FIN,
            // rxkcp passes the target's answering FIN)
            const ends = targetEvents.ends;
            const sock = await open(rig.entry);
            sock.write('E');
            sock.write(patternBytes(0, 1000));
            let got = 0;
            let ended = false;
            sock.on('data', (b: Buffer) => (got += b.length));
            sock.on('end', () => (ended = true));
            await until(() => got === 1000, 'the echo');
            sock.end();
            await until(() => ended && targetEvents.ends > ends, 'the FINs both ways');
            sock.destroy();
            checkClean(rig);
            expect(rig.rx.stats().streamsTotal).toBe(12 + 4 + 5 + 1);
            // what crossed KCP toward rxkcp against what rxkcp wrote to TCP: half of it was text
            const st = rig.rx.stats();
            if (s.comp) expect(st.snmp.BytesReceived).toBeLessThan(st.tcpBytesOut);
            else expect(st.snmp.BytesReceived).toBeGreaterThan(st.tcpBytesOut);
            await until(() => rig.rx.stats().streams === 0, 'every stream to close on the rxkcp side');
          } finally {
            await rig.stop();
          }
        });
      }
    });
  }

  it('the rxkcp command with a kcptun JSON config serves kcptun-client, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxkcp-tunnel-'));
    const udp = await freeUdpPort();
    const config = join(dir, 'server.json');
    // closewait 0: the last release's server default (30 s before a FIN is passed on) would hold the stream-closed line that long
    writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${udp}`, target: `127.0.0.1:${targetPort}`, key: KEY, crypt: 'aes-192', mode: 'fast2', smuxver: 2, nocomp: false, quiet: false, closewait: 0 }));
    const cli = fileURLToPath(new URL('../../cli/cli.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'tunnel', 'server', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    let kcptun: KcptunProcess | undefined;
    try {
      await until(() => log.includes('key derivation done'), 'the rxkcp tunnel server to start', 60_000);
      const entry = await freeTcpPort();
      kcptun = await startKcptun('client', { key: KEY, crypt: 'aes-192', mode: 'fast2', smuxver: 2, localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${udp}` });
      const d = dataOf('text');
      expect(await echoThrough(entry, 3 << 20, d.make, d.check)).toBeNull();
      await until(() => log.includes('stream closed'), 'the stream closed log line');
      expect(log).toMatch(/stream opened in: 127\.0\.0\.1:\d+\(3\) out: 127\.0\.0\.1:\d+/);
      expect(log).toContain('encryption: aes-192');
      expect(log).toContain('nodelay parameters: 1 20 2 1');
    } finally {
      await kcptun?.stop();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

