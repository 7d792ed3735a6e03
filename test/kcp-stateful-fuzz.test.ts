/**
 * A structure-aware, stateful fuzzer of the KCP core (fast-check). Instead of random bytes it
 * builds well-formed segments with the segment codec, and garbage a step away from well-formed
 * (another conv, an unknown cmd, a len that runs past the datagram or stops short of the body,
 * sequence numbers far outside the window), packs several per datagram, and interleaves them with
 * every call a user makes: recv, peekSize, recvAll, send, flush (ACK-only, new-only), and jumps
 * of the clock, in message and stream mode, near the 2^32 wrap of sn and of time.
 *
 * 1. One core under attack. The payload and frg of each sequence number come from a table drawn
 *    per run: either the fragments of honest messages, or arbitrary frg values. Whatever order,
 *    repetition and garbage the datagrams bring, the core must:
 *    - never throw, and keep its memory bounded (rcv_buf and rcv_queue within rcv_wnd, snd_buf
 *      within snd_wnd, the ACK list flushed);
 *    - deliver exactly what a model of the receive queue allows: sequence numbers are consumed in
 *      order; a message is a run of fragments whose frg counts down by one to 0; a run that a later
 *      segment breaks is dropped and counted (KCPInErrors); a run longer than rcv_wnd waits for
 *      ever. `recv` and `peekSize` must agree with the model at every call, given how far the
 *      core has received; `recvAll` hands out whole messages only. With an honest table the
 *      delivered messages are the honest ones, in order, each whole;
 *    - write only well-formed datagrams within the mtu, a retransmission equal to the first copy.
 * 2. Two cores talking through an in-memory link the fuzzer drives: it delivers any datagram in
 *    flight (reordering), drops, duplicates, flushes either side, reads either side in any way,
 *    and moves the clock. Then a clean link settles it: each side must have received exactly what
 *    the other sent (message for message; byte for byte in stream mode).
 *
 * Runs: KCP_FUZZ_RUNS per property (default 150, a few seconds; `npm run test:fuzz` runs many
 * more, `npm run test:explore` fresh seeds for a time budget). A failure prints the command that
 * replays it (test/helpers/properties.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IKCP_CMD_ACK, IKCP_CMD_PUSH, IKCP_CMD_WASK, IKCP_CMD_WINS, IKCP_OVERHEAD, IKCP_RTO_MAX } from '../src/kcp/constants.js';
import { Kcp, type FlushKind, type KcpOptions } from '../src/kcp/kcp.js';
import { decodeSegments, encodeHeader } from '../src/kcp/segment.js';
import type { Sink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { checkProperty, propertyTimeout } from './helpers/properties.js';

const RUNS = Number(process.env.KCP_FUZZ_RUNS ?? 150);
/** Each property's runs in `npm test`, and its share of `npm run test:explore`. */
const FUZZ_PROPERTY = { numRuns: RUNS, explore: 3 };
// generous: no speed is asserted, the bound only ends a run that hangs
const TIMEOUT = propertyTimeout(FUZZ_PROPERTY, Math.max(60_000, RUNS * 500));

/** What the runs exercised, printed after each property so a vacuous fuzzer shows. */
const seen = {
  runs: 0,
  messages: 0,
  dropped: 0,
  refused: new Map<number, number>(),
  stuck: 0,
  pairRuns: 0,
  pairBytes: 0,
  pairMessages: 0,
  pairRefusedSends: 0,
  settleRounds: 0,
};

const u32 = (n: number) => n >>> 0;
const diff = (a: number, b: number) => (a - b) | 0;

/** The private state the invariants look at. */
interface Inside {
  rcvBuf: Map<number, unknown>;
  sndBuf: { length: number };
  sndQueue: { length: number };
  ackCount: number;
  rxMinrto: number;
  nocwnd: number;
}
const inside = (k: Kcp) => k as unknown as Inside;

/** Payload of table entry `i`: its length from the table, bytes that name `i`. */
/** The flush an op asks for: ACKs only wins over new-only, as the two flags once combined. */
function flushKind(op: { ackOnly: boolean; newOnly: boolean }): FlushKind {
  return op.ackOnly ? 'acks' : op.newOnly ? 'new' : 'full';
}

function payload(i: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let j = 0; j < len; j++) b[j] = (i * 131 + j * 7 + (j === 0 ? i >> 8 : 0) + 1) & 0xff;
  return b;
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

