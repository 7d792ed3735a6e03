/**
 * An ACK for a segment the sender has already seen acknowledged, echoing the ts of that segment's
 * first transmission 1.5 s earlier: the receiver's FEC decoder rebuilt the datagram from parity
 * that came late and acknowledged it again. The same script through kcp-go 5.6.1's KCP
 * (the `stale-ack` script of `kcpscripts/`, built here against the Debian sources, in real time) and through rxkcp's
 * `Kcp` (in virtual time): kcp-go takes the ACK as an RTT sample of 1.5 s, so a segment lost next
 * is not sent again for seconds; rxkcp's `kcp-go` strategy does the same, its default strategy
 * measures only ACKs of segments in flight (docs/protocol.md#rtt).
 */
import { describe, expect, it } from 'vitest';
import { IKCP_CMD_PUSH } from '../../src/kcp/constants.js';
import type { CcName } from '../../src/kcp/cc.js';
import { Kcp } from '../../src/kcp/kcp.js';
import { decodeSegments } from '../../src/kcp/segment.js';
import { CollectSink } from '../../src/sink.js';
import { haveGoPeer, KCPSCRIPTS_SRC, runGoProgram } from './go-peer.js';

const CONV = 0x11223344;
const INTERVAL = 10;
/** As in kcpscripts/staleack.go: when sn 0's datagram is rebuilt, and how long retransmissions are counted. */
const STALE_AFTER_MS = 1500;
const WATCH_MS = 2000;

interface Outcome {
  retransmitsWithStaleAck: number;
  retransmitsWithout: number;
}

/** The script of kcpscripts/staleack.go through rxkcp's Kcp: how often the lost sn 1 goes out again. */
function rxkcpRun(cc: CcName, stale: boolean): number {
  const opts = { nodelay: 0, interval: INTERVAL, resend: 0, nc: 1, cc } as const;
  const sender = new Kcp(CONV, opts);
  const receiver = new Kcp(CONV, opts);
  const toReceiver = new CollectSink<Uint8Array>();
  const toSender = new CollectSink<Uint8Array>();
  const pushesOf = (dgs: Uint8Array[], sn: number) => dgs.flatMap((d) => decodeSegments(d)!).filter((s) => s.header.cmd === IKCP_CMD_PUSH && s.header.sn === sn).length;
  let now = 0;
  sender.send(new Uint8Array([0]));
  sender.flush(now, toReceiver);
  const first = toReceiver.take();
  for (const d of first) receiver.input(d, now, toSender);
  receiver.flush(now, toSender);
  for (const d of toSender.take()) sender.input(d, now, toReceiver);
  now += STALE_AFTER_MS;
  if (stale) {
    for (const d of first) receiver.input(d, now, toSender, 'fec');
    receiver.flush(now, toSender);
    for (const d of toSender.take()) sender.input(d, now, toReceiver);
  }
  toReceiver.take();
  sender.send(new Uint8Array([1]));
  sender.flush(now, toReceiver);
  let sent = pushesOf(toReceiver.take(), 1);
  for (const end = now + WATCH_MS; now < end; ) {
    now += INTERVAL;
    sender.flush(now, toReceiver);
    sent += pushesOf(toReceiver.take(), 1);
  }
  return sent - 1;
}

const rxkcpOutcome = (cc: CcName): Outcome => ({ retransmitsWithStaleAck: rxkcpRun(cc, true), retransmitsWithout: rxkcpRun(cc, false) });

describe.skipIf(!haveGoPeer())('an ACK of a segment already acknowledged, echoing a transmission 1.5 s old', () => {
  it("kcp-go 5.6.1 and cc 'kcp-go' take it as the RTT and stop retransmitting for seconds; the default strategy does not", async () => {
    const go = await runGoProgram<Outcome>(KCPSCRIPTS_SRC, ['stale-ack']);
    const rxGo = rxkcpOutcome('kcp-go');
    const rx = rxkcpOutcome('adaptive');
    // without the stale ACK the lost segment goes out again several times in two seconds
    for (const o of [go, rxGo, rx]) expect(o.retransmitsWithout).toBeGreaterThanOrEqual(3);
    // with it, kcp-go's RTO is seconds: not once; the same with cc 'kcp-go'
    expect(go.retransmitsWithStaleAck).toBe(0);
    expect(rxGo.retransmitsWithStaleAck).toBe(0);
    // the default strategy did not take the sample
    expect(rx.retransmitsWithStaleAck).toBe(rx.retransmitsWithout);
  });
});
