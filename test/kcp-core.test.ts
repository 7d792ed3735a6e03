import { describe, expect, it } from 'vitest';
import vectors from './vectors/kcp-go-vectors.json' with { type: 'json' };
import {
  IKCP_CMD_ACK,
  IKCP_CMD_PUSH,
  IKCP_CMD_WASK,
  IKCP_CMD_WINS,
  IKCP_OVERHEAD,
} from '../src/kcp/constants.js';
import { Kcp, itimediff } from '../src/kcp/kcp.js';
import { DrivenKcp } from '../src/kcp/driven-kcp.js';
import { decodeSegments, encodeSegment } from '../src/kcp/segment.js';
import { Prng } from '../src/prng.js';
import { KcpPair } from '../src/sim/kcp-pair.js';
import { LossyLink } from '../src/sim/lossy-link.js';
import { CollectSink, nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { fromHex } from '../src/wire/bytes.js';

const CONV = 0x11223344;
const ack = (sn: number, ts: number, una: number, wnd = 128) =>
  encodeSegment({ conv: CONV, cmd: IKCP_CMD_ACK, frg: 0, wnd, ts, sn, una });
const push = (sn: number, data: Uint8Array, frg = 0, una = 0, ts = 0) =>
  encodeSegment({ conv: CONV, cmd: IKCP_CMD_PUSH, frg, wnd: 128, ts, sn, una }, data);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
/** Segments of every datagram written to a sink. */
const segmentsOf = (dgs: Uint8Array[]) => dgs.flatMap((d) => decodeSegments(d)!);

describe('segment codec', () => {
  it('round-trips every header field little-endian', () => {
    const prng = new Prng(5);
    for (let i = 0; i < 200; i++) {
      const h = { conv: prng.u32(), cmd: 81 + (i % 4), frg: prng.int(0, 255), wnd: prng.int(0, 0xffff), ts: prng.u32(), sn: prng.u32(), una: prng.u32() };
      const data = prng.bytes(prng.int(0, 64));
      const enc = encodeSegment(h, data);
      expect(enc.length).toBe(IKCP_OVERHEAD + data.length);
      expect(enc[0]).toBe(h.conv & 0xff); // little-endian
      const [dec] = decodeSegments(enc)!;
      expect(dec!.header).toEqual({ ...h, len: data.length });
      expect(dec!.data).toEqual(data);
    }
  });

  it('decodes the datagrams the real kcp-go sent, re-encodes them byte for byte, and a Kcp receives the messages', () => {
    const session = vectors.captured_sessions.find((s) => s.crypt === 'off')!;
    const receiver = new Kcp(session.conv, { rcvWnd: 1024 });
    const got: number[] = [];
    let dataPackets = 0;
    for (const p of session.packets) {
      if (p.kind !== 'fec-data') continue;
      dataPackets++;
      const kcpBytes = fromHex(p.plaintext_hex).subarray(8); // after the 8-byte FEC header
      const segs = decodeSegments(kcpBytes)!;
      expect(segs.length).toBeGreaterThan(0);
      expect(concat(...segs.map((s) => encodeSegment(s.header, s.data)))).toEqual(kcpBytes);
      for (const s of segs) {
        expect(s.header.conv).toBe(session.conv);
        expect([IKCP_CMD_PUSH, IKCP_CMD_ACK, IKCP_CMD_WASK, IKCP_CMD_WINS]).toContain(s.header.cmd);
        expect(s.header.frg).toBe(0); // kcp-go sessions never fragment
      }
      expect(receiver.input(kcpBytes, 1000, nullSink)).toBe(0);
      for (let m = receiver.recv(); m; m = receiver.recv()) got.push(m.length);
    }
    expect(dataPackets).toBe(session.message_sizes_written.length);
    expect(got).toEqual(session.message_sizes_written);
  });
});

describe('Kcp.input', () => {
  it('returns kcp-go codes: -1 short or other conv, -2 truncated, -3 unknown command', () => {
    const k = new Kcp(CONV);
    expect(k.input(new Uint8Array(23), 0, nullSink)).toBe(-1);
    expect(k.input(encodeSegment({ conv: CONV + 1, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 1, ts: 0, sn: 0, una: 0 }), 0, nullSink)).toBe(-1);
    expect(k.input(push(0, new Uint8Array(10)).subarray(0, 30), 0, nullSink)).toBe(-2);
    expect(k.input(encodeSegment({ conv: CONV, cmd: 99, frg: 0, wnd: 1, ts: 0, sn: 0, una: 0 }), 0, nullSink)).toBe(-3);
    expect(k.input(push(0, new Uint8Array(10)), 0, nullSink)).toBe(0);
  });

  it('never throws on random garbage and counts nothing as received from it', () => {
    const prng = new Prng(9);
    const stats = new Snmp();
    const k = new Kcp(CONV, {}, stats);
    for (let i = 0; i < 5000; i++) {
      const g = prng.bytes(prng.int(0, 200));
      expect(() => k.input(g, i, nullSink)).not.toThrow();
    }
    expect(k.recv()).toBeNull();
  });

  it('updates the remote window from regular input only', () => {
    const k = new Kcp(CONV);
    k.input(ack(0, 0, 0, 77), 0, nullSink);
    expect(k.rmtWnd).toBe(77);
    k.input(ack(0, 0, 0, 5), 0, nullSink, 'fec');
    expect(k.rmtWnd).toBe(77);
  });
});

describe('RTT and RTO (docs/protocol.md#rtt)', () => {
  it('follows kcp-go estimator for a sequence of samples, one per datagram', () => {
    const k = new Kcp(CONV, { cc: 'kcp-go' }); // interval 100, minrto 100; every ACK is a sample
    k.input(ack(0, 0, 0), 100, nullSink); // rtt 100: first sample
    expect([k.rxSrtt, k.rxRttvar, k.rxRto]).toEqual([100, 50, 300]);
    k.input(ack(0, 1000, 0), 1060, nullSink); // rtt 60: srtt 95, rttvar 47
    expect([k.rxSrtt, k.rxRttvar, k.rxRto]).toEqual([95, 47, 283]);
    k.input(ack(0, 2000, 0), 2010, nullSink); // rtt 10, below srtt - rttvar: rttvar moves by >> 5
    expect([k.rxSrtt, k.rxRttvar, k.rxRto]).toEqual([84, 48, 276]);
    // several ACKs in one datagram give one sample, from the last
    k.input(concat(ack(0, 3000, 0), ack(0, 3090, 0)), 3100, nullSink); // rtt 10 (not 100)
    expect(k.rxSrtt).toBe(84 + ((10 - 84) >> 3));
    // a negative sample is ignored; FEC-recovered ACKs give no sample
    const before = [k.rxSrtt, k.rxRttvar];
    k.input(ack(0, 5000, 0), 4000, nullSink);
    k.input(ack(0, 3900, 0), 4000, nullSink, 'fec');
    expect([k.rxSrtt, k.rxRttvar]).toEqual(before);
  });

  it('clamps rto to the nodelay minimum', () => {
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, cc: 'kcp-go' });
    k.input(ack(0, 0, 0), 4, nullSink);
    expect(k.rxRto).toBe(30);
  });
});

