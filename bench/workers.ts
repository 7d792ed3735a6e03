/**
 * `npm run bench:workers`: what worker threads give an rxkcp server, against kcp-go's own.
 *
 * 1. Aggregate echo throughput: 1, 4 and 16 kcp-go clients (the interop peer, one process each)
 *    echo BENCH_MB MiB in all at once through `rxkcp echo --workers 0` (one thread, no workers),
 *    `--workers 1`, `--workers 2` and kcp-go's echo server; the servers alternate within each of
 *    BENCH_ROUNDS rounds and the median is reported, with the server's CPU seconds per MiB echoed.
 *    Settings as bench:speed's first row: salsa20 + FEC 10/3, fast3, mtu 1400, windows 1024,
 *    stream mode.
 * 2. Quiet sessions: BENCH_QUIET (default 5000) rxkcp client sessions at 2 messages a second each
 *    (bench/quiet-sessions.ts) against `--workers 1` and `--workers 2`: p50/p99 echo round trip,
 *    server CPU and RSS.
 * Prints what it ran on (commit, Node, CPU, load average before and after), then a Markdown table,
 * also written to bench/out/workers.md. Needs `npm run build` (the script does it) and Go.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoCrypt } from '../test/interop/go-peer.js';
import { median, printRanOn } from './lib.js';
import { openSessions, procStats, quantile, quietLoad, sleep } from './quiet-sessions.js';

printRanOn();

const MB = Number(process.env.BENCH_MB ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '1,4,16').split(',').map(Number);
const QUIET = Number(process.env.BENCH_QUIET ?? 5000);
const QUIET_SECONDS = Number(process.env.BENCH_QUIET_SECONDS ?? 20);
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const go = { crypt: 'salsa20' as GoCrypt, key: 'bench', datashard: 10, parityshard: 3, mode: 'fast3', mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true } as const;
const rxFlags = ['--crypt', 'salsa20', '--key', 'bench', '--datashard', '10', '--parityshard', '3', '--mode', 'fast3', '--mtu', '1400', '--sndwnd', '1024', '--rcvwnd', '1024', '--stream', '--max-sessions', '0', '--idle-timeout', '0'];
const quietFlags = ['--crypt', 'null', '--datashard', '0', '--parityshard', '0', '--mode', 'normal', '--max-sessions', '0', '--idle-timeout', '0'];

type ServerKind = 'rxkcp --workers 0' | 'rxkcp --workers 1' | 'rxkcp --workers 2' | 'kcp-go';
const SERVERS: ServerKind[] = ['rxkcp --workers 0', 'rxkcp --workers 1', 'rxkcp --workers 2', 'kcp-go'];

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function rxServer(workers: number, flags: string[]): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'echo', '--listen', '127.0.0.1:0', '--workers', String(workers), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.on('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"addr":"[^"]*:(\d+)"/.exec(buf);
      if (m) {
        buf = '';
        resolve({ pid: child.pid!, port: Number(m[1]), stop: () => new Promise((r) => (child.once('close', () => r()), child.kill('SIGTERM'))) });
      }
    });
  });
}

async function server(kind: ServerKind, flags = rxFlags): Promise<Server> {
  if (kind !== 'kcp-go') return rxServer(Number(kind.slice(-1)), flags);
  const peer = await startGoPeer('echo', go);
  return { pid: peer.process.pid!, port: peer.port, stop: () => peer.stop(30_000).then(() => undefined, () => void peer.process.kill('SIGKILL')) };
}

interface Run {
  /** MB/s echoed by all clients together (10^6 bytes each way). */
  aggregate: number;
  /** Server CPU seconds per MiB echoed. */
  cpuPerMiB: number;
  ok: boolean;
}

async function run(kind: ServerKind, clients: number): Promise<Run> {
  const s = await server(kind);
  await sleep(200);
  const bytes = Math.floor((MB * 2 ** 20) / clients);
  const cpu0 = procStats(s.pid).cpu;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, () => runGoSend({ ...go, connect: `127.0.0.1:${s.port}`, bytes }, { timeoutMs: 900_000 })));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = procStats(s.pid).cpu - cpu0;
  await s.stop();
  const ok = results.every((r) => r.ok);
  return { aggregate: (bytes * clients) / 1e6 / elapsed, cpuPerMiB: cpu / ((bytes * clients) / 2 ** 20), ok };
}

