/**
 * Outages and restarts with real processes: the rxkcp command's echo server against kcp-go 5.6.1
 * clients (kcppeer) and the rxkcp command's own client.
 *
 * - An 8 s blackhole in the middle of a transfer (the relay drops everything both ways): two
 *   kcp-go peers ride through it, and so must an rxkcp server with either client. Reaching
 *   kcp-go's dead-link count (20 transmissions, 3–6 s in fast3 at loopback RTTs; later when
 *   the RTO has grown under load) is counted in DeadLinks, not fatal.
 * - A restart: the echo server is killed mid-transfer and started again on the same port while
 *   the client keeps retransmitting mid-stream segments. The new server must open no session for
 *   them (a session that expects sn 0 could never deliver), and counts them in StrayPkts.
 *
 * OUTAGE_RUNS (default 1) repeats each blackhole case, to measure how often it goes through.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { relay, type Relay } from '../../operators/apps/relay.js';
import { buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoPeerFlags } from './go-peer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../cli/cli.ts', import.meta.url));
const RUNS = Math.max(1, Number(process.env.OUTAGE_RUNS ?? 1));
const BLACKHOLE_MS = 8000;
const BYTES = 8 << 20;
/** Relay datagrams client → server after which the blackhole starts (about 1.2 MiB in). */
const HOLE_AFTER = 1000;
/** kcptun's defaults (aes, FEC 10/3, mtu 1350, windows 1024) in mode fast3, as the defect was seen. */
const goFlags: GoPeerFlags = { mode: 'fast3' };
const rxFlags = ['--mode', 'fast3'];

const children: ChildProcess[] = [];
const relays: Relay[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of relays.splice(0)) await r.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line {
  ready?: boolean;
  final?: boolean;
  ok?: boolean;
  error?: string;
  verified?: number;
  addr?: string;
  sessions?: number;
  elapsed_ms?: number;
  stats?: Record<string, number>;
}