describe('an ACK of a segment already acknowledged, echoing an old transmission', () => {
  // The receiver's FEC decoder rebuilds a datagram it lost once the parity of its group arrives;
  // with one segment at a time in flight that can be minutes after it was sent. The receiver
  // acknowledges the rebuilt copy of a segment it already holds, echoing the ts it carries.
  const STALE_MS = 73_000;
  const run = (cc: 'adaptive' | 'kcp-go' | 'bbr') => {
    const opts = { nodelay: 0, interval: 10, resend: 0, nc: 0, sndWnd: 1, rcvWnd: 2, cc } as const;
    const sender = new Kcp(CONV, opts);
    const receiver = new Kcp(CONV, opts);
    const toReceiver = new CollectSink<Uint8Array>();
    const toSender = new CollectSink<Uint8Array>();
    // sn 0 out at 0, through at 40; the ACK back at 80: an RTT of 80 ms
    sender.send(new Uint8Array([0]));
    sender.flush(0, toReceiver); // with nc 0 the congestion window opens at the end of the first flush
    sender.flush(0, toReceiver);
    const first = toReceiver.take();
    expect(segmentsOf(first).map((s) => [s.header.cmd, s.header.sn])).toEqual([[IKCP_CMD_PUSH, 0]]);
    for (const d of first) receiver.input(d, 40, nullSink);
    receiver.flush(40, toSender);
    for (const d of toSender.take()) sender.input(d, 80, nullSink);
    expect(sender.sndUna).toBe(1);
    const before = { srtt: sender.rxSrtt, rto: sender.rxRto };
    // sn 1 in flight; the receiver rebuilds sn 0's datagram and acknowledges it again
    sender.send(new Uint8Array([1]));
    sender.flush(STALE_MS - 40, toReceiver);
    expect(segmentsOf(toReceiver.take()).map((s) => s.header.sn)).toEqual([1]); // lost
    for (const d of first) receiver.input(d, STALE_MS - 20, nullSink, 'fec');
    receiver.flush(STALE_MS - 20, toSender);
    const again = segmentsOf(toSender.items);
    expect(again.some((s) => s.header.cmd === IKCP_CMD_ACK && s.header.sn === 0 && s.header.ts === 0)).toBe(true);
    for (const d of toSender.take()) sender.input(d, STALE_MS, nullSink);
    return { before, after: { srtt: sender.rxSrtt, rto: sender.rxRto } };
  };

  it('is no RTT sample: the RTO stays what the path measured', () => {
    for (const cc of ['adaptive', 'bbr'] as const) {
      const { before, after } = run(cc);
      expect(before.rto, cc).toBeLessThan(1000);
      expect(after, cc).toEqual(before);
    }
  });

  it("is one with cc 'kcp-go', as in kcp-go 5.6.1: the RTO goes to its 60 s ceiling", () => {
    const { before, after } = run('kcp-go');
    expect(before.rto).toBeLessThan(1000);
    expect(after.rto).toBe(60_000);
  });
});

