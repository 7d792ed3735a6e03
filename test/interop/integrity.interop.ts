/**
 * The integrity matrix: byte-exact echoes through the relay (a seeded network emulator on real
 * loopback sockets), with real processes at both ends.
 *
 *   clients {rxkcp, kcp-go 5.6.1} × servers {rxkcp, kcp-go} × {message, stream} × {FEC 10/3, none}
 *   × windows {32, 1024} × impairments {A, B} = 64 cases, INTEGRITY_MB MiB each (default 4)
 *
 * A: 2 % independent loss each way. B: about 10 % loss each way (3 % independent, the rest in
 * Gilbert–Elliott bursts of about 3 datagrams), 2 % duplication, 5 % reordering (held 10 ms).
 * rxkcp ends are the built command (`node dist/cli.js echo` / `send`), kcp-go ends are kcppeer.
 * Every case uses its own server, relay and client; the relay's seed is in the case's name.
 * The cipher depends on window and impairment (32/A salsa20, 32/B aes, 1024/A none, 1024/B aes),
 * so every client × server × mode × FEC combination meets each of them.
 *
 * Also: one rxkcp echo server with 4 rxkcp and 2 kcp-go clients at once through one relay.
 *
 * `npm run test:integrity` runs the same with INTEGRITY_MB=32. INTEGRITY_CONCURRENCY (default 2)
 * cases run at a time; INTEGRITY_ONLY (a regular expression) picks cases by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { relay, type Impairment, type Relay, type RelayStatsSnapshot } from '../../operators/apps/relay.js';
import { INTEROP_KEY, buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoCrypt, type GoTransferResult } from './go-peer.js';

const MB = Number(process.env.INTEGRITY_MB ?? 4);
const BYTES = Math.round(MB * 1024 * 1024);
const CONCURRENCY = Math.max(1, Number(process.env.INTEGRITY_CONCURRENCY ?? 2));
const ONLY = process.env.INTEGRITY_ONLY ? new RegExp(process.env.INTEGRITY_ONLY) : null;
/** Bound of one case once it runs (not a speed check: a case that takes this long is stuck). */
const CASE_MS = 120_000 + MB * 15_000;
/** A transfer with no progress for this long has failed. */
const STALL_MS = 30_000;
/** KCP profile of every end (kcptun's fast3: nodelay 1, interval 10, resend 2, nc 1). */
const MODE = 'fast3';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const IMPAIRMENTS: Record<'A' | 'B', { about: string; options: Impairment }> = {
  A: { about: '2 % loss', options: { loss: 0.02 } },
  B: {
    about: '10 % loss in bursts, 2 % dup, 5 % reorder',
    options: { loss: 0.03, burst: { enter: 0.025, exit: 0.3 }, duplicate: 0.02, reorder: 0.05, reorderDelay: 10 },
  },
};

type End = 'rxkcp' | 'kcp-go';
interface Case {
  name: string;
  client: End;
  server: End;
  stream: boolean;
  fec: boolean;
  window: number;
  impairment: 'A' | 'B';
  crypt: GoCrypt;
  seed: number;
}

function cryptFor(window: number, impairment: 'A' | 'B'): GoCrypt {
  if (window === 32) return impairment === 'A' ? 'salsa20' : 'aes';
  return impairment === 'A' ? 'none' : 'aes';
}

const cases: Case[] = [];
for (const client of ['rxkcp', 'kcp-go'] as End[])
  for (const server of ['rxkcp', 'kcp-go'] as End[])
    for (const stream of [false, true])
      for (const fec of [true, false])
        for (const window of [32, 1024])
          for (const impairment of ['A', 'B'] as const) {
            const seed = 1000 + cases.length;
            const crypt = cryptFor(window, impairment);
            const name = `${client} → ${server} echo, ${stream ? 'stream' : 'message'}, ${fec ? 'FEC 10/3' : 'no FEC'}, wnd ${window}, ${impairment} (${IMPAIRMENTS[impairment].about}), ${crypt}, seed ${seed}`;
            cases.push({ name, client, server, stream, fec, window, impairment, crypt, seed });
          }

