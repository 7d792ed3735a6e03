/**
 * `rxkcp tunnel server --workers 2` as users run it (the command, from source under tsx): an rxkcp
 * tunnel client with four KCP sessions (four source ports, spread over the workers by the kernel)
 * carries 16 TCP connections, each echoed byte-exact by the target; --snmplog and the closing log
 * line count every worker's sessions and streams; SIGTERM stops them all. Needs dgram reusePort.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tunnelClient, type TunnelHandle } from '../operators/apps/tunnel.js';
import { reusePortAvailable } from '../operators/transport/workers.js';
import { KCPTUN_SNMP_HEADER } from '../cli/tunnel-cli.js';

const cli = fileURLToPath(new URL('../cli/cli.ts', import.meta.url));
const supported = reusePortAvailable();
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function until(pred: () => boolean, what: string, ms = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

/** Sends `n` bytes of connection `i`'s pattern through `port` and resolves with what came back. */
function echoThrough(port: number, i: number, n: number): Promise<Buffer> {
  const data = Buffer.alloc(n, 0);
  for (let k = 0; k < n; k++) data[k] = (k * 31 + i * 7 + (k >> 10)) & 0xff;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = createConnection({ port, host: '127.0.0.1' }, () => s.write(data));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        s.end();
        const back = Buffer.concat(chunks);
        resolve(back);
      }
    });
    s.on('error', reject);
  }).then((back) => {
    expect(back.equals(data)).toBe(true);
    return back;
  });
}

describe.skipIf(!supported)('rxkcp tunnel server --workers 2', () => {
  it('carries 16 connections over 4 sessions byte-exact; --snmplog and the closing line sum both workers; SIGTERM stops them all', async () => {
    const target: Server = createServer((s) => (s.on('error', () => {}), s.pipe(s)));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => target.close(() => r())));
    const dir = mkdtempSync(join(tmpdir(), 'rxkcp-tunnel-workers-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const flags = ['--key', 'workers', '--crypt', 'aes', '--mode', 'fast3', '--closewait', '0'];
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'tunnel', 'server', '-l', '127.0.0.1:0', '-t', `127.0.0.1:${(target.address() as AddressInfo).port}`, '--workers', '2', '--snmplog', join(dir, 'snmp.log'), '--snmpperiod', '1', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    await until(() => log.includes('key derivation done'), 'the tunnel server to start');
    expect(log).toContain('workers: 2');
    const port = Number(/listening on: 127\.0\.0\.1:(\d+)/.exec(log)![1]);
    const client: TunnelHandle = await tunnelClient({ listen: '127.0.0.1:0', remote: `127.0.0.1:${port}`, conn: 4, session: { crypt: 'aes', key: 'workers', mode: 'fast3', dataShards: 10, parityShards: 3, mtu: 1350 }, closeWait: 0 });
    cleanup.push(() => client.close());
    await Promise.all(Array.from({ length: 16 }, (_, i) => echoThrough(client.address.port, i, 128 * 1024)));
    // a --snmplog line written after the transfers: both workers' four sessions and every byte
    const file = () => readdirSync(dir).map((f) => join(dir, f))[0];
    const last = (): Record<string, number> | undefined => {
      const f = file();
      if (f === undefined) return undefined;
      const rows = readFileSync(f, 'utf8').trim().split('\n');
      const head = rows[0]!.split(',');
      const values = rows.at(-1)!.split(',').map(Number);
      return Object.fromEntries(head.map((h, k) => [h, values[k]!]));
    };
    await until(() => (last()?.PassiveOpens ?? 0) === 4, "an --snmplog line with both workers' sessions");
    expect(Object.keys(last()!)).toEqual(['Unix', ...KCPTUN_SNMP_HEADER]);
    expect(last()!.BytesReceived).toBeGreaterThan(16 * 1024); // snappy shrinks the pattern; what came is counted
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toMatch(/SIGTERM: closing \(4 sessions, \d+ streams open, 16 carried\)/);
  }, 180_000);
});
