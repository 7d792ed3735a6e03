/**
 * Self-check of the interop tooling before rxkcp replaces one end: kcppeer (real kcp-go 5.6.1)
 * against itself across ciphers, FEC and loss; its byte pattern against pattern.ts; and Debian's
 * kcptun client + server carrying a TCP echo, to show kcptun works on this machine.
 */
import { spawnSync } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  INTEROP_KEY,
  buildGoPeer,
  haveGoPeer,
  haveKcptun,
  runGoOneway,
  runGoSend,
  startGoPeer,
  startKcptun,
  type GoConnectFlags,
  type GoCrypt,
  type GoPeerFlags,
  type GoTransferResult,
} from './go-peer.js';
import { PatternVerifier, patternBytes } from './pattern.js';

const FOUR_MIB = 4 * 1024 * 1024;

/** One line per transfer, printed at the end as the timing summary. */
const timings: string[] = [];
function record(name: string, r: GoTransferResult): void {
  timings.push(
    `${name.padEnd(34)} ${r.elapsed_ms.toFixed(0).padStart(6)} ms` +
      ` ${r.mb_per_s.toFixed(2).padStart(7)} MB/s` +
      `  cpu ${(r.cpu_user_s + r.cpu_sys_s).toFixed(2)} s  retrans ${r.stats.RetransSegs}` +
      `  fec-recovered ${r.stats.FECRecovered}`
  );
}
afterAll(() => {
  if (timings.length > 0) console.log(`kcppeer self-check (send side):\n${timings.join('\n')}`);
});

/** Starts an echo peer with `server` flags, runs send with `client` flags, returns both ends. */
async function echoRound(
  server: GoPeerFlags,
  client: Omit<GoConnectFlags, 'connect' | 'bytes'>,
  bytes: number
) {
  const echo = await startGoPeer('echo', server);
  try {
    const sent = await runGoSend({ ...client, connect: echo.addr, bytes });
    const final = await echo.stop();
    return { sent, final };
  } finally {
    await echo.stop().catch(() => {});
  }
}

describe.skipIf(!haveGoPeer())('kcppeer (kcp-go 5.6.1) against itself', () => {
  beforeAll(async () => {
    await buildGoPeer();
  });

  it('writes the same byte pattern as pattern.ts', async () => {
    const bin = await buildGoPeer();
    // Offsets straddling each term of the definition, up to beyond 2^32.
    for (const offset of [0, 250, 65_530, 16_777_210, 4_294_967_290, 2 ** 40 + 123]) {
      const r = spawnSync(bin, ['pattern', '--offset', String(offset), '--bytes', '600']);
      expect(r.status).toBe(0);
      const same = Buffer.from(r.stdout).equals(Buffer.from(patternBytes(offset, 600)));
      expect(same, `offset ${offset}`).toBe(true);
    }
  });

  const crypts: GoCrypt[] = ['none', 'aes', 'salsa20', 'null'];
  const fecs: Array<[number, number]> = [
    [0, 0],
    [10, 3],
  ];
  for (const crypt of crypts) {
    for (const [datashard, parityshard] of fecs) {
      const name = `crypt ${crypt}, FEC ${datashard}/${parityshard}`;
      it(`${name}: 4 MiB echo verified byte for byte`, async () => {
        const flags: GoPeerFlags = { crypt, key: INTEROP_KEY, datashard, parityshard };
        const { sent, final } = await echoRound(flags, flags, FOUR_MIB);
        record(name, sent);
        expect(sent.error).toBeUndefined();
        expect(sent.ok).toBe(true);
        expect(sent.verified).toBe(FOUR_MIB);
        expect(final.echoed).toBe(FOUR_MIB);
        expect(final.sessions).toBe(1);
        expect(sent.stats.InCsumErrors).toBe(0);
        expect(final.stats.InCsumErrors).toBe(0);
        expect(sent.stats.KCPInErrors).toBe(0);
        expect(final.stats.KCPInErrors).toBe(0);
        // FEC really on or off: parity shards arrive only when it is on.
        if (parityshard > 0) expect(final.stats.FECParityShards).toBeGreaterThan(0);
        else expect(final.stats.FECParityShards).toBe(0);
      });
    }
  }

  it('crypt aes, FEC 10/3, 10 % loss injected on both peers: 4 MiB echo verified', async () => {
    const flags: GoPeerFlags = {
      crypt: 'aes',
      key: INTEROP_KEY,
      datashard: 10,
      parityshard: 3,
      loss: 0.1,
    };
    const server = { ...flags, seed: 11 };
    const { sent, final } = await echoRound(server, { ...flags, seed: 12 }, FOUR_MIB);
    record('crypt aes, FEC 10/3, loss 0.1 both', sent);
    expect(sent.error).toBeUndefined();
    expect(sent.ok).toBe(true);
    expect(sent.verified).toBe(FOUR_MIB);
    expect(final.echoed).toBe(FOUR_MIB);
    expect(sent.stats.InCsumErrors).toBe(0);
    expect(final.stats.InCsumErrors).toBe(0);
    // Loss was injected in all four places, and the transfer had to repair it.
    for (const side of [sent, final]) {
      expect(side.loss_dropped_in).toBeGreaterThan(0);
      expect(side.loss_dropped_out).toBeGreaterThan(0);
    }
    expect(sent.stats.RetransSegs + sent.stats.FECRecovered).toBeGreaterThan(0);
    expect(final.stats.RetransSegs + final.stats.FECRecovered).toBeGreaterThan(0);
  });

  it('oneway to a sink: 8 MiB acknowledged, reported by both ends', async () => {
    const bytes = 8 * 1024 * 1024;
    const flags: GoPeerFlags = { crypt: 'aes', key: INTEROP_KEY, datashard: 0, parityshard: 0 };
    const sink = await startGoPeer('sink', { ...flags, expect: bytes });
    try {
      const sent = await runGoOneway({ ...flags, connect: sink.addr, bytes });
      record('oneway aes, FEC 0/0 (8 MiB)', sent);
      expect(sent.error).toBeUndefined();
      expect(sent.ok).toBe(true);
      expect(sent.written).toBe(bytes);
      const report = await sink.waitForLine((l) => l.event === 'expect', 10_000);
      expect(report.received).toBe(bytes);
      const snapshot = await sink.stats();
      expect(snapshot.received).toBe(bytes);
      expect(snapshot.stats.BytesReceived).toBe(bytes);
      expect(snapshot.stats.InCsumErrors).toBe(0);
      expect(snapshot.cpu_user_s + snapshot.cpu_sys_s).toBeGreaterThan(0);
    } finally {
      await sink.stop();
    }
  });

  it('sink --echo-conv echoes the sessions with that conversation id and sinks the others', async () => {
    const flags: GoPeerFlags = { crypt: 'aes', key: INTEROP_KEY };
    const sink = await startGoPeer('sink', { ...flags, 'echo-conv': 77 });
    try {
      const echoed = await runGoSend({ ...flags, connect: sink.addr, bytes: 100_000, conv: 77 });
      expect(echoed.error).toBeUndefined();
      expect(echoed.verified).toBe(100_000);
      const sunk = await runGoOneway({ ...flags, connect: sink.addr, bytes: 200_000, conv: 78 });
      expect(sunk.ok).toBe(true);
      const snapshot = await sink.stats();
      expect(snapshot.sessions).toBe(2);
      expect(snapshot.received).toBe(200_000); // the echoed session is not counted
    } finally {
      await sink.stop();
    }
  });

  it('counts InCsumErrors and reports a stall when the keys differ', async () => {
    const { sent, final } = await echoRound(
      { crypt: 'aes', key: 'right key' },
      { crypt: 'aes', key: 'wrong key', stallTimeoutMs: 1000 },
      1000
    );
    expect(sent.ok).toBe(false);
    expect(sent.exitCode).toBe(1);
    expect(sent.error).toMatch(/^stall/);
    expect(final.stats.InCsumErrors).toBeGreaterThan(0);
    expect(final.sessions).toBe(0);
  });
});

