/**
 * `npm run bench:speed`: echo and one-way throughput over 127.0.0.1 between separate processes, rxkcp and
 * kcp-go 5.6.1 (the interop peer) in every pairing, with kcp-go's benchmark settings (fast3:
 * noDelay 1,10,2,1; windows 1024/1024; mtu 1400; stream mode). Runs alternate between pairings
 * and the median of BENCH_RUNS (default 3) is reported, with CPU seconds of each side and the
 * ratio rxkcp/Go. BENCH_MB sets the transfer size (default 64); BENCH_MODES picks `echo`, `oneway` or
 * both (default); BENCH_CONFIGS filters configurations by name prefix; BENCH_CC gives the rxkcp ends a congestion control. One-way: the client writes to a
 * sink and is done when every byte is acknowledged.
 *
 * CPU is each process's from its ready line (server) or the start of the transfer (client) to its
 * end: starting Node and loading the CLI (0.15–0.5 s of CPU on the project machine) is left out,
 * as a Go peer's start costs next to nothing.
 *
 * Beside speed and CPU, each pairing's SNMP counters of both ends are summed: retransmitted segments
 * as a share of all segments sent (kcp-go counts ACK segments in OutSegs too, and so does rxkcp),
 * retransmissions an ACK showed were not needed (rxkcp only: kcp-go does not count them), and
 * segments the receivers got twice (RepeatSegs). Ratios are given as the median of the per-round
 * ratios (each rxkcp run against the kcp-go run of the same round) with their spread, so a round
 * slowed by the machine weighs on both sides of its ratio.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, runGoOneway, runGoSend, startGoPeer, type GoCrypt } from '../test/interop/go-peer.js';
import { emit, median, printRanOn } from './lib.js';

printRanOn();

const MB = Number(process.env.BENCH_MB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const bytes = MB * 1024 * 1024;
const MODES = (process.env.BENCH_MODES ?? 'echo,oneway').split(',') as Mode[];
const ONLY = process.env.BENCH_CONFIGS?.split(',');
/** BENCH_CC: the rxkcp ends' congestion control (`--cc`; default the library's default). */
const CC_FLAG = process.env.BENCH_CC ? ['--cc', process.env.BENCH_CC] : [];
type Mode = 'echo' | 'oneway';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const settings = { mode: 'fast3', mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true, key: 'bench' } as const;
const configs = (
  [
    { name: 'salsa20 + FEC 10/3', crypt: 'salsa20', ds: 10, ps: 3 },
    { name: 'aes-128, no FEC', crypt: 'aes-128', ds: 0, ps: 0 },
  { name: 'no crypto, no FEC', crypt: 'null', ds: 0, ps: 0 },
  ] as { name: string; crypt: GoCrypt; ds: number; ps: number }[]
).filter((c) => !ONLY || ONLY.some((o) => c.name.startsWith(o)));

/** The SNMP counters bench:speed reports, as both implementations name them. */
type Counters = { OutSegs: number; RetransSegs: number; SpuriousRetrans?: number; RepeatSegs: number; OutPkts: number };
function counters(stats: unknown): Counters {
  const st = (stats ?? {}) as Record<string, number | undefined>;
  return { OutSegs: st.OutSegs ?? 0, RetransSegs: st.RetransSegs ?? 0, SpuriousRetrans: st.SpuriousRetrans, RepeatSegs: st.RepeatSegs ?? 0, OutPkts: st.OutPkts ?? 0 };
}
function sum(a: Counters, b: Counters): Counters {
  const spurious = a.SpuriousRetrans === undefined && b.SpuriousRetrans === undefined ? undefined : (a.SpuriousRetrans ?? 0) + (b.SpuriousRetrans ?? 0);
  return { OutSegs: a.OutSegs + b.OutSegs, RetransSegs: a.RetransSegs + b.RetransSegs, SpuriousRetrans: spurious, RepeatSegs: a.RepeatSegs + b.RepeatSegs, OutPkts: a.OutPkts + b.OutPkts };
}

function cliFlags(c: (typeof configs)[number]): string[] {
  return ['--crypt', c.crypt, '--key', settings.key, '--datashard', String(c.ds), '--parityshard', String(c.ps), '--mode', 'fast3', '--mtu', '1400', '--sndwnd', '1024', '--rcvwnd', '1024', '--stream', ...CC_FLAG];
}