const eq = (a: Uint8Array | null, b: Uint8Array | null) => {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

// ---- the model of the receive queue -----------------------------------------------------------

/**
 * What a reader gets from table entries in sn order: `msg` items are delivered, `drop` items are
 * discarded (a run some later segment broke). `decideAt` is the entry whose arrival in rcv_queue
 * settles the item. Parsing stops where nothing more can be settled: the end of the table, or a
 * run that fills the whole receive window without ending.
 */
interface Item {
  kind: 'msg' | 'drop';
  from: number;
  to: number;
  decideAt: number;
}
function parse(frgs: readonly number[], rcvWnd: number): Item[] {
  const items: Item[] = [];
  let p = 0;
  while (p < frgs.length) {
    const k = frgs[p]!;
    let i = 1;
    while (i <= k && i < rcvWnd && p + i < frgs.length && frgs[p + i] === k - i) i++;
    if (i > k) {
      items.push({ kind: 'msg', from: p, to: p + k + 1, decideAt: p + k });
      p += k + 1;
    } else if (p + i < frgs.length && i < rcvWnd) {
      items.push({ kind: 'drop', from: p, to: p + i, decideAt: p + i });
      p += i;
    } else break;
  }
  return items;
}

class ReceiveModel {
  readonly items: Item[];
  cursor = 0;
  dropped = 0;
  delivered: Uint8Array[] = [];
  constructor(
    readonly frgs: readonly number[],
    readonly lens: readonly number[],
    rcvWnd: number
  ) {
    this.items = parse(frgs, rcvWnd);
  }
  bytes(it: Item): Uint8Array {
    const parts: Uint8Array[] = [];
    for (let i = it.from; i < it.to; i++) parts.push(payload(i, this.lens[i]!));
    return concat(parts);
  }
  /** The next message settled once `avail` entries have reached rcv_queue; drops before it are taken. */
  next(avail: number, take: boolean): Uint8Array | null {
    while (this.cursor < this.items.length) {
      const it = this.items[this.cursor]!;
      if (it.decideAt >= avail) return null;
      if (it.kind === 'drop') {
        this.dropped += it.to - it.from;
        this.cursor++;
        continue;
      }
      const m = this.bytes(it);
      if (take) {
        this.cursor++;
        this.delivered.push(m);
      }
      return m;
    }
    return null;
  }
}

// ---- checks shared by both properties ---------------------------------------------------------

function checkBounds(k: Kcp, where: string): void {
  const s = inside(k);
  if (k.rcvQueueLength > k.rcvWnd) throw new Error(`${where}: rcv_queue ${k.rcvQueueLength} > rcv_wnd ${k.rcvWnd}`);
  if (s.rcvBuf.size > k.rcvWnd) throw new Error(`${where}: rcv_buf ${s.rcvBuf.size} > rcv_wnd ${k.rcvWnd}`);
  for (const sn of s.rcvBuf.keys()) {
    if (u32(sn - k.rcvNxt) >= k.rcvWnd) throw new Error(`${where}: rcv_buf holds sn ${sn} outside [${k.rcvNxt}, +${k.rcvWnd})`);
  }
  if (s.sndBuf.length > k.sndWnd) throw new Error(`${where}: snd_buf ${s.sndBuf.length} > snd_wnd ${k.sndWnd}`);
  if (u32(k.sndNxt - k.sndUna) !== s.sndBuf.length) throw new Error(`${where}: snd_nxt - snd_una = ${u32(k.sndNxt - k.sndUna)} but snd_buf holds ${s.sndBuf.length}`);
  if (k.rxRto < s.rxMinrto || k.rxRto > IKCP_RTO_MAX) throw new Error(`${where}: rx_rto ${k.rxRto} outside [${s.rxMinrto}, ${IKCP_RTO_MAX}]`);
}

/** Checks every datagram a core writes and remembers each PUSH so retransmissions can be compared. */
class OutputChecker implements Sink<Uint8Array> {
  readonly pushes = new Map<number, { frg: number; data: Uint8Array }>();
  datagrams: Uint8Array[] = [];
  constructor(private readonly k: Kcp) {}
  next(dg: Uint8Array): void {
    const k = this.k;
    if (dg.length > k.mtu) throw new Error(`datagram of ${dg.length} bytes > mtu ${k.mtu}`);
    const segs = decodeSegments(dg);
    if (segs === null || segs.length === 0) throw new Error('malformed datagram written');
    let used = 0;
    for (const { header: h, data } of segs) {
      used += IKCP_OVERHEAD + h.len;
      if (h.conv !== k.conv) throw new Error(`segment of conv ${h.conv} written by conv ${k.conv}`);
      if (h.cmd < IKCP_CMD_PUSH || h.cmd > IKCP_CMD_WINS) throw new Error(`cmd ${h.cmd} written`);
      if (h.cmd !== IKCP_CMD_PUSH) {
        if (h.len !== 0) throw new Error('control segment with a body');
        continue;
      }
      if (h.len > k.mss) throw new Error(`PUSH of ${h.len} bytes > mss ${k.mss}`);
      if (k.isStream && h.frg !== 0) throw new Error(`stream mode wrote frg ${h.frg}`);
      const seen = this.pushes.get(h.sn);
      if (seen === undefined) this.pushes.set(h.sn, { frg: h.frg, data: data.slice() });
      else if (seen.frg !== h.frg || !eq(seen.data, data)) throw new Error(`sn ${h.sn} retransmitted with other content`);
    }
    if (used !== dg.length) throw new Error('trailing bytes in a written datagram');
    this.datagrams.push(dg);
  }
}

// ---- property 1: one core under attack ----------------------------------------------------------

type SegSpec =
  | { k: 'data'; rel: number; una: number; wnd: number; ts: number } // table entry at rcv_nxt + rel
  | { k: 'dataAt'; idx: number; una: number; wnd: number; ts: number } // table entry idx, wherever it falls
  | { k: 'far'; off: number; below: boolean; frg: number; len: number } // PUSH outside the window
  | { k: 'ctl'; cmd: number; sn: number; una: number; wnd: number; ts: number; body: number }
  | { k: 'badconv' }
  | { k: 'badcmd'; cmd: number }
  | { k: 'badlen'; extra: number } // len past the end of the datagram (ends it)
  | { k: 'shortlen'; leftover: number }; // len short of the body: the rest reads as a header of another conv

type Op =
  | { t: 'input'; segs: SegSpec[]; regular: boolean }
  | { t: 'recv' }
  | { t: 'peek' }
  | { t: 'recvAll' }
  | { t: 'flush'; ackOnly: boolean; newOnly: boolean }
  | { t: 'send'; size: number }
  | { t: 'tick'; dt: number };

const arbWindowish = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff }));
const arbU32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0xfffffff0, max: 0xffffffff }));
const arbSeg: fc.Arbitrary<SegSpec> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('data' as const), rel: fc.integer({ min: -3, max: 40 }), una: arbU32, wnd: arbWindowish, ts: arbU32 }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('dataAt' as const), idx: fc.integer({ min: -5, max: 200 }), una: arbU32, wnd: arbWindowish, ts: arbU32 }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('far' as const), off: fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 0x7fff0000 })), below: fc.boolean(), frg: fc.integer({ min: 0, max: 255 }), len: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('ctl' as const), cmd: fc.constantFrom(IKCP_CMD_ACK, IKCP_CMD_WASK, IKCP_CMD_WINS), sn: arbU32, una: arbU32, wnd: arbWindowish, ts: arbU32, body: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'badconv' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('badcmd' as const), cmd: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 85, max: 255 })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('badlen' as const), extra: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 0x7fffffff })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('shortlen' as const), leftover: fc.integer({ min: 4, max: 60 }) }) }
);
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('input' as const), segs: fc.array(arbSeg, { minLength: 0, maxLength: 6 }), regular: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constant({ t: 'recv' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'peek' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'recvAll' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('flush' as const), ackOnly: fc.boolean(), newOnly: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('send' as const), size: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 120_000 })) }) }
);