function machine(): string {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '') commit += ' (with local changes)';
  } catch {
    // not a git checkout
  }
  const cpu = cpus();
  let goVersion = 'none';
  try {
    goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    // no Go
  }
  return `commit ${commit}; Node ${process.versions.node}; ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}; ${goVersion}; kcp-go 5.6.1 (Debian)`;
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

if (!haveGoPeer()) {
  console.error('bench:workers needs Go and kcp-go 5.6.1 (golang-go golang-github-xtaci-kcp-dev): the clients are kcp-go');
  process.exit(1);
}
await buildGoPeer();
const ranOn = machine();
const loadBefore = load();
console.log(`bench:workers on ${ranOn}; load average before: ${loadBefore}`);

const lines: string[] = [];
lines.push(`### Aggregate echo throughput (${MB} MiB in all per run, salsa20 + FEC 10/3, fast3, median of ${ROUNDS} rounds)`, '');
lines.push('| kcp-go clients | server | MB/s in all (each way) | server CPU s / MiB | × --workers 1 | × kcp-go |', '| --: | --- | --: | --: | --: | --: |');
for (const clients of CLIENTS) {
  const runs = new Map<ServerKind, Run[]>(SERVERS.map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // alternate: each round in another order, so a slow spell of the machine falls on every server
    const order = r % 2 === 0 ? SERVERS : [...SERVERS].reverse();
    for (const kind of order) {
      const x = await run(kind, clients);
      runs.get(kind)!.push(x);
      console.log(JSON.stringify({ clients, server: kind, round: r + 1, mb_per_s: Number(x.aggregate.toFixed(2)), cpu_s_per_mib: Number(x.cpuPerMiB.toFixed(4)), ok: x.ok, load: load() }));
    }
  }
  const med = (k: ServerKind) => median(runs.get(k)!.map((x) => x.aggregate));
  for (const kind of SERVERS) {
    const rs = runs.get(kind)!;
    const failed = rs.filter((x) => !x.ok).length;
    const spread = rs.map((x) => x.aggregate.toFixed(1)).join(', ');
    lines.push(`| ${clients} | ${kind} | ${med(kind).toFixed(1)} (${spread})${failed ? ` ${failed} failed` : ''} | ${median(rs.map((x) => x.cpuPerMiB)).toFixed(3)} | ${(med(kind) / med('rxkcp --workers 1')).toFixed(2)} | ${(med(kind) / med('kcp-go')).toFixed(2)} |`);
  }
}

lines.push('', `### ${QUIET.toLocaleString('en')} quiet sessions (64 bytes every 500 ms each, no crypto or FEC, mode normal; ${QUIET_SECONDS} s measured)`, '');
lines.push('| server | echo p50 ms | echo p99 ms | echoes | server CPU % of one core | server RSS MiB |', '| --- | --: | --: | --: | --: | --: |');
for (const workers of [1, 2]) {
  const s = await rxServer(workers, quietFlags);
  const sessions = await openSessions(s.port, QUIET);
  const q = await quietLoad(sessions, s.pid, QUIET_SECONDS);
  for (const x of sessions) x.close();
  await s.stop();
  const row = `| rxkcp --workers ${workers} | ${quantile(q.latencies, 0.5).toFixed(1)} | ${quantile(q.latencies, 0.99).toFixed(1)} | ${q.latencies.length} (${q.lost} late) | ${q.serverCpu.toFixed(0)} | ${(q.serverRss / 2 ** 20).toFixed(0)} |`;
  lines.push(row);
  console.log(JSON.stringify({ quiet: QUIET, workers, p50_ms: quantile(q.latencies, 0.5), p99_ms: quantile(q.latencies, 0.99), echoes: q.latencies.length, late: q.lost, server_cpu_pct: q.serverCpu, client_cpu_pct: q.clientCpu, rss_mib: q.serverRss / 2 ** 20, load: load() }));
}

const loadAfter = load();
const header = `bench:workers, ${new Date().toISOString()}: ${ranOn}; load average before ${loadBefore}, after ${loadAfter}`;
const table = [header, '', ...lines, ''].join('\n');
console.log(`\n${table}`);
mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
const file = fileURLToPath(new URL('./out/workers.md', import.meta.url));
writeFileSync(file, table);
console.log(`written to ${file}`);
process.exit(0);