/** Starts `rxkcp echo` (or `sink`) in its own process; resolves with its port and a stop() giving its CPU seconds. */
function startRxServer(c: (typeof configs)[number], mode: Mode): Promise<{ port: number; stop(): Promise<{ cpu: number; stats: Counters }> }> {
  const child = spawn(process.execPath, [cli, mode === 'echo' ? 'echo' : 'sink', '--listen', '127.0.0.1:0', ...cliFlags(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  const lines: Record<string, unknown>[] = [];
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const ready = lines.find((l) => l.ready);
      if (!ready) return;
      clearInterval(t);
      resolve({
        port: Number(String(ready.addr).split(':').pop()),
        stop: () =>
          new Promise((res) => {
            child.on('close', () => {
              const fin = lines.find((l) => l.final) as { cpu_user_s: number; cpu_sys_s: number; stats: unknown } | undefined;
              // without what starting Node and the listener cost (the ready line's cpu_s)
              res({ cpu: fin ? fin.cpu_user_s + fin.cpu_sys_s - Number(ready.cpu_s ?? 0) : NaN, stats: counters(fin?.stats) });
            });
            child.kill('SIGTERM');
          }),
      });
    }, 20);
    child.on('error', reject);
  });
}

function runRxSend(c: (typeof configs)[number], port: number, mode: Mode): Promise<{ ok: boolean; mb_per_s: number; cpu: number; stats: Counters }> {
  return new Promise((resolve) => {
    const oneway = mode === 'oneway' ? ['--oneway'] : [];
    const child = spawn(process.execPath, [cli, 'send', '--connect', `127.0.0.1:${port}`, '--bytes', String(bytes), '--json', ...oneway, ...cliFlags(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as { ok: boolean; mb_per_s: number; cpu_user_s: number; cpu_sys_s: number; cpu_start_s?: number; stats: unknown };
        // without what starting Node and dialling cost (cpu_start_s)
        resolve({ ok: r.ok, mb_per_s: r.mb_per_s, cpu: r.cpu_user_s + r.cpu_sys_s - (r.cpu_start_s ?? 0), stats: counters(r.stats) });
      } catch {
        resolve({ ok: false, mb_per_s: 0, cpu: NaN, stats: counters(undefined) });
      }
    });
  });
}

type Pair = 'rxkcp→rxkcp' | 'go→go' | 'rxkcp→go' | 'go→rxkcp';
interface Run {
  mbps: number;
  clientCpu: number;
  serverCpu: number;
  ok: boolean;
  stats: Counters;
}
async function once(c: (typeof configs)[number], pair: Pair, mode: Mode): Promise<Run> {
  const goFlags = { ...settings, crypt: c.crypt, datashard: c.ds, parityshard: c.ps };
  const serverIsGo = pair.endsWith('go');
  const server = serverIsGo ? await startGoPeer(mode === 'echo' ? 'echo' : 'sink', goFlags) : await startRxServer(c, mode);
  const port = 'addr' in server ? Number(server.addr.split(':').pop()) : server.port;
  const goRun = mode === 'echo' ? runGoSend : runGoOneway;
  const client = pair.startsWith('go')
    ? await goRun({ ...goFlags, connect: `127.0.0.1:${port}`, bytes }, { timeoutMs: 600_000 }).then((r) => ({ ok: r.ok, mb_per_s: r.mb_per_s, cpu: r.cpu_user_s + r.cpu_sys_s, stats: counters(r.stats) }))
    : await runRxSend(c, port, mode);
  const srv = 'addr' in server ? await server.stop().then((f) => ({ cpu: f.cpu_user_s + f.cpu_sys_s, stats: counters(f.stats) })) : await server.stop();
  return { mbps: client.mb_per_s, clientCpu: client.cpu, serverCpu: srv.cpu, ok: client.ok, stats: sum(client.stats, srv.stats) };
}