const arbTuning = fc.record({
  nodelay: fc.integer({ min: 0, max: 2 }),
  interval: fc.integer({ min: 10, max: 200 }),
  resend: fc.integer({ min: 0, max: 3 }),
  nc: fc.integer({ min: 0, max: 1 }),
  ackNoDelay: fc.boolean(),
});

/** The receiver's table: frg and payload length of each sequence number from startSn on. */
const arbTable = (stream: boolean, rcvWnd: number) =>
  fc.oneof(
    // honest: the fragments of whole messages (stream senders write frg 0 only)
    fc.array(fc.record({ count: fc.integer({ min: 1, max: Math.min(rcvWnd, 6) }), len: fc.integer({ min: 1, max: 64 }) }), { maxLength: 24, size: 'max' }).map((msgs) => ({
      honest: true,
      frgs: msgs.flatMap((m) => Array.from({ length: m.count }, (_, i) => (stream ? 0 : m.count - 1 - i))),
      lens: msgs.flatMap((m) => Array.from({ length: m.count }, (_, i) => ((m.len + i * 13) % 64) + 1)),
    })),
    // arbitrary frg values, empty payloads included
    fc.array(fc.record({ frg: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 255 })), len: fc.integer({ min: 0, max: 64 }) }), { maxLength: 80, size: 'max' }).map((es) => ({
      honest: false,
      frgs: es.map((e) => e.frg),
      lens: es.map((e) => e.len),
    }))
  );

const arbReceiverCase = fc
  .record({
    stream: fc.boolean(),
    rcvWnd: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 48 })),
    sndWnd: fc.integer({ min: 1, max: 48 }),
    mtu: fc.integer({ min: 50, max: 1400 }),
    conv: arbU32,
    startSn: arbU32,
    start: arbU32,
    tuning: arbTuning,
  })
  .chain((c) => fc.record({ c: fc.constant(c), table: arbTable(c.stream, c.rcvWnd), ops: fc.array(arbOp, { maxLength: 80, size: 'max' }) }));

