/**
 * Debian's kcptun example configs (/usr/share/doc/kcptun/examples/local.json and server.json) run
 * through the `rxkcp tunnel` command against Debian's kcptun 20210922, both pairings:
 *
 *   TCP client → rxkcp tunnel client -c local.json → UDP → kcptun-server -c server.json → target
 *   TCP client → kcptun-client -c local.json → UDP → rxkcp tunnel server -c server.json → target
 *
 * Every key is the file's own (DSCP 46, aes-128, fast3 with its manual nodelay keys, FEC 10/3,
 * nocomp, smux v1, 16 MiB buffers, autoexpire); only the four address keys are pointed at
 * 127.0.0.1 and free ports, since the files name 11.22.33.44:2000 and ports this machine may use.
 * Through each pairing the target sends a 5 MiB download, checked byte for byte.
 *
 * Then a config in the style of kcptun's last release (smux v2, framesize, ratelimit, closewait,
 * QPP, a port range on both ends, conn 3), through the `rxkcp tunnel` command on both ends: the
 * last release itself needs Go ≥ 1.22 and its modules, which this machine does not have.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveKcptun, startKcptun, type KcptunProcess } from './go-peer.js';
import { patternBytes, PatternVerifier } from './pattern.js';

const EXAMPLES = '/usr/share/doc/kcptun/examples';
const DOWNLOAD = 5 << 20;
const haveExamples = existsSync(join(EXAMPLES, 'local.json')) && existsSync(join(EXAMPLES, 'server.json'));
if (!haveExamples && process.env.RXKCP_REQUIRE_GO) throw new Error(`RXKCP_REQUIRE_GO is set but kcptun's example configs are not in ${EXAMPLES}`);
const have = haveKcptun() && haveExamples;
const cli = fileURLToPath(new URL('../../cli/cli.ts', import.meta.url));

let target: Server;
let targetPort = 0;
beforeAll(async () => {
  // every connection gets a 5 MiB download, then the target's FIN
  target = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.resume();
    s.end(patternBytes(0, DOWNLOAD));
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as AddressInfo).port;
});
afterAll(() => target?.close());

async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const p = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  }
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

/** The example file with only its address keys replaced; written to a temporary directory. */
function example(name: 'local.json' | 'server.json', addresses: Record<string, string>): { path: string; keys: Record<string, unknown> } {
  const keys = JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(addresses)) expect(keys).toHaveProperty(k); // the file has it: only its value changes
  const out = { ...keys, ...addresses };
  const path = join(mkdtempSync(join(tmpdir(), 'rxkcp-example-')), name);
  writeFileSync(path, JSON.stringify(out));
  return { path, keys };
}