/** Times (virtual ms) at which a lone sender transmits sn 0, flushing when asked to. */
function transmissionTimes(k: Kcp, until: number): number[] {
  const times: number[] = [];
  k.send(new Uint8Array(100));
  let next = 0;
  for (let now = 0; now <= until; now++) {
    if (now < next) continue;
    const sink = new CollectSink<Uint8Array>();
    next = now + k.flush(now, sink);
    for (const s of segmentsOf(sink.items)) if (s.header.cmd === IKCP_CMD_PUSH) times.push(now);
  }
  return times;
}

describe('retransmission', () => {
  it('backs the RTO off by +rx_rto with nodelay 0', () => {
    const k = new Kcp(CONV, { nodelay: 0, interval: 10, nc: 1 });
    expect(transmissionTimes(k, 3000)).toEqual([0, 200, 600, 1200, 2000, 3000]);
  });

  it('backs the RTO off by +rx_rto/2 with nodelay 1', () => {
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, nc: 1 });
    expect(transmissionTimes(k, 1500)).toEqual([0, 200, 500, 900, 1400]);
  });

  it('declares the link dead after deadLink transmissions, and the flush asks to run again when the next RTO is due', () => {
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, nc: 1, deadLink: 4 });
    const t = transmissionTimes(k, 2000);
    expect(t.length).toBeGreaterThanOrEqual(4);
    expect(k.isDead).toBe(true);
    const k2 = new Kcp(CONV, { nodelay: 1, interval: 10, nc: 1, deadLink: 4 });
    transmissionTimes(k2, 800); // three transmissions: 0, 200, 500
    expect(k2.isDead).toBe(false);
  });

  it('fast-retransmits once after `resend` out-of-order ACKs, then locks out until the RTO', () => {
    const stats = new Snmp();
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, resend: 2, nc: 1 }, stats);
    for (let i = 0; i < 6; i++) k.send(new Uint8Array(10));
    k.flush(0, nullSink); // sn 0..5 out at t=0
    const out = new CollectSink<Uint8Array>();
    k.input(ack(1, 0, 0), 20, out);
    expect(stats.FastRetransSegs).toBe(0);
    k.input(ack(2, 0, 0), 21, out); // sn 0 has seen two later ACKs: immediate flush resends it
    expect(stats.FastRetransSegs).toBe(1);
    expect(segmentsOf(out.take()).filter((s) => s.header.cmd === IKCP_CMD_PUSH).map((s) => s.header.sn)).toEqual([0]);
    k.input(ack(3, 0, 0), 22, out);
    k.input(ack(4, 0, 0), 23, out);
    k.input(ack(5, 0, 0), 24, out);
    expect(stats.FastRetransSegs).toBe(1); // locked out
    expect(segmentsOf(out.take()).filter((s) => s.header.cmd === IKCP_CMD_PUSH)).toEqual([]);
    expect(k.waitSnd()).toBe(6); // selectively acked segments wait for una
    k.input(ack(0, 21, 6), 30, out);
    expect(k.waitSnd()).toBe(0);
    expect(k.sndUna).toBe(6);
  });

  it('early-retransmits with fast resend off when nothing new is queued', () => {
    const stats = new Snmp();
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, resend: 0, nc: 1 }, stats);
    for (let i = 0; i < 3; i++) k.send(new Uint8Array(10));
    k.flush(0, nullSink);
    const out = new CollectSink<Uint8Array>();
    k.input(ack(2, 0, 0), 15, out);
    expect(stats.EarlyRetransSegs).toBe(2); // sn 0 and 1 each saw one later ACK
    expect(stats.FastRetransSegs).toBe(0);
    expect(stats.RetransSegs).toBe(2);
  });
});