interface Tuning {
  nodelay: number;
  interval: number;
  resend: number;
  nc: number;
  ackNoDelay: boolean;
}
interface ReceiverCase {
  c: { stream: boolean; rcvWnd: number; sndWnd: number; mtu: number; conv: number; startSn: number; start: number; tuning: Tuning };
  table: { honest: boolean; frgs: number[]; lens: number[] };
  ops: Op[];
}

/** Runs one case; throws on the first violation. */
function runReceiver({ c, table, ops }: ReceiverCase): void {
  const stats = new Snmp();
  const options: KcpOptions = { stream: c.stream, rcvWnd: c.rcvWnd, sndWnd: c.sndWnd, mtu: c.mtu, startSn: c.startSn, ...c.tuning };
  const k = new Kcp(c.conv, options, stats);
  const out = new OutputChecker(k);
  const model = new ReceiveModel(table.frgs, table.lens, c.rcvWnd);
  const N = table.frgs.length;
  const start = c.startSn;
  let now = c.start;
  const sentMessages: Uint8Array[] = [];
  let sendCount = 0;

  // the whole-table sanity of the model: honest tables parse into the honest messages
  if (table.honest) {
    const items = model.items;
    if (items.some((it) => it.kind === 'drop')) throw new Error('model: an honest table has a broken run');
    if (items.reduce((n, it) => n + it.to - it.from, 0) !== N) throw new Error('model: an honest table does not parse whole');
  }

  const avail = () => u32(k.rcvNxt - start);
  /** The PUSH for `sn`: the table's entry, junk below the start (never accepted), or null past the table. */
  const dataSeg = (sn: number, s: { una: number; wnd: number; ts: number }): Uint8Array | null => {
    const idx = diff(sn, start);
    if (idx >= N) return null; // no such entry: it must never reach the window
    const inTable = idx >= 0;
    const data = inTable ? payload(idx, table.lens[idx]!) : new Uint8Array(3).fill(0xee);
    const b = new Uint8Array(IKCP_OVERHEAD + data.length);
    encodeHeader(b, 0, c.conv, IKCP_CMD_PUSH, inTable ? table.frgs[idx]! : 7, s.wnd, s.ts, sn, s.una, data.length);
    b.set(data, IKCP_OVERHEAD);
    return b;
  };

  const build = (segs: SegSpec[]): Uint8Array => {
    const rcvNxt0 = k.rcvNxt;
    const parts: Uint8Array[] = [];
    for (const s of segs) {
      if (s.k === 'data' || s.k === 'dataAt') {
        const seg = dataSeg(s.k === 'data' ? u32(rcvNxt0 + s.rel) : u32(start + s.idx), s);
        if (seg !== null) parts.push(seg);
      } else if (s.k === 'far') {
        // beyond anything the window can reach while this datagram is read, or long delivered
        const sn = s.below ? u32(rcvNxt0 - 1 - s.off) : u32(rcvNxt0 + 2 * c.rcvWnd + 64 + s.off);
        const b = new Uint8Array(IKCP_OVERHEAD + s.len).fill(0xfa);
        encodeHeader(b, 0, c.conv, IKCP_CMD_PUSH, s.frg, 1, 0, sn, 0, s.len);
        parts.push(b);
      } else if (s.k === 'ctl') {
        const b = new Uint8Array(IKCP_OVERHEAD + s.body).fill(0xcc);
        encodeHeader(b, 0, c.conv, s.cmd, 0, s.wnd, s.ts, s.sn, s.una, s.body);
        parts.push(b);
      } else if (s.k === 'badconv') {
        const b = new Uint8Array(IKCP_OVERHEAD);
        encodeHeader(b, 0, u32(c.conv + 1), IKCP_CMD_PUSH, 0, 32, 0, rcvNxt0, 0, 0);
        parts.push(b);
      } else if (s.k === 'badcmd') {
        const b = new Uint8Array(IKCP_OVERHEAD);
        encodeHeader(b, 0, c.conv, s.cmd, 0, 32, 0, rcvNxt0, 0, 0);
        parts.push(b);
      } else if (s.k === 'badlen') {
        const b = new Uint8Array(IKCP_OVERHEAD + 4).fill(0xbb);
        encodeHeader(b, 0, c.conv, IKCP_CMD_PUSH, 0, 32, 0, rcvNxt0, 0, Math.min(0xffffffff, 4 + s.extra));
        parts.push(b);
        break; // claims more than the datagram holds: nothing after it is read
      } else {
        // an ACK whose len stops short: the rest of its body is read as a header of another conv
        const b = new Uint8Array(IKCP_OVERHEAD + s.leftover).fill(0x5a);
        encodeHeader(b, 0, c.conv, IKCP_CMD_ACK, 0, 32, 0, 0, 0, 0);
        b[IKCP_OVERHEAD] = (c.conv & 0xff) ^ 0x80;
        parts.push(b);
      }
    }
    return concat(parts);
  };

  const expectRead = (what: string, got: Uint8Array | null, want: Uint8Array | null) => {
    if (!eq(got, want)) throw new Error(`${what} returned ${got === null ? 'null' : `${got.length} bytes`}, the model says ${want === null ? 'null' : `${want.length} bytes`} (${model.cursor} of ${model.items.length} items taken, ${avail()} entries received)`);
  };
  const checkDropped = (what: string) => {
    if (stats.KCPInErrors !== model.dropped) throw new Error(`${what}: ${stats.KCPInErrors} segments dropped, the model says ${model.dropped}`);
  };

  const readRecv = () => {
    const got = k.recv();
    expectRead('recv', got, model.next(avail(), true));
    checkDropped('recv');
  };
  const readPeek = () => {
    const size = k.peekSize();
    const want = model.next(avail(), false);
    if (size !== (want === null ? -1 : want.length)) throw new Error(`peekSize ${size}, the model says ${want === null ? -1 : want.length}`);
    checkDropped('peekSize');
    // what recv then returns is what peekSize announced
    const got = k.recv();
    if ((got === null ? -1 : got.length) !== size) throw new Error(`peekSize ${size} but recv returned ${got === null ? 'null' : got.length}`);
    expectRead('recv after peekSize', got, model.next(avail(), true));
  };
  const readAll = () => {
    const got = k.recvAll();
    const parts: Uint8Array[] = [];
    for (let m = model.next(avail(), true); m !== null; m = model.next(avail(), true)) parts.push(m);
    expectRead('recvAll', got, parts.length === 0 ? null : concat(parts));
    checkDropped('recvAll');
  };

  let step = 0;
  let segsSinceFlush = 0;
  for (const op of ops) {
    const where = `op ${step++} (${op.t})`;
    switch (op.t) {
      case 'input': {
        const dg = build(op.segs);
        const r = k.input(dg, now, out, op.regular ? 'wire' : 'fec');
        seen.refused.set(r, (seen.refused.get(r) ?? 0) + 1);
        // the ACK list: a datagram read whole leaves fewer than a datagram's worth (none with
        // ackNoDelay); one refused part-way leaves its ACKs for the next flush
        segsSinceFlush += op.segs.length;
        const acks = inside(k).ackCount;
        if (acks > segsSinceFlush) throw new Error(`${where}: ${acks} ACKs pending after ${segsSinceFlush} segments`);
        if (r === 0 && acks >= (c.tuning.ackNoDelay ? 1 : Math.floor(k.mtu / IKCP_OVERHEAD))) throw new Error(`${where}: ${acks} ACKs left after a datagram read whole`);
        break;
      }
      case 'recv':
        readRecv();
        break;
      case 'peek':
        readPeek();
        break;
      case 'recvAll':
        readAll();
        break;
      case 'flush':
        k.flush(now, out, flushKind(op));
        segsSinceFlush = 0;
        if (inside(k).ackCount !== 0) throw new Error(`${where}: ACKs left after a flush`);
        // an ACK-only flush leaves congestion control alone (kcp-go starts cwnd at 0), and with
        // nc 1 there is none (cwnd stays 0, as kcp-go's)
        if (!op.ackOnly && inside(k).nocwnd === 0 && k.cwnd < 1) throw new Error(`${where}: cwnd ${k.cwnd}`);
        break;
      case 'send': {
        const data = payload(0x10000 + sendCount++, op.size);
        const r = k.send(data);
        const count = op.size <= k.mss ? 1 : Math.ceil(op.size / k.mss);
        if (op.size === 0 && r !== -1) throw new Error(`${where}: send of nothing returned ${r}`);
        if (op.size > 0 && r !== (count > 255 && !k.isStream ? -2 : 0)) throw new Error(`${where}: send of ${op.size} bytes returned ${r}`);
        if (r === 0) sentMessages.push(data);
        break;
      }
      case 'tick':
        now = u32(now + op.dt);
        break;
    }
    checkBounds(k, where);
  }

  // drain: the honest sender sends the window's worth in order, the reader reads everything,
  // until the table is through or nothing moves (a run longer than the window)
  for (let round = 0; round < N + 4; round++) {
    const before = avail();
    const segs: Uint8Array[] = [];
    for (let i = before; i < Math.min(N, before + c.rcvWnd); i++) segs.push(dataSeg(u32(start + i), { una: 0, wnd: 32, ts: now })!);
    for (const s of segs) k.input(s, now, out);
    readAll();
    checkBounds(k, `drain round ${round}`);
    if (avail() === before && segs.length > 0 && k.rcvQueueLength >= c.rcvWnd) break;
    if (avail() >= N) break;
  }
  readAll();
  // everything the model can settle was settled
  if (model.cursor !== model.items.length) throw new Error(`drain ended with ${model.items.length - model.cursor} items unsettled (${avail()} of ${N} entries received)`);
  checkDropped('end');
  seen.runs++;
  seen.messages += model.delivered.length;
  seen.dropped += model.dropped;
  if (avail() < N) seen.stuck++;
  if (table.honest) {
    // exactly the honest messages, in order, each whole
    const honest = model.items.map((it) => model.bytes(it));
    if (model.delivered.length !== honest.length || !model.delivered.every((m, i) => eq(m, honest[i]!))) throw new Error('the delivered messages are not the honest ones');
    if (avail() !== N) throw new Error(`an honest table was not received whole (${avail()} of ${N})`);
  }

  // what went out: in message mode, each PUSH seen is the fragment its sn stands for
  if (!c.stream) {
    const frags: { frg: number; data: Uint8Array }[] = [];
    for (const m of sentMessages) {
      const count = m.length <= k.mss ? 1 : Math.ceil(m.length / k.mss);
      for (let i = 0; i < count; i++) frags.push({ frg: count - 1 - i, data: m.subarray(i * k.mss, Math.min(m.length, (i + 1) * k.mss)) });
    }
    for (const [sn, p] of out.pushes) {
      const f = frags[u32(sn - start)];
      if (f === undefined || f.frg !== p.frg || !eq(f.data, p.data)) throw new Error(`PUSH sn ${sn} is not fragment ${u32(sn - start)} of what was sent`);
    }
  }
}