/** A TCP echo server on an ephemeral loopback port. */
function tcpEcho(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.pipe(s));
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

/** An ephemeral port that is free right now for both TCP and UDP on loopback. */
async function freePort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

/** Connects to a TCP port, retrying while it refuses (the listener may be a moment late). */
async function connectRetry(port: number, attempts = 50): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    } catch (e) {
      if (i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe.skipIf(!haveKcptun())('kcptun (Debian, kcp-go 5.6.1) client + server', () => {
  it('carries 1 MiB through a TCP echo with --crypt aes, byte for byte', async () => {
    const echo = await tcpEcho();
    const kcpPort = await freePort();
    const localPort = await freePort();
    const common = { key: INTEROP_KEY, crypt: 'aes', mode: 'fast', quiet: true };
    const server = await startKcptun('server', {
      ...common,
      listen: `127.0.0.1:${kcpPort}`,
      target: `127.0.0.1:${echo.port}`,
    });
    const client = await startKcptun('client', {
      ...common,
      localaddr: `127.0.0.1:${localPort}`,
      remoteaddr: `127.0.0.1:${kcpPort}`,
    });
    try {
      const total = 1024 * 1024;
      const sock = await connectRetry(localPort);
      const verifier = new PatternVerifier();
      const started = performance.now();
      const done = new Promise<void>((resolve, reject) => {
        sock.on('data', (chunk: Buffer) => {
          if (!verifier.push(chunk)) reject(new Error(verifier.error ?? 'mismatch'));
          else if (verifier.offset >= total) resolve();
        });
        sock.on('error', reject);
        sock.on('close', () => reject(new Error(`closed after ${verifier.offset} bytes`)));
      });
      for (let off = 0; off < total; off += 65536) sock.write(patternBytes(off, 65536));
      await done;
      const ms = performance.now() - started;
      timings.push(`${'kcptun aes, 1 MiB TCP echo'.padEnd(34)} ${ms.toFixed(0).padStart(6)} ms`);
      sock.destroy();
      expect(verifier.error).toBeNull();
      expect(verifier.offset).toBe(total);
    } finally {
      await client.stop();
      await server.stop();
      echo.server.close();
    }
  });
});
