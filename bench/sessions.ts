/**
 * `npm run bench:sessions`: many sessions against one rxkcp echo server in another process.
 * 1. Memory: server RSS with 1 session, then with 1,000 idle ones; bytes per idle session; then the
 *    same 1,000 sessions streaming (each writing 4 KiB every 250 ms, 16 MB/s echoed in all).
 * 2. Load: BENCH_SESSIONS (default 5000, then 10000) client sessions, each sending a 64-byte message
 *    every 500 ms and timing its echo, for BENCH_SECONDS (default 20) after a 5 s warm-up.
 *    Reports server CPU % (of one core), p50/p99 echo latency and server RSS, as JSON lines.
 * No crypto or FEC (the per-session cost is the subject); kcptun mode normal (interval 40 ms).
 * SERVER_NODE_FLAGS passes flags to the server's node (for example `--cpu-prof --cpu-prof-dir=DIR`);
 * BENCH_SKIP_MEMORY=1 skips part 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dial, type Session } from '../operators/io/index.js';
import { emit, median } from './lib.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const flags = ['--crypt', 'null', '--datashard', '0', '--parityshard', '0', '--mode', 'normal'];
const sessionOpts = { nodelay: 0, interval: 40, resend: 2, nc: 1, sockbuf: 256 * 1024 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** RSS (bytes) and CPU seconds (user + system) of a process, from /proc. */
function procStats(pid: number): { rss: number; cpu: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = 100; // USER_HZ on Linux
  return { rss, cpu: (Number(stat[11]) + Number(stat[12])) / ticks };
}

async function openSessions(port: number, n: number): Promise<Session[]> {
  const out: Session[] = [];
  for (let i = 0; i < n; i++) {
    const s = await dial({ connect: `127.0.0.1:${port}`, ...sessionOpts });
    s.write(new Uint8Array(8)); // creates the session at the server
    out.push(s);
    if (i % 500 === 499) await sleep(50);
  }
  return out;
}

// 1. memory per idle session
if (!process.env.BENCH_SKIP_MEMORY) {
  const { child, port } = await startServer();
  await sleep(300);
  const one = await openSessions(port, 1);
  await sleep(500);
  const rss1 = procStats(child.pid!).rss;
  const more = await openSessions(port, 999);
  await sleep(2000);
  const rss1000 = procStats(child.pid!).rss;
  emit({ name: 'server RSS with 1 session', value: rss1 / 2 ** 20, unit: 'MiB' });
  emit({ name: 'server RSS with 1,000 idle sessions', value: rss1000 / 2 ** 20, unit: 'MiB' });
  emit({ name: 'server bytes per idle session', value: (rss1000 - rss1) / 999, unit: 'bytes' });
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
  const cpu0 = procStats(child.pid!).cpu;
  const e0 = echoed;
  const rssStreaming: number[] = [];
  for (let i = 0; i < 10; i++) (await sleep(1000), rssStreaming.push(procStats(child.pid!).rss));
  const cpu1 = procStats(child.pid!).cpu;
  clearInterval(streaming);
  emit({ name: 'server RSS with 1,000 sessions streaming (max over 10 s)', value: Math.max(...rssStreaming) / 2 ** 20, unit: 'MiB', note: `echoed ${((echoed - e0) / 10 / 1e6).toFixed(1)} MB/s in all, server CPU ${((cpu1 - cpu0) * 10).toFixed(0)} % of one core` });
  for (const s of all) s.close();
  child.kill('SIGTERM');
  await sleep(300);
}

// 2. many sessions at 2 messages per second
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const counts = (process.env.BENCH_SESSIONS ?? '5000,10000').split(',').map(Number);
for (const n of counts) {
  const { child, port } = await startServer();
  const sessions = await openSessions(port, n);
  const latencies: number[] = [];
  let measuring = false;
  let lost = 0;
  const sentAt = new Map<Session, number>();
  for (const s of sessions) {
    s.data$.subscribe({
      next: (m) => {
        const t = sentAt.get(s);
        if (t !== undefined && m.length >= 64 && measuring) latencies.push(performance.now() - t);
        if (m.length >= 64) sentAt.delete(s);
      },
      error: () => {},
    });
  }
  // spread the sends evenly over each 500 ms
  const perTick = Math.ceil(n / 50);
  let next = 0;
  const timer = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const s = sessions[next]!;
      next = (next + 1) % n;
      if (sentAt.has(s)) lost++;
      sentAt.set(s, performance.now());
      if (!s.closed) s.write(new Uint8Array(64));
    }
  }, 10);
  await sleep(5000);
  measuring = true;
  const before = procStats(child.pid!);
  const clientBefore = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = procStats(child.pid!);
  const clientCpu = process.cpuUsage(clientBefore);
  const elapsed = (performance.now() - t0) / 1000;
  measuring = false;
  clearInterval(timer);
  latencies.sort((a, b) => a - b);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  emit({
    name: `${n} sessions at 2 msg/s: server CPU`,
    value: ((after.cpu - before.cpu) / elapsed) * 100,
    unit: '% of one core',
    note: `the client process (${n} dialled sessions, a socket each) used ${(((clientCpu.user + clientCpu.system) / 1e6 / elapsed) * 100).toFixed(0)} % of the other core`,
  });
  emit({ name: `${n} sessions at 2 msg/s: echo latency p50`, value: p(0.5), unit: 'ms' });
  emit({ name: `${n} sessions at 2 msg/s: echo latency p99`, value: p(0.99), unit: 'ms' });
  emit({ name: `${n} sessions at 2 msg/s: echoes measured`, value: latencies.length, unit: 'messages', note: `expected about ${Math.round(2 * n * seconds)}; ${lost} sends found the previous echo still missing` });
  emit({ name: `${n} sessions at 2 msg/s: server RSS`, value: after.rss / 2 ** 20, unit: 'MiB' });
  void median;
  for (const s of sessions) s.close();
  child.kill('SIGTERM');
  await sleep(500);
}
process.exit(0);