// ---- property 2: two cores through a link the fuzzer drives ------------------------------------

type PairOp =
  | { t: 'send'; side: 0 | 1; size: number }
  | { t: 'flush'; side: 0 | 1; ackOnly: boolean; newOnly: boolean }
  | { t: 'deliver'; dir: 0 | 1; pick: number; regular: boolean }
  | { t: 'drop'; dir: 0 | 1; pick: number }
  | { t: 'dup'; dir: 0 | 1; pick: number }
  | { t: 'tick'; dt: number }
  | { t: 'read'; side: 0 | 1; how: 'recv' | 'recvAll' | 'peek' };

const arbSide = fc.constantFrom(0 as const, 1 as const);
const arbPairOp: fc.Arbitrary<PairOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('send' as const), side: arbSide, size: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 8000 })) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('flush' as const), side: arbSide, ackOnly: fc.boolean(), newOnly: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('deliver' as const), dir: arbSide, pick: fc.nat(), regular: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('drop' as const), dir: arbSide, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dup' as const), dir: arbSide, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 5000 })) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('read' as const), side: arbSide, how: fc.constantFrom('recv' as const, 'recvAll' as const, 'peek' as const) }) }
);
const arbCore = fc.record({
  mtu: fc.oneof(fc.integer({ min: 50, max: 200 }), fc.integer({ min: 50, max: 1400 })),
  sndWnd: fc.integer({ min: 1, max: 64 }),
  rcvWnd: fc.integer({ min: 1, max: 64 }),
  tuning: arbTuning,
});
const arbPairCase = fc.record({
  stream: fc.boolean(),
  conv: arbU32,
  startSn: arbU32,
  start: arbU32,
  a: arbCore,
  b: arbCore,
  ops: fc.array(arbPairOp, { maxLength: 150, size: 'max' }),
});

