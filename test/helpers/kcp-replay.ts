/**
 * Replay scripts for "the kcp-go strategy sends what kcp-go sends": a script is a list of timed calls
 * on one KCP endpoint (send, input of a datagram, flush, read, option changes). The same script
 * drives rxkcp's `Kcp` here and kcp-go's own `KCP` in `test/interop/kcpreplay` (under a virtual
 * clock); both print the same observation lines (every datagram emitted with its time, what each
 * call returned, each message read), so they can be compared line by line or by digest.
 *
 * Scripts come from seeded scenarios: a two-endpoint simulation (the endpoint under test and a
 * scripted peer, joined by seeded lossy links with ACK blackouts, a cut link, a peer that stops
 * reading) records every call the endpoint under test receives.
 * @module
 */
import { createHash } from 'node:crypto';
import { Kcp, type KcpOptions } from '../../src/kcp/kcp.js';
import { Prng } from '../../src/prng.js';
import { LossyLink, type LossyLinkOptions } from '../../src/sim/lossy-link.js';
import type { Sink } from '../../src/sink.js';

/** The endpoint's configuration: kcp-go's NewKCP, SetMtu, WndSize, NoDelay, stream, ackNoDelay. */
export interface ReplayConfig {
  conv: number;
  mtu: number;
  snd: number;
  rcv: number;
  nodelay: number;
  interval: number;
  resend: number;
  nc: number;
  stream: boolean;
  ackNoDelay: boolean;
}

/** One scripted call (see test/interop/kcpreplay/main.go for the JSON form). */
export type ReplayStep =
  | { t: number; op: 'send'; len: number; seed: number }
  | { t: number; op: 'input'; hex: string; fec?: boolean }
  | { t: number; op: 'flush' }
  | { t: number; op: 'recv' }
  | { t: number; op: 'wnd'; snd: number; rcv: number }
  | { t: number; op: 'nodelay'; nodelay: number; interval: number; resend: number; nc: number }
  | { t: number; op: 'mtu'; mtu: number };

export interface ReplayScript {
  config: ReplayConfig;
  steps: ReplayStep[];
}

/** Byte i of a scripted send with seed `seed` (main.go's `pattern`). */
export function replayPattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 131 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** The script as kcpreplay reads it: JSON lines, the config first. */
export function scriptToJsonl(s: ReplayScript): string {
  return [JSON.stringify({ op: 'config', ...s.config }), ...s.steps.map((x) => JSON.stringify(x))].join('\n') + '\n';
}

export function scriptFromJsonl(text: string): ReplayScript {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const { op, ...config } = JSON.parse(lines[0]!) as ReplayConfig & { op: string };
  if (op !== 'config') throw new Error(`replay script: first line is ${op}, not config`);
  return { config, steps: lines.slice(1).map((l) => JSON.parse(l) as ReplayStep) };
}

/** The `Kcp` options equal to a replay config, with the `kcp-go` congestion control. */
export function replayKcpOptions(c: ReplayConfig): KcpOptions {
  return {
    mtu: c.mtu,
    sndWnd: c.snd,
    rcvWnd: c.rcv,
    nodelay: c.nodelay,
    interval: c.interval,
    resend: c.resend,
    nc: c.nc,
    stream: c.stream,
    ackNoDelay: c.ackNoDelay,
    cc: 'kcp-go',
  };
}

/** Runs a script on rxkcp's `Kcp` and returns its observation lines (main.go's output format). */
export function replayRxkcp(script: ReplayScript): string[] {
  const lines: string[] = [];
  let now = 0;
  const kcp = new Kcp(script.config.conv, replayKcpOptions(script.config));
  const out: Sink<Uint8Array> = { next: (dg) => lines.push(`${now} out ${hex(dg)}`) };
  for (const s of script.steps) {
    now = s.t;
    switch (s.op) {
      case 'send':
        lines.push(`${now} send ${kcp.send(replayPattern(s.len, s.seed))}`);
        break;
      case 'input':
        lines.push(`${now} input ${kcp.input(Buffer.from(s.hex, 'hex'), now, out, s.fec ? 'fec' : 'wire')}`);
        break;
      case 'flush':
        lines.push(`${now} flush ${kcp.flush(now, out)}`);
        break;
      case 'recv':
        for (let m = kcp.recv(); m !== null; m = kcp.recv()) {
          lines.push(`${now} recv ${m.length} ${createHash('sha256').update(m).digest('hex').slice(0, 16)}`);
        }
        break;
      case 'wnd':
        kcp.windowSize(s.snd, s.rcv);
        break;
      case 'nodelay':
        kcp.noDelay(s.nodelay, s.interval, s.resend, s.nc);
        break;
      case 'mtu':
        lines.push(`${now} mtu ${kcp.setMtu(s.mtu) ? 0 : -1}`);
        break;
    }
  }
  return lines;
}

