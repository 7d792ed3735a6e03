/**
 * Bulk flows through one bottleneck in virtual time: N KCP senders, each with its own receiver,
 * whose datagrams share the forward link (the bottleneck: its rate, queue and loss), while ACKs
 * come back on a link of their own. The forward link can change at given times (a new link takes
 * every datagram sent from then on; the old one delivers what it holds), which is how a path whose
 * rate halves or doubles is modelled. Records, per flow, payload bytes delivered to the reader
 * over time and the sender's RTT samples. Pure and seeded: the same options give the same run.
 */
import { type CcFactory, type CcName, type CongestionControl } from '../../src/kcp/cc.js';
import { ccFactory } from '../../src/kcp/cc-names.js';
import { Kcp, type KcpOptions } from '../../src/kcp/kcp.js';
import { LossyLink, type LossyLinkOptions } from '../../src/sim/lossy-link.js';
import type { Sink } from '../../src/sink.js';
import { Snmp } from '../../src/stats.js';

export interface FlowsOptions {
  /** The sender's strategy. */
  cc: CcName | CcFactory;
  /** When each flow starts sending (ms); one flow per entry. */
  starts: number[];
  /** The forward path from time `from` (ms) on; the first must start at 0. */
  forward: { from: number; link: Omit<LossyLinkOptions, 'seed'> }[];
  /** One-way delay of the ACK path (ms). */
  backDelay: number;
  /** Virtual time to run (ms). */
  until: number;
  seed: number;
  /** Overrides of the KCP options (default: kcptun fast3-like nodelay 1, interval 10, resend 2, nc 1, windows 1024, stream). */
  kcp?: KcpOptions;
  /** Width of the delivery buckets (ms). */
  bucket?: number;
}

export interface FlowsResult {
  /** Payload bytes delivered to each flow's reader, per bucket. */
  delivered: number[][];
  /** Each flow's RTT samples: [time, rtt]. */
  rtts: [number, number][][];
  senders: Snmp[];
  bucket: number;
  mss: number;
  mtu: number;
  /** Datagrams the forward links dropped. */
  forwardDrops: number;
}

export function runFlows(o: FlowsOptions): FlowsResult {
  const bucket = o.bucket ?? 100;
  const opts: KcpOptions = { sndWnd: 1024, rcvWnd: 1024, nodelay: 1, interval: 10, resend: 2, nc: 1, stream: true, ...o.kcp };
  const n = o.starts.length;
  const make = ccFactory(o.cc);
  const rtts: [number, number][][] = o.starts.map(() => []);
  const senders: Snmp[] = [];
  const a: Kcp[] = [];
  const b: Kcp[] = [];
  for (let i = 0; i < n; i++) {
    const stats = new Snmp();
    senders.push(stats);
    const samples = rtts[i]!;
    const cc: CcFactory = (host) => {
      const s: CongestionControl = make(host);
      const onRtt = s.onRtt.bind(s);
      s.onRtt = (rtt, now) => {
        samples.push([now, rtt]);
        onRtt(rtt, now);
      };
      return s;
    };
    a.push(new Kcp(i + 1, { ...opts, cc }, stats));
    b.push(new Kcp(i + 1, opts));
  }
  const forward = o.forward.map((f, i) => ({ from: f.from, link: new LossyLink({ ...f.link, seed: o.seed + 10 * i }) }));
  const back = new LossyLink({ delay: o.backDelay, seed: o.seed + 1 });
  let now = 0;
  const sendOf = (): LossyLink => {
    let l = forward[0]!.link;
    for (const f of forward) if (f.from <= now) l = f.link;
    return l;
  };
  const outA: Sink<Uint8Array> = { next: (dg) => sendOf().send(dg, now) };
  const outB: Sink<Uint8Array> = { next: (dg) => back.send(dg, now) };
  const convOf = (dg: Uint8Array) => (dg[0]! | (dg[1]! << 8) | (dg[2]! << 16) | (dg[3]! << 24)) >>> 0;
  const intoB: Sink<Uint8Array> = { next: (dg) => b[convOf(dg) - 1]!.input(dg, now >>> 0, outB) };
  const intoA: Sink<Uint8Array> = { next: (dg) => a[convOf(dg) - 1]!.input(dg, now >>> 0, outA) };
  const nextA = o.starts.map((s) => s);
  const nextB = o.starts.map((s) => s);
  const delivered: number[][] = o.starts.map(() => new Array<number>(Math.ceil(o.until / bucket) + 1).fill(0));
  const chunk = new Uint8Array(a[0]!.mss);
  const feed = (i: number): void => {
    if (now < o.starts[i]!) return;
    const k = a[i]!;
    while (k.waitSnd() < 2 * k.sndWnd) k.send(chunk);
  };
  const read = (): void => {
    for (let i = 0; i < n; i++) {
      for (let m = b[i]!.recvAll(); m !== null; m = b[i]!.recvAll()) delivered[i]![Math.floor(now / bucket)]! += m.length;
    }
  };
  while (now <= o.until) {
    let t = Infinity;
    for (let i = 0; i < n; i++) t = Math.min(t, nextA[i]!, nextB[i]!);
    for (const f of forward) {
      const d = f.link.nextDue();
      if (d !== undefined && d < t) t = d;
    }
    const d = back.nextDue();
    if (d !== undefined && d < t) t = d;
    if (t > now) now = t;
    if (now > o.until) break;
    for (const f of forward) f.link.deliver(now, intoB);
    back.deliver(now, intoA);
    read();
    for (let i = 0; i < n; i++) {
      if (now < o.starts[i]!) continue;
      feed(i);
      if (now >= nextA[i]!) nextA[i] = now + a[i]!.flush(now >>> 0, outA);
      if (now >= nextB[i]!) nextB[i] = now + b[i]!.flush(now >>> 0, outB);
    }
  }
  return { delivered, rtts, senders, bucket, mss: a[0]!.mss, mtu: a[0]!.mtu, forwardDrops: forward.reduce((s, f) => s + f.link.stats.dropped, 0) };
}

/** Payload bytes per ms flow `i` received in [from, to) ms (bucket-aligned). */
export function goodput(r: FlowsResult, i: number, from: number, to: number): number {
  let sum = 0;
  for (let k = Math.floor(from / r.bucket); k < Math.floor(to / r.bucket); k++) sum += r.delivered[i]![k] ?? 0;
  return sum / (to - from);
}

/** Jain's fairness index of the values: 1 when all are equal, 1/n when one takes everything. */
export function jain(xs: number[]): number {
  const sum = xs.reduce((s, x) => s + x, 0);
  const sq = xs.reduce((s, x) => s + x * x, 0);
  return sq === 0 ? 0 : (sum * sum) / (xs.length * sq);
}

/** The q-quantile (0..1) of the RTT samples of flow `i` taken in [from, to) ms. */
export function rttQuantile(r: FlowsResult, i: number, from: number, to: number, q: number): number {
  const xs = r.rtts[i]!.filter(([t]) => t >= from && t < to).map(([, v]) => v).sort((x, y) => x - y);
  if (xs.length === 0) return NaN;
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
}