interface PairCase {
  stream: boolean;
  conv: number;
  startSn: number;
  start: number;
  a: { mtu: number; sndWnd: number; rcvWnd: number; tuning: Tuning };
  b: { mtu: number; sndWnd: number; rcvWnd: number; tuning: Tuning };
  ops: PairOp[];
}

function runPair(p: PairCase): void {
  const cfg = [p.a, p.b];
  const stats = [new Snmp(), new Snmp()];
  const cores = cfg.map((o, i) => new Kcp(p.conv, { stream: p.stream, mtu: o.mtu, sndWnd: o.sndWnd, rcvWnd: o.rcvWnd, startSn: p.startSn, ...o.tuning }, stats[i]));
  const wire: Uint8Array[][] = [[], []]; // wire[d]: datagrams in flight from core d to core 1 - d
  const outs = cores.map((k, d) => {
    const check = new OutputChecker(k);
    return { next: (dg: Uint8Array) => (check.next(dg), wire[d]!.push(dg)) };
  });
  const sent: Uint8Array[][] = [[], []];
  const got: Uint8Array[][] = [[], []];
  let now = p.start;
  let counter = 0;

  const msgIdx = [0, 0]; // message mode: messages of the other side read so far
  const read = (side: 0 | 1, how: 'recv' | 'recvAll' | 'peek') => {
    const k = cores[side]!;
    let m: Uint8Array | null;
    if (how === 'peek') {
      const size = k.peekSize();
      m = k.recv();
      if ((m === null ? -1 : m.length) !== size) throw new Error(`side ${side}: peekSize ${size} but recv returned ${m === null ? 'null' : m.length}`);
    } else m = how === 'recv' ? k.recv() : k.recvAll();
    if (m === null) return;
    got[side]!.push(m);
    const from = sent[1 - side]!;
    if (p.stream) {
      // what arrived so far is what the other side sent, from the start
      const have = concat(got[side]!);
      const all = concat(from);
      if (have.length > all.length || !eq(have, all.subarray(0, have.length))) throw new Error(`side ${side} received bytes that were not sent`);
      return;
    }
    // message mode: recv gives the next message whole; recvAll the next few, whole
    const want: Uint8Array[] = [];
    let n = 0;
    do {
      const next = from[msgIdx[side]!++];
      if (next === undefined) throw new Error(`side ${side} received more messages than were sent`);
      want.push(next);
      n += next.length;
    } while (how === 'recvAll' && n < m.length);
    if (!eq(m, concat(want))) throw new Error(`side ${side}: ${how} returned ${m.length} bytes that are not the next message${how === 'recvAll' ? 's' : ''} sent (${n} bytes)`);
  };

  const maxMsg = (side: 0 | 1) => {
    const k = cores[side]!;
    const peer = cores[1 - side]!;
    return k.mss * Math.min(255, peer.rcvWnd);
  };

  const pick = (d: number, n: number) => n % wire[d]!.length;
  let step = 0;
  for (const op of p.ops) {
    const where = `op ${step++} (${op.t})`;
    switch (op.t) {
      case 'send': {
        const k = cores[op.side]!;
        // a message needs at most rcv_wnd fragments at the peer, or it can never be read (as kcp-go)
        const size = p.stream ? op.size : Math.min(op.size, maxMsg(op.side));
        const data = payload(0x20000 + counter++, size);
        const r = k.send(data);
        // more than 255 fragments is refused whole; stream mode counts after filling the last queued segment
        const count = Math.ceil(size / k.mss);
        if (size === 0) {
          if (r !== -1) throw new Error(`${where}: send of nothing returned ${r}`);
        } else if (r === -2) {
          seen.pairRefusedSends++;
          if (count <= 255) throw new Error(`${where}: send of ${size} bytes (${count} segments) returned -2`);
        } else if (r !== 0) throw new Error(`${where}: send of ${size} bytes returned ${r}`);
        else if (count > 256) throw new Error(`${where}: send of ${count} segments accepted`);
        else sent[op.side]!.push(data);
        break;
      }
      case 'flush':
        cores[op.side]!.flush(now, outs[op.side]!, flushKind(op));
        break;
      case 'deliver':
        if (wire[op.dir]!.length > 0) {
          const dg = wire[op.dir]!.splice(pick(op.dir, op.pick), 1)[0]!;
          const r = cores[1 - op.dir]!.input(dg, now, outs[1 - op.dir]!, op.regular ? 'wire' : 'fec');
          if (r !== 0) throw new Error(`${where}: a datagram the peer wrote was refused (${r})`);
        }
        break;
      case 'drop':
        if (wire[op.dir]!.length > 0) wire[op.dir]!.splice(pick(op.dir, op.pick), 1);
        break;
      case 'dup':
        if (wire[op.dir]!.length > 0) wire[op.dir]!.push(wire[op.dir]![pick(op.dir, op.pick)]!);
        break;
      case 'tick':
        now = u32(now + op.dt);
        break;
      case 'read':
        read(op.side, op.how);
        break;
    }
    for (const [i, k] of cores.entries()) checkBounds(k, `${where}, side ${i}`);
  }

  // settle over a clean link: flush both, deliver everything in flight, read both, move the clock
  const total = (side: 0 | 1) => sent[side]!.reduce((n, m) => n + m.length, 0);
  const received = (side: 0 | 1) => got[side]!.reduce((n, m) => n + m.length, 0);
  // A window of 1 and growing RTOs can take many virtual minutes; rounds in which nothing is
  // written let the clock run faster (only due times matter then), so the loop stays short.
  let rounds = 0;
  let quiet = 0;
  for (; rounds < 50_000; rounds++) {
    const written = wire[0]!.length + wire[1]!.length;
    const next = cores.map((k, d) => k.flush(now, outs[d]!));
    const busy = wire[0]!.length + wire[1]!.length > written;
    for (let d = 0; d < 2; d++) {
      while (wire[d]!.length > 0) {
        const r = cores[1 - d]!.input(wire[d]!.shift()!, now, outs[1 - d]!);
        if (r !== 0) throw new Error(`settle: a datagram the peer wrote was refused (${r})`);
      }
    }
    read(0, 'recvAll');
    read(1, 'recvAll');
    for (const [i, k] of cores.entries()) checkBounds(k, `settle round ${rounds}, side ${i}`);
    if (received(0) === total(1) && received(1) === total(0) && cores[0]!.waitSnd() === 0 && cores[1]!.waitSnd() === 0) break;
    quiet = busy ? 0 : Math.min(quiet + 1, 10);
    now = u32(now + Math.max(1, Math.min(next[0]!, next[1]!)) * (1 << quiet));
  }
  for (const side of [0, 1] as const) {
    if (received(side) !== total(1 - side as 0 | 1)) throw new Error(`after ${rounds} clean rounds side ${side} has ${received(side)} of ${total(1 - side as 0 | 1)} bytes`);
    if (cores[side]!.waitSnd() !== 0) throw new Error(`after ${rounds} clean rounds side ${side} still has ${cores[side]!.waitSnd()} segments unacknowledged`);
    if (!eq(concat(got[side]!), concat(sent[1 - side]!))) throw new Error(`side ${side} received other bytes than were sent`);
  }
  seen.pairRuns++;
  seen.pairBytes += total(0) + total(1);
  seen.pairMessages += sent[0]!.length + sent[1]!.length;
  seen.settleRounds += rounds;
  if (!p.stream && (msgIdx[0] !== sent[1]!.length || msgIdx[1] !== sent[0]!.length)) throw new Error('a message was not received whole');
}