/** sha256 of the observation lines (each followed by a newline), hex. */
export function replayDigest(lines: readonly string[]): string {
  const h = createHash('sha256');
  for (const l of lines) h.update(l + '\n');
  return h.digest('hex');
}

/** Which kcp-go the scenario's output must equal; see `KCP_GO_BUILDS`. */
export type ReplayFamily = 'plain' | 'later';

/** A seeded two-endpoint scenario whose endpoint A's calls make a script. */
export interface ReplayScenario {
  name: string;
  seed: number;
  /**
   * `plain`: touches none of the rules rxkcp takes from later kcp-go (no gap in what the peer
   * receives, so no fast-ack votes; no zero window; no ACK-only flush), so rxkcp must send exactly
   * what the unmodified kcp-go 5.6.1 sends. `later`: may touch them.
   */
  family: ReplayFamily;
  config: Partial<ReplayConfig>;
  /** The peer's options where they differ from A's. */
  peer?: Partial<ReplayConfig>;
  /** A → peer and peer → A links (seeded from the scenario's seed). */
  ab?: Omit<LossyLinkOptions, 'seed'>;
  ba?: Omit<LossyLinkOptions, 'seed'>;
  /** Bytes A writes, in writes of [min, max] bytes, one every 0..gap ms. */
  bytes: number;
  chunk?: [number, number];
  gap?: number;
  /** Bytes the peer writes to A (A reads after every input). */
  peerBytes?: number;
  /** Intervals [from, to) in which every peer → A datagram is lost (withheld ACKs). */
  blackout?: [number, number][];
  /** From this time on every A → peer datagram is lost (a dead link). */
  cut?: number;
  /** Interval [from, to) in which the peer reads nothing (its window fills: zero-window probing). */
  peerPause?: [number, number];
  /** Probability a peer → A datagram reaches A as FEC-rebuilt (Input's regular = false). */
  fecShare?: number;
  /** Option changes on A, and sends at set times. */
  changes?: ReplayStep[];
  /** Longest simulated time (ms). */
  duration: number;
}

const DEFAULTS: ReplayConfig = {
  conv: 0x2a5c_0001,
  mtu: 1400,
  snd: 32,
  rcv: 32,
  nodelay: 0,
  interval: 100,
  resend: 0,
  nc: 0,
  stream: false,
  ackNoDelay: false,
};

/**
 * Simulates the scenario (both endpoints rxkcp cores with the `kcp-go` strategy; each flushes again after
 * what its flush returned, as a kcp-go session's update does) and returns the script of A's calls.
 */