describe('a segment acknowledged while the receiver\'s queue is full', () => {
  // The receiver's queue is full (it has not read), so its ACK for the sender's last segment
  // carries una below that segment; the window update that would carry una past it is lost, and
  // the receiver then has nothing more to say. The ACK reaches the sender rebuilt by FEC, so the
  // remote window stays open and no window probe follows.
  const setup = () => {
    const sender = new Kcp(CONV, { nodelay: 0, interval: 10, resend: 0, nc: 1, sndWnd: 3 });
    const receiver = new Kcp(CONV, { nodelay: 0, interval: 10, resend: 0, nc: 0, rcvWnd: 2 });
    for (const b of [1, 2, 3]) sender.send(new Uint8Array([b]));
    const toReceiver = new CollectSink<Uint8Array>();
    sender.flush(0, toReceiver);
    for (const d of toReceiver.take()) receiver.input(d, 210, nullSink);
    expect(receiver.rcvQueueLength).toBe(2); // sn 0 and 1 wait unread, sn 2 in the buffer: rcv_nxt stays 2
    const acks = new CollectSink<Uint8Array>();
    receiver.flush(220, acks);
    const ackSegs = segmentsOf(acks.items);
    expect(ackSegs.some((s) => s.header.cmd === IKCP_CMD_ACK && s.header.sn === 2 && s.header.una === 2)).toBe(true);
    for (const d of acks.take()) sender.input(d, 230, nullSink, 'fec');
    return { sender, receiver };
  };

  it('counts it as delivered: una passes it and nothing waits to be sent', () => {
    const { sender, receiver } = setup();
    expect(sender.sndUna).toBe(3);
    expect(sender.waitSnd()).toBe(0);
    // the receiver reads; its window update (una 3) is lost on the way
    expect([receiver.recv(), receiver.recv(), receiver.recv()]).toEqual([new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])]);
    receiver.flush(240, nullSink);
  });

  it('frees its place in the send window: the next three writes leave in one flush', () => {
    const { sender, receiver } = setup();
    for (let m = receiver.recv(); m; m = receiver.recv());
    receiver.flush(240, nullSink); // the window update, lost
    for (const b of [4, 5, 6]) sender.send(new Uint8Array([b]));
    const out = new CollectSink<Uint8Array>();
    sender.flush(250, out);
    expect(segmentsOf(out.items).filter((s) => s.header.cmd === IKCP_CMD_PUSH).map((s) => s.header.sn)).toEqual([3, 4, 5]);
    for (const d of out.take()) receiver.input(d, 260, nullSink);
    expect([receiver.recv(), receiver.recv(), receiver.recv()]).toEqual([new Uint8Array([4]), new Uint8Array([5]), new Uint8Array([6])]);
  });
});

