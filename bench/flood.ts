/**
 * `npm run bench:flood`: what forged datagrams cost an `rxkcp echo` server (its own process, crypt
 * none, no FEC: anyone can forge its datagrams), and whether real clients get through a flood.
 * 1. One-datagram sources: FLOOD_SOURCES (default 4000) source ports each send one PUSH with sn
 *    1..127 and una 0 (what a fresh peer sends after a lost sn 0) and never send again, against a
 *    server with --idle-timeout 0 (sessions never expire) and --sn-zero-wait 5000. Reports the
 *    server's CPU (% of one core) and RSS before, while they are held and once they are dropped.
 * 2. Sustained flood: a second process (bench/flooder in Go where Go is installed, else Node;
 *    FLOOD_WITH=node forces Node) sends such datagrams as fast as one core lets it, from
 *    FLOOD_PORTS (default 8192) source ports in turn, for FLOOD_SECONDS (default 20), against a
 *    server with the CLI defaults but --max-half-open 2048 (so the flood keeps evicting). Meanwhile
 *    an rxkcp client and, where Go is installed, a kcp-go client (test/interop/kcppeer) each dial,
 *    send 1,000 bytes and wait for the echo, FLOOD_TRIES (default 3) times each; reports each
 *    time from dial to the verified echo, the flood rate and the server's counters.
 * Prints JSON lines. The machine's load average is printed with them: figures from a shared
 * machine are only as good as its quiet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, timeout } from 'rxjs';
import { dial } from '../operators/io/index.js';
import { addCrcHeader, encryptDatagram } from '../src/crypt/packet.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { createNodeCrypt } from '../src/node/crypt.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildGoPeer, buildGoProgram, haveGoPeer, runGoSend } from '../test/interop/go-peer.js';
import { printRanOn } from './lib.js';

printRanOn();
const emit = (row: Record<string, unknown>): void => console.log(JSON.stringify(row));

const here = fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const plain = ['--crypt', 'none', '--datashard', '0', '--parityshard', '0'];
const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** A forged first-flight datagram in 'none' framing: PUSH sn 1..127, una 0, 16 bytes. */
function forged(conv: number, sn: number): Uint8Array {
  const crypt = createNodeCrypt('none', new Uint8Array(0));
  if (crypt.kind !== 'framed') throw new Error('none is framed like a CFB cipher');
  const dg = addCrcHeader(encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn, una: 0 }, new Uint8Array(16)), crypt.crc32);
  encryptDatagram(dg, crypt.block, crypt.random);
  return dg;
}

async function bindMany(n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) sockets.push(createSocket('udp4'));
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
  return sockets;
}

interface Server {
  child: ChildProcess;
  port: number;
  /** The last stats line. */
  last(): Record<string, any>;
}

function startServer(flags: string[]): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'echo', '--listen', '127.0.0.1:0', ...plain, '--stats-interval', '250', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last: Record<string, any> = {};
  return new Promise((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, any>;
        buf = buf.slice(i + 1);
        if (line.ready) resolve({ child, port: Number(/:(\d+)$/.exec(line.addr as string)![1]), last: () => last });
        else last = line;
      }
    });
  });
}

/** RSS of a process in MB (from /proc). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** CPU time of a process in seconds (user + system, from /proc). */
function cpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** CPU of `pid` over `ms`, in % of one core. */
async function cpuPercent(pid: number, ms: number): Promise<number> {
  const c0 = cpuS(pid);
  const t0 = performance.now();
  await sleep(ms);
  return (100 * (cpuS(pid) - c0)) / ((performance.now() - t0) / 1000);
}

async function oneDatagramSources(): Promise<void> {
  const n = env('FLOOD_SOURCES', 4000);
  const server = await startServer(['--idle-timeout', '0', '--sn-zero-wait', '5000']);
  const pid = server.child.pid!;
  await sleep(1000);
  const before = { cpu_pct: await cpuPercent(pid, 3000), rss_mb: rssMb(pid) };
  const sockets = await bindMany(n);
  for (let i = 0; i < n; i += 256) {
    await Promise.all(sockets.slice(i, i + 256).map((s, j) => new Promise<void>((r) => s.send(forged(1 + i + j, 1 + ((i + j) % 127)), server.port, '127.0.0.1', () => r()))));
  }
  await sleep(500);
  const heldLine = server.last();
  const held = { cpu_pct: await cpuPercent(pid, 3000), rss_mb: rssMb(pid), half_open: heldLine.half_open, sessions: heldLine.sessions };
  while ((server.last().half_open ?? 1) > 0) await sleep(100);
  await sleep(500);
  const dropped = { cpu_pct: await cpuPercent(pid, 3000), rss_mb: rssMb(pid), half_open: server.last().half_open, sessions: server.last().sessions, HalfOpenTimeouts: server.last().stats.HalfOpenTimeouts };
  emit({ bench: 'flood', part: 'one-datagram sources', sources: n, idle_timeout: 0, before, held, dropped, loadavg: loadavg() });
  for (const s of sockets) s.close();
  server.child.kill('SIGTERM');
}