export function generateReplayScript(sc: ReplayScenario): ReplayScript {
  const config: ReplayConfig = { ...DEFAULTS, ...sc.config };
  const peerConfig: ReplayConfig = { ...config, ...sc.peer, ackNoDelay: sc.peer?.ackNoDelay ?? false };
  const prng = new Prng(sc.seed);
  const ab = new LossyLink({ ...sc.ab, seed: sc.seed * 2 + 1 });
  const ba = new LossyLink({ ...sc.ba, seed: sc.seed * 2 + 2 });
  const a = new Kcp(config.conv, replayKcpOptions(config));
  const b = new Kcp(config.conv, replayKcpOptions(peerConfig));
  const steps: ReplayStep[] = [];
  let t = 0;
  const aOut: Sink<Uint8Array> = { next: (dg) => (sc.cut === undefined || t < sc.cut) && ab.send(dg, t) };
  const bOut: Sink<Uint8Array> = { next: (dg) => ba.send(dg, t) };

  const writes = (total: number, p: Prng): { t: number; len: number; seed: number }[] => {
    const list: { t: number; len: number; seed: number }[] = [];
    const [lo, hi] = sc.chunk ?? [1, 4000];
    let at = 0;
    for (let left = total; left > 0; ) {
      const len = Math.min(left, p.int(lo, hi));
      list.push({ t: at, len, seed: p.int(0, 255) });
      left -= len;
      at += p.int(0, sc.gap ?? 5);
    }
    return list;
  };
  const aWrites = writes(sc.bytes, prng);
  const bWrites = writes(sc.peerBytes ?? 0, prng);
  const changes = [...(sc.changes ?? [])];
  const aBytes = sc.bytes + changes.reduce((n, c) => n + (c.op === 'send' ? c.len : 0), 0);
  let aNext = 0;
  let bNext = 0;
  let peerReceived = 0;
  let aReceived = 0;
  const paused = (at: number) => sc.peerPause !== undefined && at >= sc.peerPause[0] && at < sc.peerPause[1];
  const blackedOut = (at: number) => (sc.blackout ?? []).some(([from, to]) => at >= from && at < to);
  const peerRead = () => {
    if (paused(t)) return;
    for (let m = b.recv(); m !== null; m = b.recv()) peerReceived += m.length;
  };

  while (t <= sc.duration) {
    ba.deliver(t, {
      next: (dg) => {
        if (blackedOut(t)) return;
        const fec = sc.fecShare !== undefined && prng.chance(sc.fecShare);
        steps.push(fec ? { t, op: 'input', hex: hex(dg), fec } : { t, op: 'input', hex: hex(dg) });
        a.input(dg, t, aOut, fec ? 'fec' : 'wire');
        if ((sc.peerBytes ?? 0) > 0) {
          steps.push({ t, op: 'recv' });
          for (let m = a.recv(); m !== null; m = a.recv()) aReceived += m.length;
        }
      },
    });
    ab.deliver(t, {
      next: (dg) => {
        b.input(dg, t, bOut);
        peerRead();
      },
    });
    while (aWrites.length > 0 && aWrites[0]!.t <= t) {
      const w = aWrites.shift()!;
      steps.push({ t, op: 'send', len: w.len, seed: w.seed });
      a.send(replayPattern(w.len, w.seed));
    }
    while (bWrites.length > 0 && bWrites[0]!.t <= t) {
      const w = bWrites.shift()!;
      b.send(replayPattern(w.len, w.seed));
    }
    while (changes.length > 0 && changes[0]!.t <= t) {
      const c = { ...changes.shift()!, t };
      steps.push(c);
      if (c.op === 'send') a.send(replayPattern(c.len, c.seed));
      else if (c.op === 'wnd') a.windowSize(c.snd, c.rcv);
      else if (c.op === 'nodelay') a.noDelay(c.nodelay, c.interval, c.resend, c.nc);
      else if (c.op === 'mtu') a.setMtu(c.mtu);
    }
    if (t >= aNext) {
      steps.push({ t, op: 'flush' });
      aNext = t + a.flush(t, aOut);
    }
    if (t >= bNext) {
      peerRead();
      bNext = t + b.flush(t, bOut);
    }
    const done =
      aWrites.length === 0 &&
      bWrites.length === 0 &&
      changes.length === 0 &&
      a.waitSnd() === 0 &&
      b.waitSnd() === 0 &&
      peerReceived === aBytes &&
      aReceived === (sc.peerBytes ?? 0);
    if (done && sc.cut === undefined) break;
    const next = Math.min(aNext, bNext, ab.nextDue() ?? Infinity, ba.nextDue() ?? Infinity, aWrites[0]?.t ?? Infinity, bWrites[0]?.t ?? Infinity, changes[0]?.t ?? Infinity);
    t = Math.max(t + 1, next);
  }
  return { config, steps };
}