/** Runs the rxkcp command (from source) and collects its JSON lines. */
function rxkcp(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Line[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (t) => {
    try {
      lines.push(JSON.parse(t) as Line);
    } catch {
      // not a JSON line
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  return {
    child,
    lines,
    exited,
    stderr: () => stderr.trim(),
    /** The first line (printed or to come) that `pred` accepts, from index `since` on. */
    async waitFor(what: string, pred: (l: Line) => boolean, since = 0, ms = 60_000): Promise<Line> {
      const end = Date.now() + ms;
      for (;;) {
        const l = lines.slice(since).find(pred);
        if (l) return l;
        if (gone) throw new Error(`rxkcp ${args[0]} exited before ${what}: ${stderr}`);
        if (Date.now() > end) throw new Error(`rxkcp ${args[0]}: no ${what} after ${ms} ms: ${stderr}`);
        await sleep(10);
      }
    },
  };
}

async function rxkcpEcho(listen: string, extra: string[] = []) {
  const p = rxkcp(['echo', '--listen', listen, ...rxFlags, ...extra]);
  const ready = await p.waitFor('ready line', (l) => l.ready === true);
  const addr = String(ready.addr);
  return {
    ...p,
    addr,
    port: Number(addr.slice(addr.lastIndexOf(':') + 1)),
    /** SIGTERM; the final line. */
    async stop(): Promise<Line> {
      if (p.child.exitCode === null) p.child.kill('SIGTERM');
      await p.exited;
      const final = p.lines.find((l) => l.final === true);
      if (!final) throw new Error(`rxkcp echo printed no final line: ${p.stderr()}`);
      return final;
    },
  };
}

async function rxkcpSend(connect: string, bytes: number, stallMs: number): Promise<Line> {
  const p = rxkcp(['send', '--connect', connect, '--bytes', String(bytes), '--stall-timeout', String(stallMs), '--json', ...rxFlags]);
  const code = await p.exited;
  const r = p.lines.find((l) => typeof l.ok === 'boolean');
  if (!r) throw new Error(`rxkcp send: no result (exit ${String(code)}): ${p.stderr()}`);
  return r;
}

/** A relay to `server` that goes dark both ways for 8 s once the transfer is under way. */
async function holedRelay(server: string): Promise<{ r: Relay; holed: Promise<void> }> {
  const r = await relay({ connect: server, seed: 8 });
  relays.push(r);
  const holed = (async () => {
    while (r.stats.up.received < HOLE_AFTER) await sleep(2);
    r.blackhole(BLACKHOLE_MS);
  })();
  return { r, holed };
}

const go = haveGoPeer();

describe.skipIf(!go)(`an ${BLACKHOLE_MS / 1000} s blackhole in the middle of a transfer (mode fast3, aes, FEC 10/3)`, () => {
  beforeAll(async () => {
    await buildGoPeer();
  }, 180_000);

  for (let run = 1; run <= RUNS; run++) {
    const tag = RUNS > 1 ? ` (run ${run})` : '';

    it(`kcp-go client → kcp-go echo rides through it${tag}`, async () => {
      const server = await startGoPeer('echo', goFlags);
      try {
        const { r, holed } = await holedRelay(server.addr);
        const res = await runGoSend({ ...goFlags, connect: `127.0.0.1:${r.address.port}`, bytes: BYTES, stallTimeoutMs: 30_000 }, { timeoutMs: 120_000 });
        await holed;
        console.log(`kcp-go → kcp-go through ${BLACKHOLE_MS} ms dark: ok ${res.ok} in ${res.elapsed_ms} ms, dropped ${r.stats.up.dropped.blackhole}+${r.stats.down.dropped.blackhole}`);
        expect(res.error).toBeUndefined();
        expect(res.ok).toBe(true);
        expect(res.verified).toBe(BYTES);
        expect(r.stats.up.dropped.blackhole + r.stats.down.dropped.blackhole).toBeGreaterThan(0);
      } finally {
        await server.stop().catch(() => {});
      }
    });

    it(`kcp-go client → rxkcp echo rides through it${tag}`, async () => {
      const server = await rxkcpEcho('127.0.0.1:0');
      const { r, holed } = await holedRelay(server.addr);
      const res = await runGoSend({ ...goFlags, connect: `127.0.0.1:${r.address.port}`, bytes: BYTES, stallTimeoutMs: 30_000 }, { timeoutMs: 120_000 });
      await holed;
      const final = await server.stop();
      console.log(
        `kcp-go → rxkcp through ${BLACKHOLE_MS} ms dark: ok ${res.ok} in ${res.elapsed_ms} ms${res.error ? ` (${res.error})` : ''}; server DeadLinks ${final.stats!.DeadLinks}, sessions opened ${final.stats!.PassiveOpens}, StrayPkts ${final.stats!.StrayPkts}`
      );
      expect(res.error).toBeUndefined();
      expect(res.ok).toBe(true);
      expect(res.verified).toBe(BYTES);
      expect(final.stats!.PassiveOpens).toBe(1); // one session, the whole way
      expect(r.stats.up.dropped.blackhole + r.stats.down.dropped.blackhole).toBeGreaterThan(0);
    });

    it(`rxkcp client → rxkcp echo rides through it${tag}`, async () => {
      const server = await rxkcpEcho('127.0.0.1:0');
      const { r, holed } = await holedRelay(server.addr);
      const res = await rxkcpSend(`127.0.0.1:${r.address.port}`, BYTES, 30_000);
      await holed;
      const final = await server.stop();
      console.log(
        `rxkcp → rxkcp through ${BLACKHOLE_MS} ms dark: ok ${res.ok} in ${res.elapsed_ms} ms${res.error ? ` (${res.error})` : ''}; client DeadLinks ${res.stats!.DeadLinks}, server DeadLinks ${final.stats!.DeadLinks}, sessions opened ${final.stats!.PassiveOpens}`
      );
      expect(res.error).toBeUndefined();
      expect(res.ok).toBe(true);
      expect(res.verified).toBe(BYTES);
      expect(final.stats!.PassiveOpens).toBe(1);
    });
  }
});

/**
 * How long (ms) the client of a restarted server goes on retransmitting before it gives up: longer
 * than the restart takes (the server's worker threads start in well under a second on a quiet
 * machine, several seconds on a loaded one), so the old stream reaches the new server.
 */
const RESTART_STALL_MS = 20_000;

describe.skipIf(!go)('an echo server killed and restarted on the same port mid-transfer', () => {
  beforeAll(async () => {
    await buildGoPeer();
  }, 180_000);

  /** Starts `client`, kills the server once 1 MiB came through, restarts it, and returns the new server's view. */
  async function restartDuring(client: (connect: string) => Promise<Line | { ok: boolean; error?: string }>) {
    const first = await rxkcpEcho('127.0.0.1:0', ['--stats-interval', '50']);
    const port = first.port;
    const result = client(`127.0.0.1:${port}`);
    await first.waitFor('1 MiB echoed', (l) => (l.stats?.BytesReceived ?? 0) >= 1 << 20, 0, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await rxkcpEcho(`127.0.0.1:${port}`, ['--stats-interval', '100']);
    // the client retransmits its mid-stream segments all along
    const seen = await second.waitFor('the old stream to arrive', (l) => (l.stats?.StrayPkts ?? 0) >= 20 || (l.stats?.PassiveOpens ?? 0) > 0, 0, 30_000);
    await sleep(2000);
    const since = second.lines.length;
    const later = await second.waitFor('a later stats line', (l) => l.final === false, since, 5000);
    const res = await result; // the client stalls and gives up: its server is gone
    const final = await second.stop();
    return { seen, later, final, res };
  }

  it('kcp-go client: the restarted rxkcp server opens no session for the old stream', async () => {
    const { later, final, res } = await restartDuring((connect) =>
      runGoSend({ ...goFlags, connect, bytes: 64 << 20, stallTimeoutMs: RESTART_STALL_MS }, { timeoutMs: 120_000 })
    );
    console.log(`restart under a kcp-go client: client ${res.ok ? 'ok' : `failed (${res.error})`}; restarted server: sessions ${final.sessions}, opened ${final.stats!.PassiveOpens}, StrayPkts ${final.stats!.StrayPkts}, LatePkts ${final.stats!.LatePkts}`);
    expect(later.sessions).toBe(0);
    expect(final.sessions).toBe(0);
    expect(final.stats!.PassiveOpens).toBe(0); // nothing was delivered, so nothing twice
    expect(final.stats!.BytesReceived).toBe(0);
    expect(final.stats!.StrayPkts).toBeGreaterThan(20);
    expect(res.ok).toBe(false);
  });

  it('rxkcp client: the restarted rxkcp server opens no session for the old stream', async () => {
    const { later, final, res } = await restartDuring((connect) => rxkcpSend(connect, 64 << 20, RESTART_STALL_MS));
    console.log(`restart under an rxkcp client: client ${res.ok ? 'ok' : `failed (${res.error})`}; restarted server: sessions ${final.sessions}, opened ${final.stats!.PassiveOpens}, StrayPkts ${final.stats!.StrayPkts}, LatePkts ${final.stats!.LatePkts}`);
    expect(later.sessions).toBe(0);
    expect(final.sessions).toBe(0);
    expect(final.stats!.PassiveOpens).toBe(0);
    expect(final.stats!.BytesReceived).toBe(0);
    expect(final.stats!.StrayPkts).toBeGreaterThan(20);
    expect(res.ok).toBe(false);
  });
});