/** rxkcp command flags and kcppeer flags for one case's session settings. */
function rxkcpFlags(c: Pick<Case, 'crypt' | 'fec' | 'window' | 'stream'>): string[] {
  const f = ['--crypt', c.crypt, '--key', INTEROP_KEY, '--mode', MODE, '--datashard', c.fec ? '10' : '0', '--parityshard', c.fec ? '3' : '0', '--sndwnd', String(c.window), '--rcvwnd', String(c.window)];
  if (c.stream) f.push('--stream');
  return f;
}
function goFlags(c: Pick<Case, 'crypt' | 'fec' | 'window' | 'stream'>) {
  return { crypt: c.crypt, key: INTEROP_KEY, mode: MODE, datashard: c.fec ? 10 : 0, parityshard: c.fec ? 3 : 0, sndwnd: c.window, rcvwnd: c.window, stream: c.stream } as const;
}

/** Reads a child's JSON lines; keeps the tail of its stderr. */
function watch(child: ChildProcess) {
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (t) => {
    try {
      lines.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { lines, stderr: () => stderr.trim(), exited };
}

async function waitFor<T>(what: string, get: () => T | undefined, exited: Promise<unknown>, ms: number): Promise<T> {
  let gone = false;
  void exited.then(() => (gone = true));
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (gone) throw new Error(`exited before ${what}`);
    if (Date.now() > end) throw new Error(`no ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An echo server of either kind: where it listens, and its final counters once stopped. */
interface EchoServer {
  addr: string;
  stop(): Promise<{ stats: Record<string, number>; sessions: number; log: string }>;
}

async function startRxkcpEcho(flags: string[]): Promise<EchoServer> {
  const child = spawn(process.execPath, [cli, 'echo', '--listen', '127.0.0.1:0', ...flags], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const w = watch(child);
  try {
    const ready = await waitFor('ready line', () => w.lines.find((l) => l.ready === true), w.exited, 30_000);
    let stopping: ReturnType<EchoServer['stop']> | undefined;
    return {
      addr: String(ready.addr),
      stop() {
        stopping ??= (async () => {
          child.kill('SIGTERM');
          const code = await Promise.race([w.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 10_000))]);
          if (code === 'late') child.kill('SIGKILL');
          const final = w.lines.find((l) => l.final === true) as { stats?: Record<string, number>; sessions?: number } | undefined;
          if (!final?.stats) throw new Error(`rxkcp echo printed no final line (exit ${String(code)}): ${w.stderr()}`);
          return { stats: final.stats, sessions: final.sessions ?? 0, log: w.stderr() };
        })();
        return stopping;
      },
    };
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`rxkcp echo: ${(e as Error).message}: ${w.stderr()}`);
  }
}

async function startGoEcho(flags: ReturnType<typeof goFlags>): Promise<EchoServer> {
  const peer = await startGoPeer('echo', flags);
  return {
    addr: peer.addr,
    async stop() {
      const final = await peer.stop();
      return { stats: final.stats, sessions: final.sessions, log: '' };
    },
  };
}

/** The result every client reports: the fields both kinds print. */
interface SendResult {
  ok: boolean;
  error?: string;
  verified?: number;
  elapsed_ms: number;
  stats: Record<string, number>;
  log: string;
}

async function runRxkcpSend(connect: string, flags: string[], bytes: number, timeoutMs: number): Promise<SendResult> {
  const child = spawn(process.execPath, [cli, 'send', '--connect', connect, '--bytes', String(bytes), '--stall-timeout', String(STALL_MS), '--json', ...flags], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const w = watch(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await w.exited;
  clearTimeout(timer);
  const r = w.lines.find((l) => typeof l.ok === 'boolean') as SendResult | undefined;
  if (!r) throw new Error(`rxkcp send: no result (exit ${String(code)}${child.signalCode ? `, ${child.signalCode} after ${timeoutMs} ms` : ''}): ${w.stderr()}`);
  return { ...r, log: w.stderr() };
}

async function runGoClient(connect: string, flags: ReturnType<typeof goFlags>, bytes: number, timeoutMs: number): Promise<SendResult> {
  const r: GoTransferResult = await runGoSend({ ...flags, connect, bytes, stallTimeoutMs: STALL_MS }, { timeoutMs });
  return { ok: r.ok, error: r.error, verified: r.verified, elapsed_ms: r.elapsed_ms, stats: r.stats, log: '' };
}

/** At most `n` cases at a time. */
function limiter(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
const slot = limiter(CONCURRENCY);

/** Rejects after `ms` with `what`, unless `p` settles first. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

const summary: { name: string; ms: number; line: string }[] = [];
const fmtDrops = (s: RelayStatsSnapshot) =>
  `relay up ${s.up.received} in, lost ${s.up.dropped.loss}+${s.up.dropped.burst} burst, dup ${s.up.duplicated}, reord ${s.up.reordered}; down ${s.down.received} in, lost ${s.down.dropped.loss}+${s.down.dropped.burst} burst, dup ${s.down.duplicated}, reord ${s.down.reordered}`;

/** One case: server, relay, client, all its own; returns what a failure message needs. */
async function runCase(c: Case, bytes: number): Promise<{ result: SendResult; server: Awaited<ReturnType<EchoServer['stop']>>; relayStats: RelayStatsSnapshot; ms: number }> {
  const t0 = Date.now();
  const server = c.server === 'rxkcp' ? await startRxkcpEcho(rxkcpFlags(c)) : await startGoEcho(goFlags(c));
  let r: Relay | undefined;
  try {
    r = await relay({ connect: server.addr, seed: c.seed, ...IMPAIRMENTS[c.impairment].options });
    const at = `127.0.0.1:${r.address.port}`;
    const result = c.client === 'rxkcp' ? await runRxkcpSend(at, rxkcpFlags(c), bytes, CASE_MS) : await runGoClient(at, goFlags(c), bytes, CASE_MS);
    const relayStats = r.stats.snapshot();
    await r.close();
    const final = await server.stop();
    return { result, server: final, relayStats, ms: Date.now() - t0 };
  } finally {
    await r?.close();
    await server.stop().catch(() => {});
  }
}

const go = haveGoPeer();
const dist = existsSync(cli);
let t0 = 0;

describe.concurrent('integrity through the relay: rxkcp and kcp-go 5.6.1, real processes, byte-exact', () => {
  beforeAll(async () => {
    if (!dist) throw new Error(`${cli} is missing: run npm run build first (CI builds before the interop suite)`);
    if (go) await buildGoPeer();
    t0 = Date.now();
  }, 180_000);
  afterAll(() => {
    if (summary.length === 0) return;
    const times = summary.map((s) => s.ms);
    console.log(
      `integrity matrix: ${summary.length} case(s), ${MB} MiB each, ${CONCURRENCY} at a time, wall ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
        `per case ${(Math.min(...times) / 1000).toFixed(1)}–${(Math.max(...times) / 1000).toFixed(1)} s\n` +
        summary.map((s) => `  ${(s.ms / 1000).toFixed(1).padStart(6)} s  ${s.name}\n           ${s.line}`).join('\n')
    );
  });

  for (const c of cases) {
    const needsGo = c.client === 'kcp-go' || c.server === 'kcp-go';
    // INTEGRITY_ONLY narrows a run by hand; CI and test:integrity run every case
    const run = it.skipIf((ONLY !== null && !ONLY.test(c.name)) || (needsGo && !go));
    run(c.name, async ({ expect }) => {
      const { result, server, relayStats, ms } = await slot(() => bounded(runCase(c, BYTES), CASE_MS + 30_000, c.name));
      const why = `${c.name}: client ${c.client} said ${result.error ?? 'ok'} (${result.verified ?? 0} of ${BYTES} bytes verified)${result.log ? `; client log: ${result.log}` : ''}; server ${c.server} checksum errors ${server.stats.InCsumErrors}${server.log ? `; server log: ${server.log}` : ''}; ${fmtDrops(relayStats)}`;
      summary.push({ name: c.name, ms, line: `client ${result.elapsed_ms} ms, ${fmtDrops(relayStats)}, retrans client ${result.stats.RetransSegs ?? '?'} server ${server.stats.RetransSegs ?? '?'}, FEC recovered client ${result.stats.FECRecovered ?? '?'} server ${server.stats.FECRecovered ?? '?'}` });
      expect(result.error, why).toBeUndefined();
      expect(result.ok, why).toBe(true);
      expect(result.verified, why).toBe(BYTES);
      expect(result.stats.InCsumErrors, why).toBe(0);
      expect(server.stats.InCsumErrors, why).toBe(0);
      // the relay really impaired both directions, and mapped the one client
      expect(relayStats.clients, why).toBe(1);
      expect(relayStats.up.dropped.total, why).toBeGreaterThan(0);
      expect(relayStats.down.dropped.total, why).toBeGreaterThan(0);
      if (c.impairment === 'B') {
        expect(relayStats.up.dropped.burst + relayStats.down.dropped.burst, why).toBeGreaterThan(0);
        expect(relayStats.up.duplicated + relayStats.down.duplicated, why).toBeGreaterThan(0);
        expect(relayStats.up.reordered + relayStats.down.reordered, why).toBeGreaterThan(0);
      }
    }, 30 * 60_000);
  }
});

