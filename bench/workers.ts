/**
 * `npm run bench:workers`: what worker threads give an rxkcp server, against kcp-go's own.
 *
 * 1. Aggregate echo throughput: 1, 4 and 16 kcp-go clients (the interop peer, one process each)
 *    echo BENCH_MB MiB in all at once through `rxkcp echo --workers 0` (one thread, no workers),
 *    `--workers 1`, `--workers 2` and kcp-go's echo server; the servers alternate within each of
 *    BENCH_ROUNDS rounds and the median is reported, with the server's CPU seconds per MiB echoed,
 *    where that CPU went (each JavaScript thread: the main thread, each worker; the other threads:
 *    V8's GC and compiler, libuv), how much of the machine was idle meanwhile, and how many
 *    datagrams the kernel dropped at the server's socket(s) because its receive queue was full.
 *    Settings as bench:speed's first row: salsa20 + FEC 10/3, fast3, mtu 1400, windows 1024,
 *    stream mode.
 * 2. Quiet sessions: BENCH_QUIET (default 5000) client sessions, each sending a message every
 *    BENCH_QUIET_EVERY_MS (default 2500: 2,000 messages a second in all, what bench:sessions puts on
 *    1,000 sessions; at 2 a second each the client processes, which share this 2-core machine with
 *    the server, run late and the row would give no latency), spread over BENCH_QUIET_CLIENTS client
 *    processes, against `--workers 0`, `1` and `2` (BENCH_QUIET_WORKERS):
 *    server RSS at start, with the sessions idle and under the load, and per idle session; p50/p99
 *    echo round trip and server CPU. The clients are rxkcp (bench/quiet-client.ts, the default:
 *    the cheaper) or, with BENCH_QUIET_CLIENT=kcp-go, kcp-go (kcppeer quiet). Each client reports
 *    how late its process ran and its sends against the schedule; when a client was late by more
 *    than CLIENT_LATE_MS for more than CLIENT_LATE_SHARE of the time, or sent fewer than
 *    CLIENT_SEND_SHARE of its schedule, the row gives no latency: it would be the client's, not
 *    the server's.
 * 3. Start-up: `rxkcp echo --workers 0, 1, 2, 4` started BENCH_STARTS times each: ms until its
 *    ready line, and the process's CPU by then (the ready line's cpu_s).
 * BENCH_ONLY (`throughput,quiet,startup`, the default all) picks parts. Prints what it ran on
 * (commit, Node, CPU, load average before and after), then a Markdown table, also written to
 * bench/out/workers.md. Needs `npm run build` (the script does it) and Go (for part 1).
 * @module
 */
import { execFileSync, spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, KCPPEER_BIN, runGoSend, startGoPeer, type GoCrypt } from '../test/interop/go-peer.js';
import { median, printRanOn, ranOn } from './lib.js';
import { CLIENT_LATE_MS, machineIdle, procStats, quantile, sleep, socketDrops, threadCpu, threadShares, type QuietLoad } from './quiet-sessions.js';

printRanOn();

const MB = Number(process.env.BENCH_MB ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '1,4,16').split(',').map(Number);
const QUIET = Number(process.env.BENCH_QUIET ?? 5000);
const QUIET_SECONDS = Number(process.env.BENCH_QUIET_SECONDS ?? 20);
/** Each quiet session sends one 64-byte message this often (ms). */
const QUIET_EVERY_MS = Number(process.env.BENCH_QUIET_EVERY_MS ?? 2500);
/** Client processes the quiet sessions are spread over: one process's event loop cannot time 5,000 sessions' echoes. */
const QUIET_CLIENTS = Number(process.env.BENCH_QUIET_CLIENTS ?? Math.max(2, Math.ceil(QUIET / 1000)));
/** What the quiet clients are: rxkcp sessions (bench/quiet-client.ts) or kcp-go's (kcppeer quiet). */
const QUIET_CLIENT = process.env.BENCH_QUIET_CLIENT ?? 'rxkcp';
if (QUIET_CLIENT !== 'rxkcp' && QUIET_CLIENT !== 'kcp-go') throw new Error(`BENCH_QUIET_CLIENT must be rxkcp or kcp-go, got ${QUIET_CLIENT}`);
/** Warm-up (ms) before the quiet sessions' echoes are timed. */
const QUIET_WARMUP_MS = 5000;
/**
 * A client that ran late by more than CLIENT_LATE_MS for more than this share of the time timed
 * about as large a share of its echoes late by as much: half of the 1 % beyond a p99, so that the
 * p99 is the server's.
 */