describe('scheduling knobs for a single-threaded owner', () => {
  it('newOnly sends segments never sent and leaves an overdue retransmission to the next full flush', () => {
    const stats = new Snmp();
    const k = new Kcp(CONV, { nodelay: 1, interval: 10, resend: 0, nc: 1 }, stats);
    k.send(new Uint8Array(10));
    k.flush(0, nullSink); // sn 0 out, RTO 200
    k.flush(10, nullSink); // a full flush: nothing due yet, the resend bound is kept
    k.send(new Uint8Array(10));
    const out = new CollectSink<Uint8Array>();
    k.flush(500, out, 'new'); // sn 0 is overdue, sn 1 is new
    expect(segmentsOf(out.take()).map((s) => s.header.sn)).toEqual([1]);
    expect(stats.LostSegs).toBe(0);
    k.flush(501, out);
    expect(segmentsOf(out.take()).map((s) => s.header.sn)).toEqual([0]);
    expect(stats.LostSegs).toBe(1);
  });

  it('deferFlush: an ACK that releases queued segments marks a deferred flush instead of sending', () => {
    const pushes = (out: CollectSink<Uint8Array>) => segmentsOf(out.take()).filter((s) => s.header.cmd === IKCP_CMD_PUSH).map((s) => s.header.sn);
    for (const deferFlush of [true, false]) {
      const k = new DrivenKcp(CONV, { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 2 }, { deferFlush });
      for (let i = 0; i < 4; i++) k.send(new Uint8Array(10));
      k.flush(0, nullSink); // sn 0, 1 out; 2, 3 wait for the window
      const out = new CollectSink<Uint8Array>();
      k.input(ack(0, 0, 1), 5, out);
      if (!deferFlush) {
        // without it, packet clocking sends at once
        expect(k.flushDeferred).toBe(false);
        expect(pushes(out)).toEqual([2]);
        continue;
      }
      expect(k.flushDeferred).toBe(true);
      expect(pushes(out)).toEqual([]);
      expect(k.takeDeferredFlush()).toBe(true);
      expect(k.flushDeferred).toBe(false);
      expect(k.takeDeferredFlush()).toBe(false);
      k.flush(6, out);
      expect(pushes(out)).toEqual([2]);
    }
  });

  it('flush and input refuse a kind or source they do not know', () => {
    const k = new Kcp(CONV);
    expect(() => k.flush(0, nullSink, true as unknown as 'full')).toThrow(TypeError);
    expect(() => k.input(push(0, new Uint8Array(4)), 0, nullSink, false as unknown as 'wire')).toThrow(TypeError);
    expect(() => new DrivenKcp(CONV, {}, { clock: 5 as unknown as () => number })).toThrow(TypeError);
  });

  it('with a clock, segments after an emitted datagram carry the time they leave; without one, the flush time', () => {
    for (const withClock of [false, true]) {
      let t = 1000;
      const clock = withClock ? () => (t += 3) : undefined; // each read: 3 ms later
      const k = new DrivenKcp(CONV, { nodelay: 1, interval: 10, nc: 1, sndWnd: 64, mtu: 200 }, { clock });
      for (let i = 0; i < 6; i++) k.send(new Uint8Array(150)); // one segment per datagram
      const out = new CollectSink<Uint8Array>();
      k.input(encodeSegment({ conv: CONV, cmd: IKCP_CMD_WINS, frg: 0, wnd: 64, ts: 0, sn: 0, una: 0 }), 0, nullSink);
      k.flush(1000, out);
      const ts = out.take().map((d) => segmentsOf([d])[0]!.header.ts);
      expect(ts, `clock ${withClock}`).toEqual(withClock ? [1000, 1003, 1006, 1009, 1012, 1015] : [1000, 1000, 1000, 1000, 1000, 1000]);
    }
  });
});

