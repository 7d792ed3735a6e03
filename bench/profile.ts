/**
 * `npm run bench:profile`: where the time goes, per datagram. Runs the bench:speed echo between two
 * rxkcp processes (client and server, kcp-go's benchmark settings) under V8's sampling profiler,
 * sorts every sample into a layer by walking its stack from the leaf up, and divides each layer's
 * time by the datagrams that process handled (InPkts + OutPkts). The same transfer between two
 * kcp-go peers gives Go's total CPU per datagram beside it.
 *
 * Layers: receive (dgram's message dispatch; the recv syscalls themselves run in libuv and land in
 * "native/event loop"), send syscall, decrypt+encrypt, CRC, FEC, KCP, RxJS plumbing, rxkcp's
 * operator code, the stream adapter and pattern check of the benchmark application, GC.
 * BENCH_MB (default 32) sets the transfer size; PROFILE_CONFIGS filters configs by name prefix.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoCrypt } from '../test/interop/go-peer.js';
import { emit, printRanOn } from './lib.js';

printRanOn();

const MB = Number(process.env.BENCH_MB ?? 32);
const bytes = MB * 1024 * 1024;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const only = process.env.PROFILE_CONFIGS?.split(',');
const configs = (
  [
    { name: 'salsa20 + FEC 10/3', crypt: 'salsa20', ds: 10, ps: 3 },
    { name: 'aes-128, no FEC', crypt: 'aes-128', ds: 0, ps: 0 },
    { name: 'no crypto, no FEC', crypt: 'null', ds: 0, ps: 0 },
  ] as { name: string; crypt: GoCrypt; ds: number; ps: number }[]
).filter((c) => !only || only.some((o) => c.name.startsWith(o)));

const LAYERS = ['receive', 'send syscall', 'crypt', 'crc', 'fec', 'kcp', 'rxjs plumbing', 'rxkcp operators', 'app (stream + pattern)', 'gc', 'native/event loop', 'other'] as const;
type Layer = (typeof LAYERS)[number];

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

// the CLI is one bundle: its frames are mapped back to rxkcp's source files through its source map
const cliMap = new SourceMap(JSON.parse(readFileSync(`${cli}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
function sourceOf(f: CallFrame): string {
  if (!f.url.endsWith('/dist/cli.js')) return f.url;
  const e = cliMap.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string };
  return e.originalSource ? `/${e.originalSource.replace(/^(\.\.\/)+/, '')}` : f.url;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

/** The layer a single frame belongs to, or null to keep walking towards the root. */
function layerOf(f: CallFrame): Layer | 'idle' | null {
  const url = sourceOf(f);
  const fn = f.functionName;
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'native/event loop';
  if (url.includes('node:dgram') || url.includes('internal/dgram')) return /^(send|doSend|sendHelper|afterSend|_healthCheck)$/.test(fn) ? 'send syscall' : 'receive';
  if (url.includes('/src/wire/crc32') || url.includes('/src/node/crc32') || url.includes('node:zlib')) return 'crc';
  if (url.includes('/src/crypt/') || url.includes('internal/crypto') || url.includes('@noble') || url.includes('/src/node/crypt')) return 'crypt';
  if (url.includes('/src/fec/')) return 'fec';
  if (url.includes('/src/kcp/')) return 'kcp';
  if (url.includes('/rxjs/')) return 'rxjs plumbing';
  if (url.includes('/io/stream') || url.includes('/io/pattern') || url.includes('/cli/cli') || url.includes('internal/streams') || url.includes('node:stream')) return 'app (stream + pattern)';
  if (url.includes('/operators/') || url.includes('/src/')) return 'rxkcp operators';
  return null; // a builtin (url ''): charge it to its caller
}

/** Milliseconds of CPU per layer in one profile (idle excluded). */
function attribute(p: CpuProfile): Map<Layer, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const cache = new Map<number, Layer | 'idle'>();
  const resolve = (id: number): Layer | 'idle' => {
    const hit = cache.get(id);
    if (hit) return hit;
    const node = byId.get(id)!;
    const own = layerOf(node.callFrame);
    const up = parent.get(id);
    const layer = own ?? (up === undefined ? 'other' : resolve(up));
    cache.set(id, layer);
    return layer;
  };
  const msPerSample = (p.endTime - p.startTime) / 1000 / p.samples.length;
  const out = new Map<Layer, number>();
  for (const s of p.samples) {
    const l = resolve(s);
    if (l !== 'idle') out.set(l, (out.get(l) ?? 0) + msPerSample);
  }
  return out;
}