const CLIENT_LATE_SHARE = 0.005;
/** A client that sent fewer than this share of the messages its schedule called for was not loading the server as stated. */
const CLIENT_SEND_SHARE = 0.95;
const STARTS = Number(process.env.BENCH_STARTS ?? 5);
/** The `--workers` values the quiet sessions are served with. */
const QUIET_WORKERS = (process.env.BENCH_QUIET_WORKERS ?? '0,1,2').split(',').map(Number);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'throughput,quiet,startup').split(','));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const quietClient = fileURLToPath(new URL('./quiet-client.ts', import.meta.url));
const go = { crypt: 'salsa20' as GoCrypt, key: 'bench', datashard: 10, parityshard: 3, mode: 'fast3', mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true } as const;
const rxFlags = ['--crypt', 'salsa20', '--key', 'bench', '--datashard', '10', '--parityshard', '3', '--mode', 'fast3', '--mtu', '1400', '--sndwnd', '1024', '--rcvwnd', '1024', '--stream', '--max-sessions', '0', '--idle-timeout', '0'];
const quietFlags = ['--crypt', 'null', '--datashard', '0', '--parityshard', '0', '--mode', 'normal', '--max-sessions', '0', '--idle-timeout', '0'];

/** Servers and clients still running: a benchmark that fails leaves none of them behind. */
const live = new Set<ChildProcess>();
function track<C extends ChildProcess>(child: C): C {
  live.add(child);
  child.on('close', () => live.delete(child));
  return child;
}
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

type ServerKind = 'rxkcp --workers 0' | 'rxkcp --workers 1' | 'rxkcp --workers 2' | 'kcp-go';
const SERVERS: ServerKind[] = ['rxkcp --workers 0', 'rxkcp --workers 1', 'rxkcp --workers 2', 'kcp-go'];

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

interface RxServer extends Server {
  /** The ready line: `cpu_s` is the process's CPU until then. */
  ready: { cpu_s: number };
  /** ms from spawning the process to its ready line. */
  readyMs: number;
}

function rxServer(workers: number, flags: string[]): Promise<RxServer> {
  const t0 = performance.now();
  const child = track(spawn(process.execPath, [cli, 'echo', '--listen', '127.0.0.1:0', '--workers', String(workers), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] }));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.on('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = /^\{"ready".*$/m.exec(buf);
      if (line) {
        buf = '';
        const readyMs = performance.now() - t0;
        const ready = JSON.parse(line[0]) as { addr: string; cpu_s: number };
        resolve({ pid: child.pid!, port: Number(/:(\d+)$/.exec(ready.addr)![1]), ready, readyMs, stop: () => new Promise((r) => (child.once('close', () => r()), child.kill('SIGTERM'))) });
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
  /** % of one core of each of the server's JavaScript threads (busiest first), and of its other threads together. */
  js: number[];
  other: number;
  /** Share of the machine's CPU time left idle during the run (server, clients and everything else together). */
  idle: number;
  /** Datagrams the kernel dropped at the server's socket(s): its receive queue was full. */
  drops: number;
  ok: boolean;
}

async function run(kind: ServerKind, clients: number): Promise<Run> {
  const s = await server(kind);
  await sleep(200);
  const bytes = Math.floor((MB * 2 ** 20) / clients);
  const cpu0 = procStats(s.pid).cpu;
  const threads0 = threadCpu(s.pid);
  const idle0 = machineIdle();
  const drops0 = socketDrops(s.port);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, () => runGoSend({ ...go, connect: `127.0.0.1:${s.port}`, bytes }, { timeoutMs: 900_000 })));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = procStats(s.pid).cpu - cpu0;
  const { js, other } = threadShares(threads0, threadCpu(s.pid), elapsed);
  const idle1 = machineIdle();
  const drops = socketDrops(s.port) - drops0;
  await s.stop();
  const ok = results.every((r) => r.ok);
  return { aggregate: (bytes * clients) / 1e6 / elapsed, cpuPerMiB: cpu / ((bytes * clients) / 2 ** 20), js, other, idle: (idle1.idle - idle0.idle) / (idle1.total - idle0.total), drops, ok };
}