describe('congestion window (nc = 0)', () => {
  it('grows by slow start then congestion avoidance, and falls to 1 on a timeout', () => {
    const k = new Kcp(CONV, { nodelay: 0, interval: 10, nc: 0, sndWnd: 128, cc: 'kcp-go' }); // kcp-go's window rules
    let now = 0;
    k.flush(now, nullSink); // cwnd starts at 0: the first flush sends nothing and opens it to 1
    for (let i = 0; i < 50; i++) k.send(new Uint8Array(k.mss));
    const cw: number[] = [];
    k.flush(now, nullSink);
    cw.push(k.cwnd);
    for (let i = 1; i <= 4; i++) {
      now += 10;
      k.input(ack(i - 1, now - 10, i), now, nullSink); // una advances by one each time
      cw.push(k.cwnd);
    }
    // mss 1376, incr from 1376: slow start to ssthresh 2 (incr 2752), then incr += ⌊mss²/incr⌋ + ⌊mss/16⌋:
    // 3526 (cwnd stays 2), 4148 ≥ 3·1376 so cwnd = ⌈4148/1376⌉ = 4, then 4690 (stays 4)
    expect(cw).toEqual([1, 2, 2, 4, 4]);
    k.flush(now + 100_000, nullSink); // everything in flight times out
    expect(k.cwnd).toBe(1);
  });
});