/** `rxkcp tunnel <role> -c path`, resolved once it serves, with its log. */
async function rxkcpTunnel(role: 'client' | 'server', path: string): Promise<{ child: ChildProcess; log: () => string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'tunnel', role, '-c', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const t0 = Date.now();
  while (!log.includes('key derivation done')) {
    if (child.exitCode !== null) throw new Error(`rxkcp tunnel ${role} exited ${child.exitCode}:\n${log}`);
    if (Date.now() - t0 > 60_000) throw new Error(`rxkcp tunnel ${role} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, log: () => log, stop: () => (child.kill('SIGTERM'), exited) };
}

/** Connects to `entry` and reads the download; null when all of it arrived intact. */
function download(entry: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect(entry, '127.0.0.1');
    const v = new PatternVerifier(0);
    const timer = setTimeout(() => (s.destroy(), resolve(`timed out at ${v.offset} of ${DOWNLOAD} bytes`)), 120_000);
    s.on('data', (d: Buffer) => {
      if (!v.push(d)) return clearTimeout(timer), s.destroy(), resolve(v.error);
      if (v.offset === DOWNLOAD) clearTimeout(timer), s.destroy(), resolve(null);
    });
    s.on('error', (e) => (clearTimeout(timer), resolve(e.message)));
  });
}

describe.skipIf(!have)("Debian's kcptun example configs, unchanged but for addresses, through rxkcp tunnel and kcptun 20210922", () => {
  it('rxkcp tunnel client -c local.json → kcptun-server -c server.json: a 5 MiB download arrives intact; DSCP is logged as not applied', async () => {
    const udp = await freePort('udp');
    const entry = await freePort('tcp');
    const server = example('server.json', { listen: `127.0.0.1:${udp}`, target: `127.0.0.1:${targetPort}` });
    const client = example('local.json', { localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${udp}` });
    expect(client.keys.dscp).toBe(46);
    let kcptun: KcptunProcess | undefined;
    let rx: Awaited<ReturnType<typeof rxkcpTunnel>> | undefined;
    try {
      kcptun = await startKcptun('server', { c: server.path });
      rx = await rxkcpTunnel('client', client.path);
      expect(rx.log()).toMatch(/dscp 46: not applied/);
      expect(rx.log()).toMatch(/smux version: 1/);
      expect(await download(entry)).toBeNull();
    } finally {
      await rx?.stop();
      await kcptun?.stop();
    }
  });

  it('kcptun-client -c local.json → rxkcp tunnel server -c server.json: a 5 MiB download arrives intact; DSCP is logged as not applied', async () => {
    const udp = await freePort('udp');
    const entry = await freePort('tcp');
    const server = example('server.json', { listen: `127.0.0.1:${udp}`, target: `127.0.0.1:${targetPort}` });
    const client = example('local.json', { localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${udp}` });
    expect(server.keys.dscp).toBe(46);
    let kcptun: KcptunProcess | undefined;
    let rx: Awaited<ReturnType<typeof rxkcpTunnel>> | undefined;
    try {
      rx = await rxkcpTunnel('server', server.path);
      expect(rx.log()).toMatch(/dscp 46: not applied/);
      kcptun = await startKcptun('client', { c: client.path });
      expect(await download(entry)).toBeNull();
    } finally {
      await kcptun?.stop();
      await rx?.stop();
    }
  });
});

describe("a config in the style of kcptun's last release, rxkcp tunnel client ⇄ rxkcp tunnel server", () => {
  it('smux v2, framesize, ratelimit, closewait, QPP and port ranges from JSON files: three 5 MiB downloads intact', async () => {
    const entry = await freePort('tcp');
    const key = 'a key for the last release, long enough to seed QPP: '.repeat(5); // ≥ 211 bytes: no QPP warning
    const common = { key, crypt: 'aes', mode: 'fast3', smuxver: 2, framesize: 8192, ratelimit: 40_000_000, qpp: true, 'qpp-count': 61, nocomp: false, datashard: 10, parityshard: 3, quiet: true };
    let server: Awaited<ReturnType<typeof rxkcpTunnel>> | undefined;
    let min = 0;
    for (let attempt = 0; server === undefined; attempt++) {
      min = 20_000 + Math.floor(Math.random() * 40_000);
      const path = join(mkdtempSync(join(tmpdir(), 'rxkcp-final-')), 'server.json');
      writeFileSync(path, JSON.stringify({ ...common, listen: `127.0.0.1:${min}-${min + 2}`, target: `127.0.0.1:${targetPort}`, closewait: 1 }));
      try {
        server = await rxkcpTunnel('server', path);
      } catch (e) {
        if (attempt >= 10 || !/EADDRINUSE/.test(String(e))) throw e; // a port of the range was taken: another range
      }
    }
    let client: Awaited<ReturnType<typeof rxkcpTunnel>> | undefined;
    try {
      const path = join(mkdtempSync(join(tmpdir(), 'rxkcp-final-')), 'local.json');
      writeFileSync(path, JSON.stringify({ ...common, localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${min}-${min + 2}`, conn: 3, closewait: 0 }));
      client = await rxkcpTunnel('client', path);
      expect(server.log()).toContain(`listening on: 127.0.0.1:${min + 2}`);
      expect(server.log()).toContain('QPP: true QPPCount: 61');
      expect(server.log()).not.toContain('QPP Warning');
      expect(await Promise.all([download(entry), download(entry), download(entry)])).toEqual([null, null, null]);
      // three sessions, one on each port of the range
      const ports = [...server.log().matchAll(/on connection: :(\d+)/g)].map((m) => Number(m[1])).sort();
      expect(ports).toEqual([min, min + 1, min + 2]);
    } finally {
      await client?.stop();
      await server.stop();
    }
  });
});

describe.skipIf(!have)('one rxkcp tunnel server with its defaults, kcptun 20210922 clients at smux v1 and v2 at once', () => {
  it('each client gets its 5 MiB download; the server speaks each session in its client\'s version', async () => {
    const udp = await freePort('udp');
    const path = join(mkdtempSync(join(tmpdir(), 'rxkcp-gen-')), 'server.json');
    // only addresses and the key: every other setting is rxkcp's default (smuxver 2 = takes 1 and 2)
    writeFileSync(path, JSON.stringify({ listen: `127.0.0.1:${udp}`, target: `127.0.0.1:${targetPort}`, key: 'generations' }));
    const server = await rxkcpTunnel('server', path);
    const clients: KcptunProcess[] = [];
    try {
      const entries: number[] = [];
      for (const smuxver of [1, 2]) {
        const entry = await freePort('tcp');
        entries.push(entry);
        clients.push(await startKcptun('client', { key: 'generations', smuxver, localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${udp}`, quiet: true }));
      }
      expect(await Promise.all(entries.map((e) => download(e)))).toEqual([null, null]);
      expect(server.log()).toMatch(/smux version: 1\.\.2/);
    } finally {
      for (const c of clients) await c.stop();
      await server.stop();
    }
  });
});