/** kcp-go's NoDelay presets as kcptun names them (nodelay, interval, resend, nc). */
const NORMAL = { nodelay: 0, interval: 40, resend: 2, nc: 1 };
const FAST = { nodelay: 0, interval: 30, resend: 2, nc: 1 };
const FAST3 = { nodelay: 1, interval: 10, resend: 2, nc: 1 };

/**
 * The scenarios whose scripts are committed in test/vectors/kcp-replay (with kcp-go's digests).
 * Each names what it exercises.
 */
export const REPLAY_SCENARIOS: ReplayScenario[] = [
  // plain: nothing of later kcp-go's rules can show
  ...[1, 2].map((seed): ReplayScenario => ({ name: 'default options, message mode, 20 ms each way', seed, family: 'plain', config: {}, ab: { delay: 20 }, ba: { delay: 20 }, bytes: 96_000, duration: 60_000 })),
  ...[3, 4].map((seed): ReplayScenario => ({ name: 'nodelay 1/10/2/1, stream, 128-segment windows, a 2 MB/s bottleneck', seed, family: 'plain', config: { ...FAST3, snd: 128, rcv: 128, stream: true }, ab: { delay: 5, bandwidth: 2_000_000 }, ba: { delay: 5 }, bytes: 400_000, chunk: [1, 20_000], duration: 60_000 })),
  { name: 'nodelay 1/20/2/1, windows 1024, mtu 1350, a 4 MB/s bottleneck with a long queue (timeouts in a FIFO)', seed: 5, family: 'plain', config: { nodelay: 1, interval: 20, resend: 2, nc: 1, snd: 1024, rcv: 1024, mtu: 1350 }, ab: { delay: 30, bandwidth: 4_000_000 }, ba: { delay: 30 }, bytes: 1_000_000, chunk: [1000, 60_000], duration: 60_000 },
  ...[6, 7].map((seed): ReplayScenario => ({ name: 'nodelay 0/40/0/0 (congestion window), 64-segment windows, 20 % of the ACK datagrams lost', seed, family: 'plain', config: { nodelay: 0, interval: 40, resend: 0, nc: 0, snd: 64, rcv: 64 }, ab: { delay: 15 }, ba: { delay: 15, loss: 0.2 }, bytes: 200_000, duration: 60_000 })),
  ...([[8, 0], [9, 1]] as const).map(([seed, nodelay]): ReplayScenario => ({ name: `nodelay ${nodelay}: every ACK withheld for 1.2 s, then 3 s (RTO back-off)`, seed, family: 'plain', config: { ...NORMAL, nodelay }, ab: { delay: 10 }, ba: { delay: 10 }, blackout: [[100, 1300], [1600, 4600]], bytes: 60_000, gap: 40, duration: 60_000 })),
  ...([[10, 0, 100], [11, 1, 20]] as const).map(([seed, nodelay, interval]): ReplayScenario => ({ name: `nodelay ${nodelay} interval ${interval}: the link dies at 150 ms (back-off to the dead-link count)`, seed, family: 'plain', config: { nodelay, interval, resend: 0, nc: 0 }, ab: { delay: 10 }, ba: { delay: 10 }, cut: 150, bytes: 20_000, duration: 45_000 })),
  {
    name: 'options changed while sending: nc 1 to 0, windows, nodelay and interval, mtu 1200 to 1400',
    seed: 12,
    family: 'plain',
    config: { ...FAST, snd: 64, rcv: 64, mtu: 1200 },
    ab: { delay: 8 },
    ba: { delay: 8 },
    bytes: 300_000,
    gap: 15,
    changes: [
      { t: 120, op: 'nodelay', nodelay: -1, interval: -1, resend: -1, nc: 0 },
      { t: 300, op: 'wnd', snd: 16, rcv: 0 },
      { t: 700, op: 'nodelay', nodelay: 1, interval: 15, resend: 0, nc: -1 },
      { t: 900, op: 'wnd', snd: 256, rcv: 0 },
      { t: 1100, op: 'mtu', mtu: 1400 },
    ],
    duration: 60_000,
  },
  {
    name: 'nc 1, everything acknowledged, then nc 0 and a write (the congestion window starts from 0)',
    seed: 15,
    family: 'plain',
    config: { ...NORMAL },
    ab: { delay: 10 },
    ba: { delay: 10 },
    bytes: 3000,
    chunk: [3000, 3000],
    changes: [
      { t: 300, op: 'nodelay', nodelay: -1, interval: -1, resend: -1, nc: 0 },
      { t: 300, op: 'send', len: 20_000, seed: 9 },
    ],
    duration: 60_000,
  },
  { name: 'stream mode, small writes coalescing; a quarter of the ACK datagrams arrive FEC-rebuilt', seed: 13, family: 'plain', config: { ...FAST, stream: true }, ab: { delay: 12 }, ba: { delay: 12, jitter: 6 }, fecShare: 0.25, bytes: 120_000, chunk: [1, 700], gap: 2, duration: 60_000 },
  { name: 'both ways: the peer sends 24 KB while A sends 96 KB, A reads as data comes', seed: 14, family: 'plain', config: { ...NORMAL }, ab: { delay: 10 }, ba: { delay: 10 }, bytes: 96_000, peerBytes: 24_000, duration: 60_000 },
  // later: gaps, zero windows and ACK-only flushes
  ...([[20, FAST3], [21, FAST], [22, { nodelay: 0, interval: 100, resend: 0, nc: 0 }], [23, { nodelay: 1, interval: 20, resend: 0, nc: 1 }]] as const).map(([seed, nd]): ReplayScenario => ({ name: `random loss 5 %, jitter and reordering, nodelay ${nd.nodelay}/${nd.interval}/${nd.resend}/${nd.nc}`, seed, family: 'later', config: { ...nd, snd: 128, rcv: 128 }, ab: { delay: 15, jitter: 10, loss: 0.05, reorder: 0.05, duplicate: 0.01 }, ba: { delay: 15, jitter: 10, loss: 0.05 }, bytes: 300_000, duration: 60_000 })),
  { name: 'fast retransmit: resend 2, 10 % loss, windows 256, nc 1', seed: 24, family: 'later', config: { nodelay: 1, interval: 20, resend: 2, nc: 1, snd: 256, rcv: 256 }, ab: { delay: 25, loss: 0.1 }, ba: { delay: 25 }, bytes: 500_000, chunk: [1000, 50_000], duration: 60_000 },
  { name: 'zero window: the peer (window 16) stops reading for 4 s', seed: 25, family: 'later', config: { ...FAST }, peer: { rcv: 16 }, ab: { delay: 10 }, ba: { delay: 10 }, peerPause: [200, 4200], bytes: 150_000, duration: 60_000 },
  { name: 'ackNoDelay with both ways busy, mtu 400 (ACK clocking: a datagram of ACKs flushes at once)', seed: 26, family: 'later', config: { ...FAST, ackNoDelay: true, mtu: 400, snd: 256, rcv: 256 }, ab: { delay: 10, loss: 0.02 }, ba: { delay: 10, loss: 0.02 }, bytes: 60_000, peerBytes: 60_000, duration: 60_000 },
  { name: 'A receives a burst: 100 segments a flush apart (ACK clocking without ackNoDelay)', seed: 27, family: 'later', config: { ...NORMAL, snd: 512, rcv: 512 }, peer: { interval: 10 }, ab: { delay: 10 }, ba: { delay: 10, loss: 0.03 }, bytes: 2_000, chunk: [20_000, 70_000], peerBytes: 140_000, duration: 60_000 },
];

/** Scenarios the interop suite adds to the committed ones, from fresh seeds (not recorded). */
export function extraReplayScenarios(seeds: readonly number[]): ReplayScenario[] {
  return seeds.flatMap((seed) =>
    REPLAY_SCENARIOS.filter((s) => s.seed === 3 || s.seed === 6 || s.seed === 20 || s.seed === 22 || s.seed === 24 || s.seed === 25).map((s) => ({ ...s, seed }))
  );
}

/** The file a scenario's script is committed as (test/vectors/kcp-replay/, gzipped). */
export function replayFileName(sc: ReplayScenario): string {
  return `seed-${sc.seed}.jsonl.gz`;
}
