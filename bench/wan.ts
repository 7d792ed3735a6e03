/**
 * `npm run bench:wan`: one-way bulk transfers on real UDP sockets through `rxkcp relay --profile`
 * (each named path of docs/paths.md), with kcptun's defaults on every end (aes, mode fast, FEC
 * 10/3, mtu 1350, windows 1024/1024), for every pairing:
 *
 *   kcp-go → kcp-go      kcppeer oneway → kcppeer sink (test/interop/kcppeer, kcp-go 5.6.1)
 *   rxkcp (cc X) → rxkcp `rxkcp send --oneway --cc X` → `rxkcp sink`, for each congestion control
 *   rxkcp → kcp-go       rxkcp's default congestion control → kcppeer sink
 *   kcp-go → rxkcp       kcppeer oneway → rxkcp sink
 *
 * (`rxkcp sink --workers 0`: one thread on every Node version.)
 * Each end and the relay are processes of their own (rxkcp from dist/cli.js). While the bulk
 * transfer runs, this process sends a 100-byte ping every 50 ms on a second session through the
 * same relay (rxkcp, cc kcp-go, same settings, conv PING_CONV), which the receiver echoes
 * (`--echo-conv`), and measures each ping's round trip.
 *
 * Per profile and pairing (median over rounds, min–max beside it): goodput (payload bytes / time
 * from first write to last ACK) and its fraction of the ideal goodput (bottleneck × (1 − loss) ×
 * 10/13); bytes the sender put into the relay per payload byte (the pings' own bytes taken out),
 * with the floor FEC and headers set (1.352 at mtu 1350); datagrams the bottleneck queue dropped;
 * p50/p99 of the ping round trips sent during the transfer (a ping never answered counts as
 * infinite). Pairings alternate within each round, and their order flips every round.
 *
 * Environment: WAN_ROUNDS (default 2), WAN_PROFILES and WAN_PAIRINGS (comma lists; default all),
 * WAN_SECONDS (transfer size: this many seconds at the ideal goodput, rounded to a power of two
 * MiB within 1–8 MiB; default 4), WAN_MIB (a fixed size instead), WAN_OUT (the markdown file;
 * default bench/results/wan.md; the raw runs go beside it as .json).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dial } from '../operators/transport/dial.js';
import type { Session } from '../operators/transport/session.js';
import { CC_NAMES, DEFAULT_CC } from '../src/kcp/cc-names.js';
import { idealGoodput, KCPTUN_FEC, PATH_PROFILE_NAMES, pathProfiles, wireFloor, type PathProfileName } from '../src/sim/profiles.js';
import { runGoOneway, startGoPeer } from '../test/interop/go-peer.js';
import { printRanOn, ranOn } from './lib.js';
import { transferBytes } from './wan-sizes.js';

printRanOn();

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const MIB = 1024 * 1024;
/** kcptun's default datagram size. */
const MTU = 1350;
/** Conversation id of the ping session ("ping"), echoed by the receivers. */
const PING_CONV = 0x70696e67;
/** Size of a ping, bytes: a small interactive message. */
const PING_BYTES = 100;
/** Time between pings, ms. */
const PING_EVERY_MS = 50;
/** How long, after the transfer, unanswered pings may still come back before they count as lost, ms. */
const PING_GRACE_MS = 5000;
/** A transfer that moves nothing for this long fails, ms. */
const STALL_MS = 30_000;

const ROUNDS = Number(process.env.WAN_ROUNDS ?? 2);
const OUT = process.env.WAN_OUT ?? `${root}bench/results/wan.md`;

interface Pairing {
  name: string;
  sender: 'kcp-go' | 'rxkcp';
  receiver: 'kcp-go' | 'rxkcp';
  cc?: string;
}
const ALL_PAIRINGS: Pairing[] = [
  { name: 'kcp-go → kcp-go', sender: 'kcp-go', receiver: 'kcp-go' },
  ...CC_NAMES.map((cc): Pairing => ({ name: `rxkcp ${cc} → rxkcp`, sender: 'rxkcp', receiver: 'rxkcp', cc })),
  { name: `rxkcp ${DEFAULT_CC} → kcp-go`, sender: 'rxkcp', receiver: 'kcp-go', cc: DEFAULT_CC },
  { name: 'kcp-go → rxkcp', sender: 'kcp-go', receiver: 'rxkcp' },
];
const listed = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const wantPairings = listed(process.env.WAN_PAIRINGS);
const PAIRINGS = wantPairings ? ALL_PAIRINGS.filter((p) => wantPairings.includes(p.name) || wantPairings.some((w) => p.name.startsWith(w))) : ALL_PAIRINGS;
const PROFILES = (listed(process.env.WAN_PROFILES) ?? PATH_PROFILE_NAMES) as PathProfileName[];
for (const p of PROFILES) if (!(p in pathProfiles)) throw new Error(`WAN_PROFILES: unknown profile ${p}; one of ${PATH_PROFILE_NAMES.join(', ')}`);
if (PAIRINGS.length === 0) throw new Error(`WAN_PAIRINGS matches none of: ${ALL_PAIRINGS.map((p) => p.name).join('; ')}`);