function readJsonLines(buf: string): Record<string, unknown>[] {
  return buf
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function flags(c: (typeof configs)[number]): string[] {
  return ['--crypt', c.crypt, '--key', 'bench', '--datashard', String(c.ds), '--parityshard', String(c.ps), '--mode', 'fast3', '--mtu', '1400', '--sndwnd', '1024', '--rcvwnd', '1024', '--stream'];
}

/** Runs one profiled process to its end; resolves with its JSON lines and its profile. */
function profiled(args: string[], onReady?: (lines: Record<string, unknown>[]) => void): { done: Promise<{ lines: Record<string, unknown>[]; profile: CpuProfile }>; kill(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rxkcp-prof-'));
  const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    onReady?.(readJsonLines(out));
  });
  const done = new Promise<{ lines: Record<string, unknown>[]; profile: CpuProfile }>((resolve, reject) => {
    child.on('close', () => {
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) return reject(new Error(`no profile written for ${args[0]}`));
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      rmSync(dir, { recursive: true, force: true });
      resolve({ lines: readJsonLines(out), profile });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

interface Side {
  cpuMs: number;
  datagrams: number;
  layers: Map<Layer, number>;
  stats: Record<string, number>;
}

async function profileRxkcp(c: (typeof configs)[number]): Promise<{ client: Side; server: Side; mbps: number }> {
  let port = 0;
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const server = profiled(['echo', '--listen', '127.0.0.1:0', ...flags(c)], (lines) => {
    const l = lines.find((x) => x.ready);
    if (l && !port) (port = Number(String(l.addr).split(':').pop())), started();
  });
  await ready;
  const client = await profiled(['send', '--connect', `127.0.0.1:${port}`, '--bytes', String(bytes), '--json', ...flags(c)]).done;
  server.kill();
  const srv = await server.done;
  const side = (line: Record<string, unknown> | undefined, profile: CpuProfile): Side => {
    const l = line as { cpu_user_s: number; cpu_sys_s: number; stats: Record<string, number> };
    return { cpuMs: (l.cpu_user_s + l.cpu_sys_s) * 1000, datagrams: l.stats.InPkts! + l.stats.OutPkts!, layers: attribute(profile), stats: l.stats };
  };
  const result = client.lines.find((l) => 'ok' in l) as { ok: boolean; mb_per_s: number } | undefined;
  if (!result?.ok) throw new Error(`${c.name}: the profiled transfer failed`);
  return { client: side(client.lines.find((l) => 'ok' in l), client.profile), server: side(srv.lines.find((l) => l.final), srv.profile), mbps: result.mb_per_s };
}

async function goPerDatagram(c: (typeof configs)[number]): Promise<{ client: number; server: number; mbps: number; datagrams: [number, number]; cpuMs: [number, number]; stats: [Record<string, number>, Record<string, number>] } | null> {
  if (!haveGoPeer()) return null;
  const goFlags = { mode: 'fast3', mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true, key: 'bench', crypt: c.crypt, datashard: c.ds, parityshard: c.ps } as const;
  const server = await startGoPeer('echo', goFlags);
  const r = await runGoSend({ ...goFlags, connect: server.addr, bytes }, { timeoutMs: 600_000 });
  const f = await server.stop();
  const per = (cpu: number, st: Record<string, number>) => (cpu * 1e6) / (st.InPkts! + st.OutPkts!);
  const count = (st: Record<string, number>) => st.InPkts! + st.OutPkts!;
  return {
    client: per(r.cpu_user_s + r.cpu_sys_s, r.stats),
    server: per(f.cpu_user_s + f.cpu_sys_s, f.stats),
    mbps: r.mb_per_s,
    datagrams: [count(r.stats), count(f.stats)],
    cpuMs: [(r.cpu_user_s + r.cpu_sys_s) * 1000, (f.cpu_user_s + f.cpu_sys_s) * 1000],
    stats: [r.stats, f.stats],
  };
}

if (haveGoPeer()) await buildGoPeer();
for (const c of configs) {
  const rx = await profileRxkcp(c);
  const go = await goPerDatagram(c);
  console.log(`\n${c.name}: echo of ${MB} MiB, rxkcp⇄rxkcp ${rx.mbps} MB/s${go ? `, kcp-go⇄kcp-go ${go.mbps} MB/s` : ''}`);
  console.log('| µs per datagram          | client | server |');
  console.log('| ------------------------ | ------ | ------ |');
  for (const layer of LAYERS) {
    const cu = (rx.client.layers.get(layer) ?? 0) * 1000 / rx.client.datagrams;
    const su = (rx.server.layers.get(layer) ?? 0) * 1000 / rx.server.datagrams;
    console.log(`| ${layer.padEnd(24)} | ${cu.toFixed(2).padStart(6)} | ${su.toFixed(2).padStart(6)} |`);
    emit({ name: `profile ${c.name} ${layer} client`, value: cu, unit: 'µs/datagram' });
    emit({ name: `profile ${c.name} ${layer} server`, value: su, unit: 'µs/datagram' });
  }
  const sampled = (s: Side) => ([...s.layers.values()].reduce((a, b) => a + b, 0) * 1000) / s.datagrams;
  console.log(`| ${'sum of samples'.padEnd(24)} | ${sampled(rx.client).toFixed(2).padStart(6)} | ${sampled(rx.server).toFixed(2).padStart(6)} |`);
  const cpuC = (rx.client.cpuMs * 1000) / rx.client.datagrams;
  const cpuS = (rx.server.cpuMs * 1000) / rx.server.datagrams;
  console.log(`| ${'process CPU (all threads)'.padEnd(24)} | ${cpuC.toFixed(2).padStart(6)} | ${cpuS.toFixed(2).padStart(6)} |`);
  emit({ name: `profile ${c.name} process cpu client`, value: cpuC, unit: 'µs/datagram', ...(go ? { go: go.client, ratio: go.client / cpuC } : {}) });
  emit({ name: `profile ${c.name} process cpu server`, value: cpuS, unit: 'µs/datagram', ...(go ? { go: go.server, ratio: go.server / cpuS } : {}) });
  if (go) console.log(`| ${'kcp-go process CPU'.padEnd(24)} | ${go.client.toFixed(2).padStart(6)} | ${go.server.toFixed(2).padStart(6)} |`);
  console.log(`datagrams handled (in + out): client ${rx.client.datagrams}, server ${rx.server.datagrams}${go ? `; kcp-go ${go.datagrams[0]}, ${go.datagrams[1]}` : ''}`);
  // per MiB and retransmissions: the figures the per-datagram ones add up to
  const perMiB = (ms: number) => ms / MB;
  const retrans = (st: Record<string, number>) => (100 * (st.RetransSegs ?? 0)) / Math.max(1, st.OutSegs ?? 0);
  console.log(`| ${'per side'.padEnd(28)} | ${'rxkcp client'.padStart(12)} | ${'rxkcp server'.padStart(12)} |${go ? ` ${'kcp-go client'.padStart(13)} | ${'kcp-go server'.padStart(13)} |` : ''}`);
  console.log(`| ${'-'.repeat(28)} | ${'-'.repeat(12)} | ${'-'.repeat(12)} |${go ? ` ${'-'.repeat(13)} | ${'-'.repeat(13)} |` : ''}`);
  const row = (label: string, rc: string, rs: string, gc?: string | null, gs?: string | null) => console.log(`| ${label.padEnd(28)} | ${rc.padStart(12)} | ${rs.padStart(12)} |${go ? ` ${gc!.padStart(13)} | ${gs!.padStart(13)} |` : ''}`);
  row('CPU ms per MiB', perMiB(rx.client.cpuMs).toFixed(1), perMiB(rx.server.cpuMs).toFixed(1), go && perMiB(go.cpuMs[0]).toFixed(1), go && perMiB(go.cpuMs[1]).toFixed(1));
  row('retransmitted % of segments', retrans(rx.client.stats).toFixed(2), retrans(rx.server.stats).toFixed(2), go && retrans(go.stats[0]).toFixed(2), go && retrans(go.stats[1]).toFixed(2));
  row('  of which not needed', String(rx.client.stats.SpuriousRetrans ?? 0), String(rx.server.stats.SpuriousRetrans ?? 0), go && '—', go && '—');
  row('segments received twice', String(rx.client.stats.RepeatSegs ?? 0), String(rx.server.stats.RepeatSegs ?? 0), go && String(go.stats[0].RepeatSegs ?? 0), go && String(go.stats[1].RepeatSegs ?? 0));
  for (const [side, s, g] of [['client', rx.client, go?.cpuMs[0]], ['server', rx.server, go?.cpuMs[1]]] as const) {
    emit({ name: `profile ${c.name} cpu per MiB ${side}`, value: perMiB(s.cpuMs), unit: 'ms', ...(g !== undefined ? { go: perMiB(g), ratio: g / s.cpuMs } : {}) });
    emit({ name: `profile ${c.name} retransmitted ${side}`, value: retrans(s.stats), unit: '% of segments sent', note: `${s.stats.SpuriousRetrans ?? 0} not needed` });
  }
  if (go) emit({ name: `profile ${c.name} echo speed`, value: rx.mbps, unit: 'MB/s', go: go.mbps, ratio: rx.mbps / go.mbps });
}