/** The flooding process: sends forged datagrams to `port` from `ports` sockets until `seconds` pass; prints its rate. */
async function flooder(port: number, ports: number, seconds: number): Promise<void> {
  const sockets = await bindMany(ports);
  const pool = Array.from({ length: 4096 }, (_, i) => forged(0x10000 + i, 1 + (i % 127)));
  let sent = 0;
  let inFlight = 0;
  console.log(JSON.stringify({ flooding: true }));
  const end = performance.now() + seconds * 1000;
  const done = () => inFlight--;
  let i = 0;
  while (performance.now() < end) {
    // as many sends in flight as the socket layer keeps up with, yielding so the callbacks run
    for (let k = 0; k < 512 && inFlight < 4096; k++, i++) {
      inFlight++;
      sent++;
      sockets[i % ports]!.send(pool[i % pool.length]!, port, '127.0.0.1', done);
    }
    await new Promise((r) => setImmediate(r));
  }
  console.log(JSON.stringify({ sent, pps: Math.round(sent / seconds) }));
  for (const s of sockets) s.close();
}

/**
 * `tries` times: an rxkcp client dials, sends 1,000 bytes and waits for the echo; then (with Go) a
 * kcp-go client does the same. Each time from dial to the verified echo in ms (-1 or the error: not served within 5 s).
 */
async function clients(port: number, tries: number, go: boolean): Promise<{ rxkcp: number[]; kcpgo: (number | string)[] }> {
  const rxkcp: number[] = [];
  const kcpgo: (number | string)[] = [];
  for (let t = 0; t < tries; t++) {
    const t0 = performance.now();
    try {
      const c = await dial({ connect: `127.0.0.1:${port}`, crypt: 'none', nodelay: 1, interval: 10, resend: 2, nc: 1 });
      c.write(new Uint8Array(1000).fill(t));
      const m = await firstValueFrom(c.data$.pipe(timeout(5000)));
      if (m.length !== 1000) throw new Error(`echo of ${m.length} bytes`);
      rxkcp.push(Math.round(performance.now() - t0));
      c.close({ linger: false });
    } catch {
      rxkcp.push(-1);
    }
    if (go) {
      const r = await runGoSend({ connect: `127.0.0.1:${port}`, crypt: 'none', datashard: 0, parityshard: 0, mode: 'fast3', bytes: 1000, msg: 1000, stallTimeoutMs: 5000 }, { timeoutMs: 15_000 }).catch((e: Error) => e);
      kcpgo.push(r instanceof Error ? r.message : r.ok ? Math.round(r.elapsed_ms) : `failed: ${r.error}`);
    }
  }
  return { rxkcp, kcpgo };
}

async function sustainedFlood(): Promise<void> {
  const seconds = env('FLOOD_SECONDS', 20);
  const ports = env('FLOOD_PORTS', 8192);
  const tries = env('FLOOD_TRIES', 3);
  const server = await startServer(['--max-half-open', '2048']);
  const go = haveGoPeer() ? await buildGoPeer().then(() => true, () => false) : false;
  const baseline = await clients(server.port, tries, go); // the same clients before the flood: what the machine's load alone costs
  // bench/flooder (Go, one core) where Go is installed: it sends several times what Node can
  const goFlooder = process.env.FLOOD_WITH !== 'node' && haveGoPeer() ? await buildGoProgram(join(dirname(here), 'flooder'), join(tmpdir(), 'rxkcp-bench-flooder')).catch(() => null) : null;
  const flood = goFlooder
    ? spawn(goFlooder, ['-to', `127.0.0.1:${server.port}`, '-ports', String(ports), '-seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, ['--import', 'tsx', here, '--flooder', String(server.port), String(ports), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let floodOut = '';
  await new Promise<void>((resolve) => {
    flood.stdout!.on('data', (d: Buffer) => {
      floodOut += d.toString();
      if (floodOut.includes('"flooding"')) resolve();
    });
  });
  await sleep(1000); // the flood is under way
  const serverCpu = cpuPercent(server.child.pid!, 2000);
  const during = await clients(server.port, tries, go);
  const cpu = await serverCpu;
  const line = server.last();
  const stillFlooding = !floodOut.includes('"sent"');
  await new Promise((r) => flood.once('close', r));
  emit({
    bench: 'flood',
    part: 'sustained flood',
    flood: JSON.parse(floodOut.split('\n').filter(Boolean).at(-1) ?? '{}'),
    flooder: goFlooder ? 'go (bench/flooder)' : 'node',
    flood_ports: ports,
    server_cpu_pct: cpu,
    server_rss_mb: rssMb(server.child.pid!),
    baseline_no_flood: baseline,
    rxkcp_client_ms: during.rxkcp,
    kcpgo_client_ms: go ? during.kcpgo : 'no Go',
    clients_done_while_flooding: stillFlooding,
    sessions: line.sessions,
    half_open: line.half_open,
    HalfOpenOpens: line.stats.HalfOpenOpens,
    HalfOpenEvicted: line.stats.HalfOpenEvicted,
    SessionsRefused: line.stats.SessionsRefused,
    loadavg: loadavg(),
  });
  server.child.kill('SIGTERM');
}

if (process.argv[2] === '--flooder') {
  await flooder(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  await oneDatagramSources();
  await sustainedFlood();
}
