/**
 * `npm run bench:speed`: echo and one-way throughput over 127.0.0.1 between separate processes, rxkcp and
 * kcp-go 5.6.1 (the interop peer) in every pairing, with kcp-go's benchmark settings (fast3:
 * noDelay 1,10,2,1; windows 1024/1024; mtu 1400; stream mode). Runs alternate between pairings
 * and the median of BENCH_RUNS (default 3) is reported, with CPU seconds of each side and the
 * ratio rxkcp/Go. BENCH_MB sets the transfer size (default 64); BENCH_MODES picks `echo`, `oneway` or
 * both (default). One-way: the client writes to a sink and is done when every byte is acknowledged.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, runGoOneway, runGoSend, startGoPeer, type GoCrypt } from '../test/interop/go-peer.js';
import { emit, median } from './lib.js';

const MB = Number(process.env.BENCH_MB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const bytes = MB * 1024 * 1024;
const MODES = (process.env.BENCH_MODES ?? 'echo,oneway').split(',') as Mode[];
type Mode = 'echo' | 'oneway';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const settings = { mode: 'fast3', mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true, key: 'bench' } as const;
const configs: { name: string; crypt: GoCrypt; ds: number; ps: number }[] = [
  { name: 'salsa20 + FEC 10/3', crypt: 'salsa20', ds: 10, ps: 3 },
  { name: 'aes-128, no FEC', crypt: 'aes-128', ds: 0, ps: 0 },
  { name: 'no crypto, no FEC', crypt: 'null', ds: 0, ps: 0 },
];

function cliFlags(c: (typeof configs)[number]): string[] {
  return ['--crypt', c.crypt, '--key', settings.key, '--datashard', String(c.ds), '--parityshard', String(c.ps), '--mode', 'fast3', '--mtu', '1400', '--sndwnd', '1024', '--rcvwnd', '1024', '--stream'];
}

/** Starts `rxkcp echo` (or `sink`) in its own process; resolves with its port and a stop() giving its CPU seconds. */
function startRxServer(c: (typeof configs)[number], mode: Mode): Promise<{ port: number; stop(): Promise<number> }> {
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
              const fin = lines.find((l) => l.final) as { cpu_user_s: number; cpu_sys_s: number } | undefined;
              res(fin ? fin.cpu_user_s + fin.cpu_sys_s : NaN);
            });
            child.kill('SIGTERM');
          }),
      });
    }, 20);
    child.on('error', reject);
  });
}

function runRxSend(c: (typeof configs)[number], port: number, mode: Mode): Promise<{ ok: boolean; mb_per_s: number; cpu: number }> {
  return new Promise((resolve) => {
    const oneway = mode === 'oneway' ? ['--oneway'] : [];
    const child = spawn(process.execPath, [cli, 'send', '--connect', `127.0.0.1:${port}`, '--bytes', String(bytes), '--json', ...oneway, ...cliFlags(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as { ok: boolean; mb_per_s: number; cpu_user_s: number; cpu_sys_s: number };
        resolve({ ok: r.ok, mb_per_s: r.mb_per_s, cpu: r.cpu_user_s + r.cpu_sys_s });
      } catch {
        resolve({ ok: false, mb_per_s: 0, cpu: NaN });
      }
    });
  });
}

type Pair = 'rxkcp→rxkcp' | 'go→go' | 'rxkcp→go' | 'go→rxkcp';
async function once(c: (typeof configs)[number], pair: Pair, mode: Mode): Promise<{ mbps: number; clientCpu: number; serverCpu: number; ok: boolean }> {
  const goFlags = { ...settings, crypt: c.crypt, datashard: c.ds, parityshard: c.ps };
  const serverIsGo = pair.endsWith('go');
  const server = serverIsGo ? await startGoPeer(mode === 'echo' ? 'echo' : 'sink', goFlags) : await startRxServer(c, mode);
  const port = 'addr' in server ? Number(server.addr.split(':').pop()) : server.port;
  const goRun = mode === 'echo' ? runGoSend : runGoOneway;
  const client = pair.startsWith('go')
    ? await goRun({ ...goFlags, connect: `127.0.0.1:${port}`, bytes }, { timeoutMs: 600_000 }).then((r) => ({ ok: r.ok, mb_per_s: r.mb_per_s, cpu: r.cpu_user_s + r.cpu_sys_s }))
    : await runRxSend(c, port, mode);
  const serverCpu = 'addr' in server ? await server.stop().then((f) => f.cpu_user_s + f.cpu_sys_s) : await server.stop();
  return { mbps: client.mb_per_s, clientCpu: client.cpu, serverCpu, ok: client.ok };
}

if (!haveGoPeer()) {
  console.error('bench:speed needs Go and kcp-go (see README): measuring rxkcp alone');
}
if (haveGoPeer()) await buildGoPeer();
const pairs: Pair[] = haveGoPeer() ? ['go→go', 'rxkcp→rxkcp', 'rxkcp→go', 'go→rxkcp'] : ['rxkcp→rxkcp'];
const table: string[] = [];
for (const mode of MODES) {
  for (const c of configs) {
    const results = new Map<Pair, { mbps: number[]; cpuPerMB: number[] }>();
    for (let r = 0; r < RUNS; r++) {
      for (const pair of pairs) {
        const x = await once(c, pair, mode);
        if (!x.ok) console.error(`  ${mode} ${c.name} ${pair}: run ${r + 1} failed`);
        const e = results.get(pair) ?? { mbps: [], cpuPerMB: [] };
        e.mbps.push(x.ok ? x.mbps : 0);
        e.cpuPerMB.push((x.clientCpu + x.serverCpu) / (2 * MB)); // CPU seconds per MiB of payload, averaged over the two sides
        results.set(pair, e);
      }
    }
    const go = results.get('go→go');
    for (const pair of pairs) {
      const e = results.get(pair)!;
      const mbps = median(e.mbps);
      const cpu = median(e.cpuPerMB);
      const goMbps = go ? median(go.mbps) : undefined;
      const goCpu = go ? median(go.cpuPerMB) : undefined;
      emit({ name: `${mode} ${c.name} ${pair} ${MB} MiB`, value: mbps, unit: 'MB/s', ...(goMbps && pair !== 'go→go' ? { go: goMbps, ratio: mbps / goMbps } : {}) });
      emit({ name: `${mode} ${c.name} ${pair} cpu per MiB per side`, value: cpu * 1000, unit: 'ms', ...(goCpu && pair !== 'go→go' ? { go: goCpu * 1000, ratio: goCpu / cpu } : {}) });
      table.push(
        `| ${mode.padEnd(6)} | ${c.name.padEnd(20)} | ${pair.padEnd(12)} | ${mbps.toFixed(2).padStart(7)} | ${goMbps && pair !== 'go→go' ? (mbps / goMbps).toFixed(3) : '—'} | ${(cpu * 1000).toFixed(1)} | ${goCpu && pair !== 'go→go' ? (cpu / goCpu).toFixed(2) : '—'} |`
      );
    }
  }
}
console.log(`\nover 127.0.0.1, ${MB} MiB, median of ${RUNS} (alternating)\n`);
console.log('| mode   | config               | pair         |    MB/s | ratio to go→go | CPU ms per MiB per side | CPU × go→go |');
console.log('| ------ | -------------------- | ------------ | ------- | -------------- | ----------------------- | ----------- |');
for (const row of table) console.log(row);