const pct = (n: number, d: number) => (d > 0 ? (100 * n) / d : 0);
const fmtRange = (xs: number[], digits: number) => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})` : '');

if (!haveGoPeer()) {
  console.error('bench:speed needs Go and kcp-go (see README): measuring rxkcp alone');
}
if (haveGoPeer()) await buildGoPeer();
const pairs: Pair[] = haveGoPeer() ? ['go→go', 'rxkcp→rxkcp', 'rxkcp→go', 'go→rxkcp'] : ['rxkcp→rxkcp'];
const table: string[] = [];
for (const mode of MODES) {
  for (const c of configs) {
    const results = new Map<Pair, Run[]>();
    for (let r = 0; r < RUNS; r++) {
      for (const pair of pairs) {
        const x = await once(c, pair, mode);
        if (!x.ok) console.error(`  ${mode} ${c.name} ${pair}: run ${r + 1} failed`);
        results.set(pair, [...(results.get(pair) ?? []), x]);
      }
    }
    const go = results.get('go→go');
    for (const pair of pairs) {
      const runs = results.get(pair)!;
      const mbpsOf = (x: Run) => (x.ok ? x.mbps : 0);
      const cpuOf = (x: Run) => (x.clientCpu + x.serverCpu) / (2 * MB); // CPU seconds per MiB of payload, averaged over the two sides
      const mbps = median(runs.map(mbpsOf));
      const cpu = median(runs.map(cpuOf));
      const vsGo = go && pair !== 'go→go';
      const speedRatios = vsGo ? runs.map((x, i) => mbpsOf(x) / mbpsOf(go[i]!)) : [];
      const cpuRatios = vsGo ? runs.map((x, i) => cpuOf(x) / cpuOf(go[i]!)) : [];
      const retrans = median(runs.map((x) => pct(x.stats.RetransSegs, x.stats.OutSegs)));
      const repeat = median(runs.map((x) => pct(x.stats.RepeatSegs, x.stats.OutSegs)));
      const spurious = runs[0]!.stats.SpuriousRetrans === undefined ? undefined : median(runs.map((x) => pct(x.stats.SpuriousRetrans ?? 0, x.stats.RetransSegs)));
      const segs = median(runs.map((x) => x.stats.OutSegs));
      const label = `${mode} ${c.name} ${pair}`;
      emit({ name: `${label} ${MB} MiB`, value: mbps, unit: 'MB/s', ...(vsGo ? { go: median(go.map(mbpsOf)), ratio: median(speedRatios) } : {}) });
      emit({ name: `${label} cpu per MiB per side`, value: cpu * 1000, unit: 'ms', ...(vsGo ? { go: median(go.map(cpuOf)) * 1000, ratio: 1 / median(cpuRatios) } : {}) });
      emit({ name: `${label} retransmitted segments`, value: retrans, unit: '% of segments sent', note: `both ends; ${Math.round(segs)} segments sent` });
      emit({ name: `${label} segments received twice`, value: repeat, unit: '% of segments sent' });
      if (spurious !== undefined) emit({ name: `${label} retransmissions not needed`, value: spurious, unit: '% of retransmissions' });
      table.push(
        `| ${mode.padEnd(6)} | ${c.name.padEnd(20)} | ${pair.padEnd(12)} | ${mbps.toFixed(2).padStart(7)} | ${vsGo ? median(speedRatios).toFixed(2) + fmtRange(speedRatios, 2) : '—'} | ${(cpu * 1000).toFixed(1)} | ${vsGo ? median(cpuRatios).toFixed(2) + fmtRange(cpuRatios, 2) : '—'} | ${retrans.toFixed(2)} | ${spurious === undefined ? '—' : spurious.toFixed(0)} | ${repeat.toFixed(2)} |`
      );
    }
  }
}
console.log(`\nover 127.0.0.1, ${MB} MiB, median of ${RUNS} (alternating); ratios: median of the per-round ratios (min–max)\n`);
console.log('| mode   | config               | pair         |    MB/s | speed ÷ go→go | CPU ms per MiB per side | CPU ÷ go→go | retransmitted % of segments | of which not needed % | received twice % |');
console.log('| ------ | -------------------- | ------------ | ------- | ------------- | ----------------------- | ----------- | --------------------------- | --------------------- | ---------------- |');
for (const row of table) console.log(row);