describe('one rxkcp echo server, many sessions at once through one relay', () => {
  const SEED = 77;
  const settings = { crypt: 'aes' as GoCrypt, fec: true, window: 1024, stream: true };
  it.skipIf(!go)(`4 rxkcp and 2 kcp-go clients, ${IMPAIRMENTS.A.about}, aes, FEC 10/3, stream, wnd 1024, seed ${SEED}: every echo byte-exact`, async ({ expect }) => {
    if (!dist) throw new Error(`${cli} is missing: run npm run build first`);
    const server = await startRxkcpEcho(rxkcpFlags(settings));
    const r = await relay({ connect: server.addr, seed: SEED, ...IMPAIRMENTS.A.options });
    try {
      const at = `127.0.0.1:${r.address.port}`;
      const clients = [
        ...[0, 1, 2, 3].map((k) => ({ who: `rxkcp #${k}`, run: () => runRxkcpSend(at, rxkcpFlags(settings), BYTES, CASE_MS * 2) })),
        ...[0, 1].map((k) => ({ who: `kcp-go #${k}`, run: () => runGoClient(at, goFlags(settings), BYTES, CASE_MS * 2) })),
      ];
      const results = await bounded(Promise.all(clients.map((c) => c.run())), CASE_MS * 2 + 30_000, 'six clients');
      const snap = r.stats.snapshot();
      results.forEach((res, k) => {
        const why = `${clients[k]!.who} (seed ${SEED}): ${res.error ?? 'ok'}, ${res.verified ?? 0} of ${BYTES} verified; ${fmtDrops(snap)}`;
        expect(res.error, why).toBeUndefined();
        expect(res.ok, why).toBe(true);
        expect(res.verified, why).toBe(BYTES);
        expect(res.stats.InCsumErrors, why).toBe(0);
      });
      expect(snap.clients).toBe(6);
      expect(new Set(r.mappings.values()).size).toBe(6);
      expect(snap.up.dropped.loss).toBeGreaterThan(0);
      expect(snap.down.dropped.loss).toBeGreaterThan(0);
      await r.close();
      const final = await server.stop();
      expect(final.stats.InCsumErrors).toBe(0);
      console.log(`six sessions through one relay (seed ${SEED}): ${results.map((x, k) => `${clients[k]!.who} ${x.elapsed_ms} ms`).join(', ')}; ${fmtDrops(snap)}`);
    } finally {
      await r.close();
      await server.stop().catch(() => {});
    }
  }, CASE_MS * 3);
});