function goVersion(): string {
  try {
    return execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'no Go';
  }
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

const machine = `${ranOn()}; ${goVersion()}; kcp-go 5.6.1 (Debian)`;
const loadBefore = load();
const lines: string[] = [];

if (ONLY.has('throughput')) {
  if (!haveGoPeer()) {
    console.error('bench:workers needs Go and kcp-go 5.6.1 (golang-go golang-github-xtaci-kcp-dev): the clients are kcp-go');
    process.exit(1);
  }
  await buildGoPeer();
  lines.push(`### Aggregate echo throughput (${MB} MiB in all per run, salsa20 + FEC 10/3, fast3, median of ${ROUNDS} rounds)`, '');
  lines.push(
    '| kcp-go clients | server | MB/s in all (each way) | server CPU s / MiB | × --workers 1 | × kcp-go | server JS threads, % of a core | server other threads % | machine idle % | dropped at the server socket |',
    '| --: | --- | --: | --: | --: | --: | --: | --: | --: | --: |'
  );
  for (const clients of CLIENTS) {
    const runs = new Map<ServerKind, Run[]>(SERVERS.map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // alternate: each round in another order, so a slow spell of the machine falls on every server
      const order = r % 2 === 0 ? SERVERS : [...SERVERS].reverse();
      for (const kind of order) {
        const x = await run(kind, clients);
        runs.get(kind)!.push(x);
        console.log(JSON.stringify({ clients, server: kind, round: r + 1, mb_per_s: Number(x.aggregate.toFixed(2)), cpu_s_per_mib: Number(x.cpuPerMiB.toFixed(4)), js_threads_pct: x.js.map(Math.round), other_threads_pct: Math.round(x.other), machine_idle_pct: Math.round(x.idle * 100), drops: x.drops, ok: x.ok, load: load() }));
      }
    }
    const med = (k: ServerKind) => median(runs.get(k)!.map((x) => x.aggregate));
    for (const kind of SERVERS) {
      const rs = runs.get(kind)!;
      const failed = rs.filter((x) => !x.ok).length;
      const spread = rs.map((x) => x.aggregate.toFixed(1)).join(', ');
      // per-thread shares: the median of each rank (busiest thread, second busiest, ...) over the rounds
      const ranks = Math.max(...rs.map((x) => x.js.length));
      const js = kind === 'kcp-go' ? 'Go' : Array.from({ length: ranks }, (_, i) => median(rs.map((x) => x.js[i] ?? 0)).toFixed(0)).join(' + ');
      lines.push(
        `| ${clients} | ${kind} | ${med(kind).toFixed(1)} (${spread})${failed ? ` ${failed} failed` : ''} | ${median(rs.map((x) => x.cpuPerMiB)).toFixed(3)} | ${(med(kind) / med('rxkcp --workers 1')).toFixed(2)} | ${(med(kind) / med('kcp-go')).toFixed(2)} | ${js} | ${kind === 'kcp-go' ? '' : median(rs.map((x) => x.other)).toFixed(0)} | ${median(rs.map((x) => x.idle * 100)).toFixed(0)} | ${median(rs.map((x) => x.drops)).toFixed(0)} |`
      );
    }
  }
}

/** What a client process of the quiet load measured. */
type ClientResult = Omit<QuietLoad, 'serverCpu' | 'serverRss'>;
/** A client process of the quiet load, once it has opened its sessions. */
interface QuietClient {
  child: ChildProcessByStdio<Writable, Readable, null>;
  result: Promise<ClientResult>;
}

/** Starts a client process with `n` sessions; resolves once they are open. */
function quietClientProcess(port: number, n: number): Promise<QuietClient> {
  const [command, args] =
    QUIET_CLIENT === 'kcp-go'
      ? [KCPPEER_BIN, ['quiet', '--connect', `127.0.0.1:${port}`, '--sessions', String(n), '--warmup', `${QUIET_WARMUP_MS}ms`, '--seconds', `${QUIET_SECONDS}s`, '--crypt', 'null', '--datashard', '0', '--parityshard', '0', '--mode', 'normal', '--sockbuf', String(256 * 1024), '--every', `${QUIET_EVERY_MS}ms`]]
      : [process.execPath, [...process.execArgv, quietClient, String(port), String(n), String(QUIET_WARMUP_MS), String(QUIET_SECONDS), String(QUIET_EVERY_MS)]];
  const child = track(spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  let buf = '';
  let isOpen = false;
  let opened!: () => void;
  let done!: (r: ClientResult) => void;
  let failed!: (e: Error) => void;
  const result = new Promise<ClientResult>((r, reject) => ((done = r), (failed = reject)));
  const open = new Promise<void>((r, reject) => {
    opened = r;
    // a client that ends (its output read to the end) before its line would leave the benchmark waiting for ever
    child.on('close', (code, signal) => {
      const e = new Error(`bench:workers: a quiet-session client exited (${signal ?? `code ${code}`}) before it reported ${isOpen ? 'its result' : 'its sessions open'}${buf.length > 0 ? ` (${buf.length} bytes of an unfinished line)` : ''}`);
      reject(e);
      failed(e);
    });
  });
  result.catch(() => {}); // reported where it is awaited
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, i)) as { opened?: number; result?: ClientResult };
      buf = buf.slice(i + 1);
      if (line.opened !== undefined) (isOpen = true), opened();
      if (line.result !== undefined) done(line.result);
    }
  });
  return open.then(() => ({ child, result }));
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
if (ONLY.has('quiet')) {
  if (QUIET_CLIENT === 'kcp-go') await buildGoPeer();
  lines.push(
    '',
    `### ${QUIET.toLocaleString('en')} quiet sessions (64 bytes every ${QUIET_EVERY_MS} ms each, no crypto or FEC, mode normal; ${QUIET_SECONDS} s measured; ${QUIET_CLIENT} clients in ${QUIET_CLIENTS} processes)`,
    '',
    'RSS of the whole server process (every worker): at its ready line, with the sessions open and idle, and under the load; per idle session: (idle − at ready) / sessions.',
    '',
    `| server | RSS at ready MiB | RSS idle MiB | KiB per idle session | RSS under load MiB | echo p50 ms | echo p99 ms | echoes (sent / scheduled) | server CPU % of one core | of which JS threads | clients: time late > ${CLIENT_LATE_MS} ms, delay p99 (max) ms; CPU % |`,
    '| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |'
  );
  for (const workers of QUIET_WORKERS) {
    const s = await rxServer(workers, quietFlags);
    await sleep(1000);
    const rssReady = procStats(s.pid).rss;
    const share = (i: number) => Math.floor(QUIET / QUIET_CLIENTS) + (i < QUIET % QUIET_CLIENTS ? 1 : 0);
    const clients: QuietClient[] = [];
    for (let i = 0; i < QUIET_CLIENTS; i++) clients.push(await quietClientProcess(s.port, share(i))); // one after another: the server's half-open bound is not the subject
    await sleep(2000);
    const rssIdle = procStats(s.pid).rss;
    for (const c of clients) c.child.stdin.write('start\n');
    await sleep(QUIET_WARMUP_MS);
    const before = procStats(s.pid);
    const threadsBefore = threadCpu(s.pid);
    const t0 = performance.now();
    await sleep(QUIET_SECONDS * 1000);
    const after = procStats(s.pid);
    const seconds = (performance.now() - t0) / 1000;
    const serverCpu = ((after.cpu - before.cpu) / seconds) * 100;
    const threads = threadShares(threadsBefore, threadCpu(s.pid), seconds);
    const results = await Promise.all(clients.map((c) => c.result));
    await s.stop();
    const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const sent = results.reduce((n, r) => n + r.sent, 0);
    const scheduled = results.reduce((n, r) => n + r.scheduled, 0);
    const lagged = results.filter((r) => r.lateShare > CLIENT_LATE_SHARE || r.sent < CLIENT_SEND_SHARE * r.scheduled);
    const worstLate = Math.max(...results.map((r) => r.lateShare));
    const clientCpu = results.map((r) => r.clientCpu.toFixed(0)).join(', ');
    const p = (q: number) => (lagged.length > 0 ? `— (${lagged.length} of ${results.length} clients lagged)` : quantile(latencies, q).toFixed(1));
    const perSession = (rssIdle - rssReady) / QUIET / 1024;
    lines.push(
      `| rxkcp --workers ${workers} | ${mib(rssReady)} | ${mib(rssIdle)} | ${perSession.toFixed(1)} | ${mib(after.rss)} | ${p(0.5)} | ${p(0.99)} | ${latencies.length} (${sent} / ${scheduled}) | ${serverCpu.toFixed(0)} | ${threads.js.map((x) => x.toFixed(0)).join(' + ')} | ${results.map((r) => `${(r.lateShare * 100).toFixed(1)} % ${r.loopDelayP99.toFixed(0)} (${r.loopDelayMax.toFixed(0)})`).join(', ')}; ${clientCpu} |`
    );
    console.log(
      JSON.stringify({
        quiet: QUIET,
        workers,
        client_processes: QUIET_CLIENTS,
        rss_ready_mib: rssReady / 2 ** 20,
        rss_idle_mib: rssIdle / 2 ** 20,
        kib_per_idle_session: perSession,
        rss_load_mib: after.rss / 2 ** 20,
        p50_ms: lagged.length ? null : quantile(latencies, 0.5),
        p99_ms: lagged.length ? null : quantile(latencies, 0.99),
        echoes: latencies.length,
        sent,
        scheduled,
        clients_lagged: lagged.length,
        client_late_share: worstLate,
        server_cpu_pct: serverCpu,
        js_threads_pct: threads.js.map(Math.round),
        load: load(),
      })
    );
  }
  lines.push(
    '',
    `A row gives no latency when a client process ran late by more than ${CLIENT_LATE_MS} ms for more than ${CLIENT_LATE_SHARE * 100} % of the time or sent fewer than ${CLIENT_SEND_SHARE * 100} % of its schedule: the figure would be the client's delay. The clients share the machine with the server: on 2 cores their sessions (kcptun's normal mode) cost about as much as the server's, which is why the load is a message every ${QUIET_EVERY_MS} ms a session. \`--workers 0\` serves every session on the main thread; the JS threads column gives each thread's share, the main thread of a server with workers last.`
  );
}

if (ONLY.has('startup')) {
  lines.push('', `### Start-up of \`rxkcp echo\` (median of ${STARTS} starts; salsa20 + FEC 10/3)`, '', '| --workers | ms to the ready line | process CPU ms by then |', '| --: | --: | --: |');
  for (const workers of [0, 1, 2, 4]) {
    const ms: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const s = await rxServer(workers, rxFlags);
      ms.push(s.readyMs);
      cpu.push(s.ready.cpu_s * 1000);
      await s.stop();
    }
    lines.push(`| ${workers} | ${median(ms).toFixed(0)} | ${median(cpu).toFixed(0)} |`);
    console.log(JSON.stringify({ startup: true, workers, ready_ms: median(ms), cpu_ms: median(cpu), cpu_all: cpu.map(Math.round), load: load() }));
  }
}

const loadAfter = load();
const header = `bench:workers, ${new Date().toISOString()}: ${machine}; load average before ${loadBefore}, after ${loadAfter}`;
const table = [header, '', ...lines, ''].join('\n');
console.log(`\n${table}`);
mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
const file = fileURLToPath(new URL('./out/workers.md', import.meta.url));
writeFileSync(file, table);
console.log(`written to ${file}`);
process.exit(0);
