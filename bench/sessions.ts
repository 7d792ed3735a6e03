/**
 * `npm run bench:sessions`: many sessions against one echo server in another process, an rxkcp
 * one and, where Go is installed, a kcp-go one (the interop peer) under the same client load.
 * 1. Memory: server RSS with 1 session, then with 1,000 idle ones; bytes per idle session; then
 *    the same 1,000 sessions streaming (each writing 4 KiB every 250 ms, 16 MB/s echoed in all).
 *    RSS counts what V8 has not collected yet and its heap's free room: for rxkcp, a second
 *    server with the same options also reports its V8 heap (and memory outside it, such as typed
 *    arrays' bytes) after a full GC, with 1 and with 1,000 idle sessions: what a session holds.
 * 2. Load: BENCH_SESSIONS (default 5000, then 10000) client sessions, each sending a 64-byte message
 *    every 500 ms and timing its echo, for BENCH_SECONDS (default 20) after a 5 s warm-up.
 *    Reports server CPU % (of one core), p50/p99 echo latency and server RSS, as JSON lines; the
 *    kcp-go rows carry the CPU ratio (kcp-go's CPU / ours: above 1 means rxkcp used less).
 * No crypto or FEC (the per-session cost is the subject); kcptun mode normal (interval 40 ms).
 * SERVER_NODE_FLAGS passes flags to the server's node (for example `--cpu-prof --cpu-prof-dir=DIR`);
 * BENCH_SKIP_MEMORY=1 skips part 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, startGoPeer } from '../test/interop/go-peer.js';
import { emit, printRanOn } from './lib.js';
import { openSessions, procStats, quantile, quietLoad, sleep } from './quiet-sessions.js';

printRanOn();

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const flags = ['--crypt', 'null', '--datashard', '0', '--parityshard', '0', '--mode', 'normal', '--max-sessions', '0', '--idle-timeout', '0'];

function startServer(): Promise<{ child: ChildProcess; port: number }> {
  const nodeFlags = process.env.SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []; // e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
  const child = spawn(process.execPath, [...nodeFlags, cli, 'echo', '--listen', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"addr":"[^"]*:(\d+)"/.exec(buf);
      if (m) resolve({ child, port: Number(m[1]) });
    });
  });
}

/**
 * An rxkcp echo server as `rxkcp echo` runs it with `flags` (the same listener options, `echo()`
 * per session) that prints its V8 heap and external memory after a full GC for each line on stdin.
 */
function startHeapServer(): Promise<{ child: ChildProcess; port: number; measure(): Promise<{ heap: number; external: number }> }> {
  const io = new URL('../dist/io.js', import.meta.url).href;
  const src = `
    const { Listener, echo } = await import(${JSON.stringify(io)});
    const l = await Listener.listen({ listen: '127.0.0.1:0', crypt: 'null', dataShards: 0, parityShards: 0, mode: 'normal', mtu: 1350, sndWnd: 1024, rcvWnd: 1024 });
    l.sessions$.subscribe((s) => echo(s));
    console.log(JSON.stringify({ port: l.address.port }));
    process.stdin.on('data', async () => {
      for (let i = 0; i < 4; i++) (globalThis.gc(), await new Promise((r) => setTimeout(r, 50)));
      const m = process.memoryUsage();
      console.log(JSON.stringify({ heap: m.heapUsed, external: m.external }));
    });`;
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', src], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: ((l: Record<string, number>) => void)[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) lines.shift()?.(JSON.parse(line) as Record<string, number>);
    }
  });
  const next = () => new Promise<Record<string, number>>((r) => lines.push(r));
  return next().then(({ port }) => ({
    child,
    port: port!,
    measure: () => {
      const m = next();
      child.stdin!.write('\n');
      return m.then(({ heap, external }) => ({ heap: heap!, external: external! }));
    },
  }));
}

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const counts = (process.env.BENCH_SESSIONS ?? '5000,10000').split(',').map(Number);
const servers: ('rxkcp' | 'kcp-go')[] = haveGoPeer() ? ['rxkcp', 'kcp-go'] : ['rxkcp'];
if (haveGoPeer()) await buildGoPeer();

/** An echo server of either kind with the same settings: its pid, port and a stop(). */
async function echoServer(kind: 'rxkcp' | 'kcp-go'): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  if (kind === 'rxkcp') {
    const { child, port } = await startServer();
    return { pid: child.pid!, port, stop: () => new Promise((r) => (child.once('close', () => r()), child.kill('SIGTERM'))) };
  }
  const go = await startGoPeer('echo', { crypt: 'null', datashard: 0, parityshard: 0, mode: 'normal' });
  return { pid: go.process.pid!, port: go.port, stop: () => go.stop(30_000).then(() => undefined, () => void go.process.kill('SIGKILL')) };
}

