/**
 * Ends that end, against Debian's kcptun 20210922 (kcp-go 5.6.1 and smux underneath), both ways,
 * with `examples/send-file.ts` run as a user runs it (its own process, the built package):
 *
 *   send-file.ts send → UDP → kcptun-server → TCP target: the target's socket ends (kcptun turns
 *     the smux FIN into a TCP FIN) and the sender exits once its data is acknowledged;
 *   TCP client → kcptun-client → UDP → send-file.ts receive: the receiver's pipeline to its file
 *     finishes at the FIN kcptun sends when the TCP client ends, and the process exits.
 *
 * A plain kcp-go session (kcppeer) has no end of stream at all, so there is nothing to test there:
 * over bare KCP an end must be said by the application (test/ends.test.ts shows a plain session's
 * receiver does not end).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haveKcptun, startKcptun, type KcptunProcess } from './go-peer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples/send-file.ts');
const KEY = 'ends that end';
/** What send-file.ts uses, in kcptun's flags (it has no --nocomp flag: rxkcp's Mux is smux without snappy). */
const kcptunFlags = { key: KEY, crypt: 'aes', mode: 'fast3', datashard: 10, parityshard: 3, nocomp: true, quiet: true };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const stops: (() => unknown)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

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

/** Runs send-file.ts; resolves with its exit code and output once it exits by itself. */
function runExample(args: string[], onLine?: (line: string) => void) {
  const child = spawn(process.execPath, ['--import', 'tsx', example, ...args], { cwd: root, env: { ...process.env, RXKCP_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
  stops.push(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const line of d.toString().split('\n')) if (line) onLine?.(line);
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rxkcp-ends-'));
  stops.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.skipIf(!haveKcptun())('a file with an end, to and from kcptun 20210922', () => {
  beforeAll(() => {
    if (!existsSync(join(root, 'dist/io.js'))) throw new Error('dist/ is missing: run npm run build first (the example imports the built package)');
  });

  it('send-file.ts send → kcptun-server → TCP: the target sees the end and the sender exits', async () => {
    const dir = tempDir();
    const data = randomBytes(4 * 1024 * 1024 + 5);
    writeFileSync(join(dir, 'in.bin'), data);
    const received: Buffer[] = [];
    let ended!: () => void;
    const targetEnded = new Promise<void>((r) => (ended = r));
    const target: Server = createServer((sock) => {
      sock.on('data', (c: Buffer) => received.push(c));
      sock.on('end', () => (sock.end(), ended()));
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    stops.push(() => target.close());
    const udp = await freeUdpPort();
    const kcptun: KcptunProcess = await startKcptun('server', { ...kcptunFlags, listen: `127.0.0.1:${udp}`, target: `127.0.0.1:${(target.address() as AddressInfo).port}` });
    stops.push(() => kcptun.stop());
    const sent = await runExample(['send', `127.0.0.1:${udp}`, join(dir, 'in.bin')]);
    expect(sent.code, sent.out).toBe(0);
    expect(sent.out).toMatch(/bytes sent and acknowledged/);
    await targetEnded;
    expect(sha(Buffer.concat(received))).toBe(sha(data));
  }, 120_000);

  it("TCP → kcptun-client → send-file.ts receive: the receiver's pipeline finishes at kcptun's FIN and it exits", async () => {
    const dir = tempDir();
    const data = randomBytes(4 * 1024 * 1024 + 7);
    const udp = await freeUdpPort();
    let ready!: () => void;
    const listening = new Promise<void>((r) => (ready = r));
    const receiving = runExample(['receive', `127.0.0.1:${udp}`, join(dir, 'out.bin')], (line) => line.startsWith('receiving on') && ready());
    await listening;
    const entry = await freeTcpPort();
    const kcptun = await startKcptun('client', { ...kcptunFlags, localaddr: `127.0.0.1:${entry}`, remoteaddr: `127.0.0.1:${udp}` });
    stops.push(() => kcptun.stop());
    const sock = connect(entry, '127.0.0.1');
    sock.on('error', () => {}); // kcptun may reset it once the stream is gone
    sock.end(data);
    const got = await receiving;
    expect(got.code, got.out).toBe(0);
    expect(sha(readFileSync(join(dir, 'out.bin')))).toBe(sha(data));
  }, 120_000);
});