describe(`KCP stateful fuzz`, () => {
  it(
    'one core under crafted, reordered, repeated and garbage segments: never throws, stays bounded, delivers what the model allows',
    () => {
      const t0 = performance.now();
      checkProperty(fc.property(arbReceiverCase, (cs) => runReceiver(cs)), FUZZ_PROPERTY);
      console.log(`one core: ${seen.runs} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${seen.messages} messages delivered, ${seen.dropped} segments dropped as broken runs, ${seen.stuck} runs ended on a run longer than the window or the table; input results ${JSON.stringify(Object.fromEntries(seen.refused))}`);
      expect(seen.messages).toBeGreaterThan(0);
    },
    TIMEOUT
  );

  it(
    'two cores through a lossy, duplicating, reordering link with any interleaving of reads and flushes deliver exactly what was sent',
    () => {
      const t0 = performance.now();
      checkProperty(fc.property(arbPairCase, (cs) => runPair(cs)), FUZZ_PROPERTY);
      console.log(`two cores: ${seen.pairRuns} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${seen.pairMessages} sends of ${seen.pairBytes} bytes delivered, ${seen.pairRefusedSends} sends refused (over 255 segments), ${seen.settleRounds} clean rounds to settle`);
      expect(seen.pairBytes).toBeGreaterThan(0);
    },
    TIMEOUT
  );

  it('found by the fuzzer: a stream-mode send refused for needing more than 255 segments queues nothing', () => {
    // the counterexample as the fuzzer shrank it: 1 byte, then 6656 bytes at mss 26
    const counterexample: PairCase = {
      stream: true,
      conv: 0,
      startSn: 0,
      start: 0,
      a: { mtu: 50, sndWnd: 1, rcvWnd: 1, tuning: { nodelay: 0, interval: 10, resend: 0, nc: 0, ackNoDelay: false } },
      b: { mtu: 50, sndWnd: 1, rcvWnd: 1, tuning: { nodelay: 0, interval: 10, resend: 0, nc: 0, ackNoDelay: false } },
      ops: [
        { t: 'send', side: 0, size: 1 },
        { t: 'send', side: 0, size: 6656 },
      ],
    };
    expect(() => runPair(counterexample)).not.toThrow();
    // and directly: the refused bytes must not fill the last queued segment
    const k = new Kcp(1, { stream: true, mtu: 50 });
    expect(k.send(new Uint8Array([1]))).toBe(0);
    expect(k.send(new Uint8Array(256 * k.mss).fill(2))).toBe(-2); // 25 bytes fit the first segment, 256 more would not
    expect(k.send(new Uint8Array(255 * k.mss).fill(3))).toBe(0); // 25 bytes join the first segment, 255 more follow
    const queue = (k as unknown as { sndQueue: { items: ({ data: Uint8Array; len: number } | undefined)[]; head: number } }).sndQueue;
    const segs = queue.items.slice(queue.head).map((s) => s!.data.subarray(0, s!.len));
    expect(segs.length).toBe(256);
    const bytes = concat(segs);
    expect(bytes.length).toBe(1 + 255 * k.mss);
    expect(bytes[0]).toBe(1);
    expect(bytes.subarray(1).every((b) => b === 3)).toBe(true);
  });

  it('the model of the receive queue parses the crafted sequences as the core reads them', () => {
    // anchors for the model itself, so a wrong model cannot make the property vacuous
    const shape = (frgs: number[], w = 32) => parse(frgs, w).map((i) => `${i.kind}${i.from}-${i.to}`);
    expect(shape([1, 1])).toEqual(['drop0-1']);
    expect(shape([1, 1, 0])).toEqual(['drop0-1', 'msg1-3']);
    expect(shape([3, 0])).toEqual(['drop0-1', 'msg1-2']);
    expect(shape([2, 1, 0, 0])).toEqual(['msg0-3', 'msg3-4']);
    expect(shape([3, 2, 1, 0], 3)).toEqual([]); // longer than the window: waits for ever
    expect(shape([3, 2, 0], 3)).toEqual(['drop0-2', 'msg2-3']);
  });
});
