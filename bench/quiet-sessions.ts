/**
 * Quiet sessions against an echo server, for bench:sessions and bench:workers: many rxkcp client
 * sessions in this process (a socket each), each sending a 64-byte message every 500 ms and
 * timing its echo. What a server with many mostly idle clients (a kcptun server) spends per
 * session, and how long its clients wait.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dial, type Session } from '../operators/io/index.js';

/** kcptun mode normal (interval 40 ms) with small socket buffers: a socket per session. */
export const quietSessionOptions = { nodelay: 0, interval: 40, resend: 2, nc: 1, sockbuf: 256 * 1024 };
/** Each session sends one message this often (ms) unless told otherwise: 2 messages per second. */
export const QUIET_SEND_INTERVAL_MS = 500;
/** The timer that spreads the sends over each interval ticks this often (ms), sending what has fallen due. */
const TICK_MS = 10;
/** How often (ms) the client's event loop is sampled: a timer of this period that fires late measures the loop's delay. */
const LOOP_SAMPLE_MS = 5;
/**
 * An echo that reaches the client while its event loop is late by more than this (ms) is timed
 * late by more than this: `lateShare` is the share of the measured time the loop spent beyond it.
 */
export const CLIENT_LATE_MS = 10;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** RSS (bytes) and CPU seconds (user + system, every thread) of a process, from /proc. */
export function procStats(pid: number): { rss: number; cpu: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = 100; // USER_HZ on Linux
  return { rss, cpu: (Number(stat[11]) + Number(stat[12])) / ticks };
}

/** CPU seconds (user + system) of each thread of a process by thread id, with its name (`comm`), from /proc. */
export function threadCpu(pid: number): Map<string, { name: string; cpu: number }> {
  const out = new Map<string, { name: string; cpu: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(tid, { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpu: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * Where a process's CPU went between two `threadCpu` samples over `seconds`, as % of one core:
 * its JavaScript threads (the main thread, `MainThread`, and each worker thread, `WorkerThread`,
 * busiest first) and everything else (V8's GC and compiler helpers, libuv's pool).
 */
export function threadShares(before: Map<string, { name: string; cpu: number }>, after: Map<string, { name: string; cpu: number }>, seconds: number): { js: number[]; other: number } {
  const js: number[] = [];
  let other = 0;
  for (const [tid, t] of after) {
    const pct = ((t.cpu - (before.get(tid)?.cpu ?? 0)) / seconds) * 100;
    if (t.name === 'MainThread' || t.name === 'WorkerThread' || t.name === 'node') js.push(pct);
    else other += pct;
  }
  return { js: js.sort((a, b) => b - a), other };
}

/** Share (0..1) of the machine's CPU time that was idle between two `machineIdle` samples. */
export function machineIdle(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** Datagrams the kernel dropped at every UDP socket bound to `port` (several with reusePort), from /proc/net/udp. */
export function socketDrops(port: number): number {
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 13 && parseInt(f[1]!.split(':')[1]!, 16) === port) drops += Number(f[12]);
  }
  return drops;
}

/** Dials `n` sessions to 127.0.0.1:`port`, each writing 8 bytes so the server creates it. */
export async function openSessions(port: number, n: number): Promise<Session[]> {
  const out: Session[] = [];
  for (let i = 0; i < n; i++) {
    const s = await dial({ connect: `127.0.0.1:${port}`, ...quietSessionOptions });
    s.write(new Uint8Array(8)); // creates the session at the server
    out.push(s);
    if (i % 500 === 499) await sleep(50);
  }
  return out;
}

export interface QuietLoad {
  /** Echo round trips measured, in ms, sorted. */
  latencies: number[];
  /** Sends that found the previous echo of their session still missing. */
  lost: number;
  /** Messages sent while measuring, and how many the schedule (every session every `everyMs`) called for. */
  sent: number;
  scheduled: number;
  /**
   * This process's event-loop delay while measuring (ms, p99 and max of samples every
   * LOOP_SAMPLE_MS): an echo that arrives while the loop is busy is timed that much late, and a
   * late timer sends late.
   */
  loopDelayP99: number;
  loopDelayMax: number;
  /**
   * The share (0..1) of the measured time the loop was late by more than CLIENT_LATE_MS, time
   * weighted: about the share of echoes timed late by more than that. (One stall of 300 ms is one
   * sample among hundreds, but it delays every echo that arrives during it.)
   */
  lateShare: number;
  /** Server CPU over the measurement, % of one core (NaN without a server pid). */
  serverCpu: number;
  /** This process's CPU over the measurement, % of one core. */
  clientCpu: number;
  /** Server RSS at the end (bytes; NaN without a server pid). */
  serverRss: number;
  seconds: number;
}

/**
 * Every session sends 64 bytes every `everyMs` (spread evenly), after `warmupMs` the echoes are
 * timed for `seconds`; the server is the process `pid` (when given, its CPU and RSS are measured too).
 */
export async function quietLoad(sessions: Session[], pid: number | undefined, seconds: number, warmupMs = 5000, everyMs = QUIET_SEND_INTERVAL_MS): Promise<QuietLoad> {
  const n = sessions.length;
  const latencies: number[] = [];
  let measuring = false;
  let lost = 0;
  let sent = 0;
  const sentAt = new Map<Session, number>();
  const subs = sessions.map((s) =>
    s.data$.subscribe({
      next: (m) => {
        const t = sentAt.get(s);
        if (t !== undefined && m.length >= 64 && measuring) latencies.push(performance.now() - t);
        if (m.length >= 64) sentAt.delete(s);
      },
      error: () => {},
    })
  );
  // the sends are due by the clock, not by the ticks: a tick that comes late sends what fell due
  // meanwhile, so the schedule holds while the process keeps up at all
  const start = performance.now();
  let made = 0;
  let next = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / everyMs) * n);
    for (; made < due; made++) {
      const s = sessions[next]!;
      next = (next + 1) % n;
      if (measuring && sentAt.has(s)) lost++;
      if (measuring) sent++;
      sentAt.set(s, performance.now());
      if (!s.closed) s.write(new Uint8Array(64));
    }
  }, TICK_MS);
  await sleep(warmupMs);
  measuring = true;
  const delays: number[] = [];
  let lastSample = performance.now();
  const sampler = setInterval(() => {
    const now = performance.now();
    delays.push(Math.max(0, now - lastSample - LOOP_SAMPLE_MS));
    lastSample = now;
  }, LOOP_SAMPLE_MS);
  const before = pid === undefined ? undefined : procStats(pid);
  const clientBefore = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = pid === undefined ? undefined : procStats(pid);
  const client = process.cpuUsage(clientBefore);
  const elapsed = (performance.now() - t0) / 1000;
  measuring = false;
  clearInterval(sampler);
  clearInterval(timer);
  for (const s of subs) s.unsubscribe();
  latencies.sort((a, b) => a - b);
  const lateMs = delays.reduce((t, d) => t + Math.max(0, d - CLIENT_LATE_MS), 0);
  delays.sort((a, b) => a - b);
  return {
    latencies,
    lost,
    sent,
    scheduled: Math.round((n * elapsed * 1000) / everyMs),
    loopDelayP99: quantile(delays, 0.99),
    loopDelayMax: delays.at(-1) ?? NaN,
    lateShare: lateMs / (elapsed * 1000),
    serverCpu: before && after ? ((after.cpu - before.cpu) / elapsed) * 100 : NaN,
    clientCpu: ((client.user + client.system) / 1e6 / elapsed) * 100,
    serverRss: after?.rss ?? NaN,
    seconds: elapsed,
  };
}

/** The `q` quantile of sorted values (NaN if none). */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