// 1. memory per idle session, and with the same sessions streaming (rxkcp, then kcp-go)
for (const kind of process.env.BENCH_SKIP_MEMORY ? [] : servers) {
  const server = await echoServer(kind);
  await sleep(300);
  const one = await openSessions(server.port, 1);
  await sleep(500);
  const rss1 = procStats(server.pid).rss;
  const more = await openSessions(server.port, 999);
  await sleep(2000);
  const rss1000 = procStats(server.pid).rss;
  emit({ name: `${kind} server RSS with 1 session`, value: rss1 / 2 ** 20, unit: 'MiB' });
  emit({ name: `${kind} server RSS with 1,000 idle sessions`, value: rss1000 / 2 ** 20, unit: 'MiB' });
  emit({ name: `${kind} server bytes per idle session (RSS)`, value: (rss1000 - rss1) / 999, unit: 'bytes' });
  // the same sessions streaming: 4 KiB from each every 250 ms, echoed; RSS sampled over 10 s
  const all = [...one, ...more];
  let echoed = 0;
  for (const s of all) s.data$.subscribe({ next: (m) => (echoed += m.length), error: () => {} });
  let k = 0;
  const chunk = new Uint8Array(4096);
  const streaming = setInterval(() => {
    for (let j = 0; j < 40; j++) {
      const s = all[k++ % all.length]!;
      if (!s.closed) s.write(chunk);
    }
  }, 10);
  await sleep(3000);
  const cpu0 = procStats(server.pid).cpu;
  const e0 = echoed;
  const rssStreaming: number[] = [];
  for (let i = 0; i < 10; i++) (await sleep(1000), rssStreaming.push(procStats(server.pid).rss));
  const cpu1 = procStats(server.pid).cpu;
  clearInterval(streaming);
  emit({ name: `${kind} server RSS with 1,000 sessions streaming (max over 10 s)`, value: Math.max(...rssStreaming) / 2 ** 20, unit: 'MiB', note: `echoed ${((echoed - e0) / 10 / 1e6).toFixed(1)} MB/s in all, server CPU ${((cpu1 - cpu0) * 10).toFixed(0)} % of one core` });
  for (const s of all) s.close({ linger: false }); // the sockets now, not after a linger
  await server.stop();
  if (kind !== 'rxkcp') continue;
  // what an idle session holds, without V8's uncollected garbage and free room
  const heapServer = await startHeapServer();
  const first = await openSessions(heapServer.port, 1);
  await sleep(500);
  const m1 = await heapServer.measure();
  const rest = await openSessions(heapServer.port, 999);
  await sleep(2000);
  const m1000 = await heapServer.measure();
  emit({ name: 'rxkcp server V8 heap per idle session (after GC)', value: (m1000.heap - m1.heap) / 999, unit: 'bytes' });
  emit({ name: 'rxkcp server memory outside the heap per idle session (after GC)', value: (m1000.external - m1.external) / 999, unit: 'bytes' });
  for (const s of [...first, ...rest]) s.close({ linger: false }); // the socket now, not after a linger: the next server's sessions need the descriptors
  heapServer.child.kill('SIGTERM');
}

// 2. many sessions at 2 messages per second
const cpuBy = new Map<string, number>();
for (const n of counts) {
  for (const kind of servers) {
    const server = await echoServer(kind);
    const sessions = await openSessions(server.port, n);
    const load = await quietLoad(sessions, server.pid, seconds);
    const { latencies, lost } = load;
    const p = (q: number) => quantile(latencies, q);
    const cpu = load.serverCpu;
    cpuBy.set(`${kind} ${n}`, cpu);
    const goCpu = kind === 'rxkcp' ? undefined : cpu;
    emit({
      name: `${n} sessions at 2 msg/s, ${kind} server: server CPU`,
      value: cpu,
      unit: '% of one core',
      ...(goCpu !== undefined && cpuBy.has(`rxkcp ${n}`) ? { go: goCpu, ratio: goCpu / cpuBy.get(`rxkcp ${n}`)! } : {}),
      note: `the client process (${n} rxkcp sessions, a socket each) used ${load.clientCpu.toFixed(0)} % of the other core`,
    });
    emit({ name: `${n} sessions at 2 msg/s, ${kind} server: echo latency p50`, value: p(0.5), unit: 'ms' });
    emit({ name: `${n} sessions at 2 msg/s, ${kind} server: echo latency p99`, value: p(0.99), unit: 'ms' });
    emit({ name: `${n} sessions at 2 msg/s, ${kind} server: echoes measured`, value: latencies.length, unit: 'messages', note: `expected about ${Math.round(2 * n * seconds)}; ${lost} sends found the previous echo still missing` });
    emit({ name: `${n} sessions at 2 msg/s, ${kind} server: server RSS`, value: load.serverRss / 2 ** 20, unit: 'MiB' });
    for (const s of sessions) s.close({ linger: false }); // as above: 10,000 lingering sockets and 10,000 new ones exceed a 20,000 descriptor limit
    await server.stop();
  }
}
process.exit(0);
