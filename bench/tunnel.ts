/**
 * `npm run bench:tunnel`: TCP through a kcptun-compatible tunnel on 127.0.0.1, every pairing of
 * kcptun 20210922 (Debian) and `rxkcp tunnel` as client and server, each tunnel end its own
 * process (rxkcp from dist/cli.js), the TCP load and target in this process.
 *
 * Workloads: `upload` (one stream, BENCH_MB MiB to a sink, done when the target has it all),
 * `echo` (one stream, BENCH_MB MiB echoed back), `streams` (16 streams echoing BENCH_MB/16 MiB
 * each at once). Settings: kcptun's defaults (aes, mode fast, FEC 10/3, snappy, smux v1, client
 * windows 128/512, server 1024/1024) and a second set (salsa20, fast3, nocomp, smux v2, windows
 * 1024/1024 on both ends).
 * BENCH_RUNS runs per cell (default 1; the median is reported). Data is incompressible.
 *
 * Each row: MB/s of the pairing, with `go` = MB/s of kcptun⇄kcptun in the same setting and
 * `ratio` = pairing / kcptun⇄kcptun; the note gives CPU seconds of the client and server process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { patternBytes, PatternVerifier } from '../operators/testing/pattern.js';
import { emit, median, printRanOn } from './lib.js';

printRanOn();

const MB = Number(process.env.BENCH_MB ?? 32);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const bytes = MB * 1024 * 1024;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const KEY = 'bench-tunnel';
type Impl = 'kcptun' | 'rxkcp';
type Workload = 'upload' | 'echo' | 'streams';
const SETTINGS: Array<{ name: string; flags: string[] }> = [
  { name: 'kcptun defaults (aes, fast, FEC 10/3, snappy, smux v1)', flags: [] },
  { name: 'salsa20, fast3, nocomp, smux v2, windows 1024/1024', flags: ['--crypt', 'salsa20', '--mode', 'fast3', '--nocomp', '--smuxver', '2', '--sndwnd', '1024', '--rcvwnd', '1024'] },
];
const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'upload,echo,streams').split(',') as Workload[];

/** CPU seconds a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
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

/** Starts one tunnel end; resolves once it serves. */
function startEnd(impl: Impl, role: 'client' | 'server', args: string[]): Promise<ChildProcess> {
  const child =
    impl === 'kcptun'
      ? spawn(`kcptun-${role}`, [...args, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(process.execPath, [cli, 'tunnel', role, ...args, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('key derivation done')) resolve(child);
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`${impl} ${role} exited ${code}: ${log}`)));
  });
}

/** Echo or sink target, by the first byte: 'E' echoes; 'S' + u32 LE length checks that many pattern bytes, then answers 'K'. */
async function startTarget(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.once('readable', function first() {
      const head = s.read(1) as Buffer | null;
      if (head === null) return s.once('readable', first);
      if (head[0] === 0x45) return void s.pipe(s);
      const len = s.read(4) as Buffer | null;
      if (len === null) return s.destroy();
      const n = len.readUInt32LE(0);
      const v = new PatternVerifier(0);
      s.on('data', (d: Buffer) => {
        if (!v.push(d)) s.destroy();
        else if (v.offset === n) s.end('K');
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function transfer(port: number, n: number, echo: boolean, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const v = new PatternVerifier(offset);
    s.on('error', reject);
    let acked = false;
    s.on('data', (d: Buffer) => {
      if (!echo) {
        acked = d[0] === 0x4b; // the sink's 'K': it has every byte
        return void s.destroy();
      }
      if (!v.push(d)) reject(new Error(v.error!));
      if (v.offset === offset + n) s.end();
    });
    s.on('close', () => ((echo ? v.offset === offset + n : acked) ? resolve() : reject(new Error(echo ? `${v.offset - offset} of ${n} came back` : 'no acknowledgement from the sink'))));
    s.on('connect', async () => {
      const head = Buffer.alloc(5);
      head[0] = echo ? 0x45 : 0x53;
      head.writeUInt32LE(n, 1);
      s.write(echo ? head.subarray(0, 1) : head);
      for (let off = 0; off < n; off += 65536) {
        if (!s.write(patternBytes(offset + off, Math.min(65536, n - off)))) await new Promise((r) => s.once('drain', r));
      }
    });
  });
}

async function run(client: Impl, server: Impl, settingFlags: string[], workload: Workload, targetPort: number): Promise<{ mbps: number; cpuClient: number; cpuServer: number }> {
  const udp = await freePort('udp');
  const entry = await freePort('tcp');
  const common = ['--key', KEY, ...settingFlags];
  const srv = await startEnd(server, 'server', ['-l', `127.0.0.1:${udp}`, '-t', `127.0.0.1:${targetPort}`, ...common]);
  const cl = await startEnd(client, 'client', ['-l', `127.0.0.1:${entry}`, '-r', `127.0.0.1:${udp}`, ...common]);
  try {
    const c0 = cpuSeconds(cl.pid!);
    const s0 = cpuSeconds(srv.pid!);
    const t0 = performance.now();
    if (workload === 'streams') await Promise.all(Array.from({ length: 16 }, (_, i) => transfer(entry, bytes / 16, true, i * 1000)));
    else await transfer(entry, bytes, workload === 'echo', 0);
    const ms = performance.now() - t0;
    return { mbps: bytes / 1e3 / ms, cpuClient: cpuSeconds(cl.pid!) - c0, cpuServer: cpuSeconds(srv.pid!) - s0 };
  } finally {
    for (const p of [cl, srv]) {
      const exited = new Promise((r) => p.once('close', r));
      p.kill('SIGTERM');
      await exited;
    }
  }
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: npm run build first (npm run bench:tunnel does)');
  const { server, port } = await startTarget();
  const pairings: Array<[Impl, Impl]> = [
    ['kcptun', 'kcptun'],
    ['rxkcp', 'kcptun'],
    ['kcptun', 'rxkcp'],
    ['rxkcp', 'rxkcp'],
  ];
  try {
    for (const setting of SETTINGS) {
      for (const workload of WORKLOADS) {
        const results = new Map<string, Array<{ mbps: number; cpuClient: number; cpuServer: number }>>();
        // alternate pairings run by run, so drift on a shared machine spreads over all of them
        for (let r = 0; r < RUNS; r++) {
          for (const [c, s] of pairings) {
            const key = `${c}→${s}`;
            const res = await run(c, s, setting.flags, workload, port);
            results.set(key, [...(results.get(key) ?? []), res]);
          }
        }
        const base = median(results.get('kcptun→kcptun')!.map((x) => x.mbps));
        for (const [c, s] of pairings) {
          const rs = results.get(`${c}→${s}`)!;
          const mbps = median(rs.map((x) => x.mbps));
          const cpuC = median(rs.map((x) => x.cpuClient));
          const cpuS = median(rs.map((x) => x.cpuServer));
          emit({
            name: `tunnel ${workload} ${MB} MiB, ${c} client → ${s} server, ${setting.name}`,
            value: mbps,
            unit: 'MB/s',
            go: base,
            ratio: mbps / base,
            note: `cpu client ${cpuC.toFixed(2)} s, server ${cpuS.toFixed(2)} s`,
          });
        }
      }
    }
  } finally {
    server.close();
  }
}

await main();