describe('ACK filtering', () => {
  it('drops queued ACKs for sn below rcv_nxt except the last', () => {
    const k = new Kcp(CONV, { rcvWnd: 32 });
    k.input(push(0, new Uint8Array(4)), 0, nullSink);
    k.input(push(1, new Uint8Array(4)), 0, nullSink);
    k.input(push(0, new Uint8Array(4)), 0, nullSink); // duplicates of delivered segments
    k.input(push(1, new Uint8Array(4)), 0, nullSink);
    const out = new CollectSink<Uint8Array>();
    k.flush(5, out);
    expect(segmentsOf(out.items).map((s) => [s.header.cmd, s.header.sn])).toEqual([[IKCP_CMD_ACK, 1]]);
  });

  it('flushes ACKs at once with ackNoDelay, and when a datagram of ACKs has queued', () => {
    const k = new Kcp(CONV, { rcvWnd: 256, ackNoDelay: true });
    const out = new CollectSink<Uint8Array>();
    k.input(push(0, new Uint8Array(4)), 0, out);
    expect(segmentsOf(out.take()).map((s) => s.header.cmd)).toEqual([IKCP_CMD_ACK]);
    const k2 = new Kcp(CONV, { rcvWnd: 256, mtu: 240 }); // a datagram holds 10 ACKs
    // sn 0 missing, so rcv_nxt stays 0 and no ACK is filtered
    for (let sn = 1; sn < 10; sn++) k2.input(push(sn, new Uint8Array(1)), 0, out);
    expect(out.items.length).toBe(0);
    k2.input(push(10, new Uint8Array(1)), 0, out);
    expect(segmentsOf(out.take()).map((s) => s.header.sn)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('send / recv', () => {
  it('fragments a message with a frg countdown and reassembles it', () => {
    const a = new Kcp(CONV, { sndWnd: 64, nc: 1 });
    const b = new Kcp(CONV, { rcvWnd: 64 });
    const msg = new Prng(3).bytes(3 * a.mss + 5);
    expect(a.send(msg)).toBe(0);
    const out = new CollectSink<Uint8Array>();
    a.flush(0, out);
    const segs = segmentsOf(out.items);
    expect(segs.map((s) => s.header.frg)).toEqual([3, 2, 1, 0]);
    // deliver out of order: the message appears only when complete
    const dgs = out.items.flatMap((d) => decodeSegments(d)!.map((s) => encodeSegment(s.header, s.data)));
    for (const i of [3, 1, 0]) b.input(dgs[i]!, 1, nullSink);
    expect(b.peekSize()).toBe(-1);
    b.input(dgs[2]!, 1, nullSink);
    expect(b.peekSize()).toBe(msg.length);
    expect(b.recv()).toEqual(msg);
    expect(b.recv()).toBeNull();
  });

  it('refuses empty sends (-1) and messages of more than 255 fragments (-2)', () => {
    const a = new Kcp(CONV, { mtu: 100 });
    expect(a.send(new Uint8Array(0))).toBe(-1);
    expect(a.send(new Uint8Array(255 * a.mss))).toBe(0);
    expect(a.send(new Uint8Array(255 * a.mss + 1))).toBe(-2);
  });

  it('coalesces sends into the last queued segment in stream mode', () => {
    const a = new Kcp(CONV, { stream: true, nc: 1 });
    a.send(new Uint8Array(10).fill(1));
    a.send(new Uint8Array(20).fill(2));
    expect(a.waitSnd()).toBe(1);
    a.send(new Uint8Array(a.mss).fill(3)); // fills the first segment and starts a second
    expect(a.waitSnd()).toBe(2);
    const out = new CollectSink<Uint8Array>();
    a.flush(0, out);
    const segs = segmentsOf(out.items);
    expect(segs.map((s) => [s.header.frg, s.data.length])).toEqual([[0, a.mss], [0, 30]]);
    expect(Array.from(segs[0]!.data.subarray(0, 31))).toEqual([...Array(10).fill(1), ...Array(20).fill(2), 3]);
  });

  it('rejects a KCP mtu of 24 or less', () => {
    const k = new Kcp(CONV);
    expect(k.setMtu(24)).toBe(false);
    expect(k.setMtu(25)).toBe(true);
    expect(k.mss).toBe(1);
    expect(() => new Kcp(CONV, { mtu: 10 })).toThrow(RangeError);
  });
});

describe('zero window', () => {
  it('probes 500 ms after the window closes, backs off ×1.5, and resumes when the reader drains', () => {
    const a = new Kcp(CONV, { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 64 });
    const b = new Kcp(CONV, { nodelay: 1, interval: 10, resend: 2, nc: 1, rcvWnd: 8 });
    const pair = new KcpPair(a, b, new LossyLink({ seed: 1, delay: 5 }), new LossyLink({ seed: 2, delay: 5 }));
    const wasks: number[] = [];
    const winsAt: number[] = [];
    pair.tap = (from, dg, now) => {
      for (const s of decodeSegments(dg)!) {
        if (from === 'a' && s.header.cmd === IKCP_CMD_WASK) wasks.push(now);
        if (from === 'b' && s.header.cmd === IKCP_CMD_WINS) winsAt.push(now);
      }
    };
    const prng = new Prng(11);
    const msgs = Array.from({ length: 20 }, () => prng.bytes(100));
    for (const m of msgs) a.send(m);
    // nobody reads: b's queue fills, its window reaches 0
    pair.run(() => a.rmtWnd === 0, 10_000);
    const closedAt = pair.now;
    pair.run(() => wasks.length >= 4, 20_000);
    const gaps = wasks.map((t, i) => t - (i === 0 ? closedAt : wasks[i - 1]!));
    // waits of 500, 750, 1125, 1687 ms; each probe goes out at the first flush (every 10 ms) after its
    // deadline and the next wait counts from there
    const waits = [500, 750, 1125, 1687];
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(waits[i]!);
      expect(g).toBeLessThan(waits[i]! + 20);
    });
    // the reader drains: a WINS goes out and the transfer completes
    const got: Uint8Array[] = [];
    const readAt = pair.now;
    pair.run(() => {
      for (let m = b.recv(); m; m = b.recv()) got.push(m);
      return got.length === msgs.length;
    }, pair.now + 5_000);
    expect(got).toEqual(msgs);
    expect(winsAt.some((t) => t >= readAt)).toBe(true);
    expect(itimediff(a.sndUna, 20)).toBeLessThanOrEqual(0);
  });
});