/** Reads JSON lines from a child's stdout. */
function jsonLines(child: ChildProcess): { lines: Record<string, unknown>[]; wait: (pred: (l: Record<string, unknown>) => boolean, ms: number, what: string) => Promise<Record<string, unknown>> } {
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(l);
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(l)) waiters.splice(i, 1)[0]!.resolve(l);
  });
  const exited = new Promise<never>((_, reject) => child.on('close', (code) => reject(new Error(`process exited (${code}): ${stderr.trim()}`))));
  exited.catch(() => {});
  return {
    lines,
    wait(pred, ms, what) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}: ${stderr.trim()}`)), ms);
          waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
        }),
        exited,
      ]);
    },
  };
}

/** A process of ours that prints a ready line with its address, and a final line at SIGTERM. */
interface Server {
  addr: string;
  stop(): Promise<Record<string, unknown>>;
}

async function startNodeServer(args: string[]): Promise<Server> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = jsonLines(child);
  const ready = await out.wait((l) => l.ready === true, 15_000, `ready line of rxkcp ${args[0]}`).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  return {
    addr: String(ready.addr),
    async stop() {
      const final = out.wait((l) => l.final === true, 10_000, `final line of rxkcp ${args[0]}`);
      child.kill('SIGTERM');
      try {
        return await final;
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
    },
  };
}

async function startReceiver(kind: 'kcp-go' | 'rxkcp'): Promise<Server> {
  // one thread, as on every Node version (worker listeners need 22.12): the benchmark is about the sender
  if (kind === 'rxkcp') return startNodeServer(['sink', '--listen', '127.0.0.1:0', '--echo-conv', String(PING_CONV), '--idle-timeout', '0', '--workers', '0']);
  const peer = await startGoPeer('sink', { listen: '127.0.0.1:0', 'echo-conv': PING_CONV });
  return { addr: peer.addr, stop: async () => (await peer.stop()) as unknown as Record<string, unknown> };
}

interface SendResult {
  ok: boolean;
  error?: string;
  elapsedMs: number;
  cpuS: number;
}

async function runSender(p: Pairing, connect: string, bytes: number): Promise<SendResult> {
  const timeoutMs = STALL_MS * 20;
  if (p.sender === 'kcp-go') {
    const r = await runGoOneway({ connect, bytes, stallTimeoutMs: STALL_MS }, { timeoutMs });
    return { ok: r.ok, error: r.error, elapsedMs: r.elapsed_ms, cpuS: r.cpu_user_s + r.cpu_sys_s };
  }
  const child = spawn(process.execPath, [cli, 'send', '--oneway', '--connect', connect, '--bytes', String(bytes), '--stall-timeout', String(STALL_MS), '--json', '--cc', p.cc!], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = jsonLines(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const r = await out.wait((l) => typeof l.ok === 'boolean', timeoutMs, 'the result of rxkcp send');
    return { ok: r.ok === true, error: r.error as string | undefined, elapsedMs: Number(r.elapsed_ms), cpuS: Number(r.cpu_user_s) + Number(r.cpu_sys_s) };
  } finally {
    clearTimeout(timer);
  }
}

/** Pings on a second session: PING_BYTES every PING_EVERY_MS, each carrying its number; records round trips. */
class Pinger {
  private readonly sentAt: number[] = [];
  private readonly rtt = new Map<number, number>();
  private pending = new Uint8Array(0);
  private timer: NodeJS.Timeout | null = null;
  /** Pings sent from `from` on are the ones measured. */
  private from = Infinity;
  private until = Infinity;

  private constructor(readonly session: Session) {
    session.data$.subscribe({
      next: (m) => {
        const now = performance.now();
        const all = new Uint8Array(this.pending.length + m.length);
        all.set(this.pending);
        all.set(m, this.pending.length);
        let off = 0;
        for (; off + PING_BYTES <= all.length; off += PING_BYTES) {
          const n = new DataView(all.buffer, off, 4).getUint32(0);
          if (!this.rtt.has(n) && this.sentAt[n] !== undefined) this.rtt.set(n, now - this.sentAt[n]!);
        }
        this.pending = all.slice(off);
      },
      error: () => {},
    });
  }

  static async open(connect: string): Promise<Pinger> {
    const session = await dial({ connect, conv: PING_CONV, crypt: 'aes', key: "it's a secrect", dataShards: 10, parityShards: 3, mode: 'fast', mtu: MTU, sndWnd: 1024, rcvWnd: 1024, cc: 'kcp-go' });
    const p = new Pinger(session);
    p.ping();
    const t0 = performance.now();
    while (!p.rtt.has(0)) {
      if (performance.now() - t0 > 15_000) throw new Error('the receiver did not echo the first ping');
      await new Promise((r) => setTimeout(r, 10));
    }
    p.timer = setInterval(() => p.ping(), PING_EVERY_MS);
    return p;
  }

  private ping(): void {
    const n = this.sentAt.length;
    const b = new Uint8Array(PING_BYTES);
    new DataView(b.buffer).setUint32(0, n);
    this.sentAt.push(performance.now());
    this.session.write(b);
  }

  /** Measure the pings sent from now on. */
  start(): void {
    this.from = this.sentAt.length;
  }

  /** Stops measuring and sending, waits for the measured ones (up to PING_GRACE_MS), returns their round trips (ms; Infinity: never answered). */
  async finish(): Promise<number[]> {
    this.until = this.sentAt.length;
    clearInterval(this.timer!);
    const t0 = performance.now();
    while (performance.now() - t0 < PING_GRACE_MS) {
      let missing = 0;
      for (let n = this.from; n < this.until; n++) if (!this.rtt.has(n)) missing++;
      if (missing === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const out: number[] = [];
    for (let n = this.from; n < this.until; n++) out.push(this.rtt.get(n) ?? Infinity);
    return out;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.session.close({ linger: false });
  }

  /** UDP payload bytes the ping session sent. */
  get bytesSent(): number {
    return this.session.stats.BytesSent;
  }
}

/** Nearest-rank percentile. */
function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

interface Run {
  profile: PathProfileName;
  pairing: string;
  round: number;
  bytes: number;
  ok: boolean;
  error?: string;
  elapsedMs: number;
  goodput: number;
  ofIdeal: number;
  wirePerPayload: number;
  queueDrops: number;
  lossDrops: number;
  senderCpuS: number;
  pings: number;
  pingP50: number;
  pingP99: number;
  queueMax: number;
}

async function runOne(profile: PathProfileName, p: Pairing, round: number): Promise<Run> {
  const bytes = transferBytes(profile);
  const receiver = await startReceiver(p.receiver);
  const relay = await startNodeServer(['relay', '--profile', profile, '--connect', receiver.addr, '--seed', String(round + 1), '--json']);
  let pinger: Pinger | null = null;
  try {
    pinger = await Pinger.open(relay.addr);
    pinger.start();
    const sent = await runSender(p, relay.addr, bytes);
    const rtts = await pinger.finish();
    const pingBytes = pinger.bytesSent;
    pinger.close();
    pinger = null;
    const r = (await relay.stop()) as { stats: { up: { bytes: number; dropped: { queue: number; loss: number; burst: number }; queueMax: number } } };
    await receiver.stop().catch(() => ({}));
    const up = r.stats.up;
    const goodput = sent.ok ? bytes / (sent.elapsedMs / 1000) : 0;
    return {
      profile,
      pairing: p.name,
      round,
      bytes,
      ok: sent.ok,
      error: sent.error,
      elapsedMs: sent.elapsedMs,
      goodput,
      ofIdeal: goodput / idealGoodput(pathProfiles[profile].path, KCPTUN_FEC),
      // everything that entered the relay towards the receiver, less what the ping session sent
      wirePerPayload: (up.bytes - pingBytes) / bytes,
      queueDrops: up.dropped.queue,
      lossDrops: up.dropped.loss + up.dropped.burst,
      senderCpuS: sent.cpuS,
      pings: rtts.length,
      pingP50: percentile(rtts, 0.5),
      pingP99: percentile(rtts, 0.99),
      queueMax: up.queueMax,
    };
  } finally {
    pinger?.close();
    await relay.stop().catch(() => ({}));
    await receiver.stop().catch(() => ({}));
  }
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : x === Infinity ? '∞' : '–');
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const span = (xs: number[], digits: number) => (xs.length > 1 ? ` (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})` : '');

function table(runs: Run[]): string {
  const rows: string[] = [
    '| path | ideal MB/s | pairing | goodput MB/s | of ideal | wire B / payload B | bottleneck drops | ping p50 / p99 ms | ok |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const profile of PROFILES) {
    const prof = pathProfiles[profile];
    const ideal = idealGoodput(prof.path, KCPTUN_FEC) / 1e6;
    for (const p of PAIRINGS) {
      const rs = runs.filter((r) => r.profile === profile && r.pairing === p.name);
      if (rs.length === 0) continue;
      const ok = rs.filter((r) => r.ok);
      const good = rs.map((r) => r.goodput / 1e6);
      const of = rs.map((r) => r.ofIdeal * 100);
      const wire = ok.map((r) => r.wirePerPayload);
      const drops = rs.map((r) => r.queueDrops);
      rows.push(
        `| ${profile} (RTT ${prof.rtt} ms) | ${fmt(ideal)} | ${p.name} | ${fmt(med(good))}${span(good, 2)} | ${fmt(med(of), 0)} %${span(of, 0)} | ${fmt(med(wire))}${span(wire, 2)} | ${fmt(med(drops), 0)}${span(drops, 0)} | ${fmt(med(rs.map((r) => r.pingP50)), 0)} / ${fmt(med(rs.map((r) => r.pingP99)), 0)} | ${ok.length}/${rs.length} |`
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const env = [
    `ran on ${ranOn()}, started ${new Date().toISOString()}`,
    `${ROUNDS} round(s); transfer sizes: ${PROFILES.map((p) => `${p} ${transferBytes(p) / MIB} MiB`).join(', ')}`,
  ];
  console.error(env.join('\n'));
  const runs: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const profile of PROFILES) {
      const order = round % 2 === 0 ? PAIRINGS : [...PAIRINGS].reverse();
      for (const p of order) {
        let r: Run;
        try {
          r = await runOne(profile, p, round);
        } catch (e) {
          r = { profile, pairing: p.name, round, bytes: transferBytes(profile), ok: false, error: String(e), elapsedMs: NaN, goodput: 0, ofIdeal: 0, wirePerPayload: NaN, queueDrops: NaN, lossDrops: NaN, senderCpuS: NaN, pings: 0, pingP50: NaN, pingP99: NaN, queueMax: NaN };
        }
        runs.push(r);
        console.error(
          `round ${round + 1} ${profile} ${p.name}: ${r.ok ? 'ok' : `FAILED ${r.error ?? ''}`} ${fmt(r.goodput / 1e6)} MB/s (${fmt(r.ofIdeal * 100, 0)} % of ideal), ${fmt(r.wirePerPayload)} wire B/B, ${r.queueDrops} queue drops, ping p50/p99 ${fmt(r.pingP50, 0)}/${fmt(r.pingP99, 0)} ms, sender CPU ${fmt(r.senderCpuS)} s`
        );
      }
    }
  }
  const load1 = loadavg();
  env.push(`finished ${new Date().toISOString()}, load average after ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  const md = [
    '# bench:wan',
    '',
    ...env.map((l) => `- ${l}`),
    `- kcptun's defaults on every end: aes, mode fast, FEC 10/3, mtu ${MTU}, windows 1024/1024; one-way transfers through \`rxkcp relay --profile\` (docs/paths.md), relay seed = round number`,
    `- ideal = bottleneck × (1 − loss incl. bursts) × 10/13; the wire floor at mtu ${MTU} (FEC 10/3, aes headers) is ${wireFloor({ mtu: MTU }).toFixed(3)} bytes per payload byte`,
    `- pings: ${PING_BYTES} bytes every ${PING_EVERY_MS} ms on a second rxkcp session (cc kcp-go) through the same relay, echoed by the receiver; round trip in ms`,
    '- median over rounds, (min–max) when there are several; bottleneck drops: datagrams the relay queue dropped towards the receiver',
    '',
    table(runs),
    '',
  ].join('\n');
  console.log(md);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, md);
  writeFileSync(OUT.replace(/\.md$/, '') + '.json', JSON.stringify({ env, runs }, null, 1) + '\n');
  console.error(`wrote ${OUT}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  }
);
