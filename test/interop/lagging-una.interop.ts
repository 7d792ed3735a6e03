/**
 * A sender whose last segment is acknowledged with a lagging una (the receiver's queue was full)
 * and whose peer then says nothing more (its window update was lost): the same script through
 * kcp-go 5.6.1's KCP (the `lagging-una` script of `kcpscripts/`, built here against the Debian sources) and through
 * rxkcp's `Kcp`. kcp-go keeps the acknowledged segment in its send buffer, so WaitSnd never
 * reaches 0 and the segment holds a place in the send window; rxkcp lets una pass it
 * (docs/protocol.md#divergences).
 */
import { describe, expect, it } from 'vitest';
import { IKCP_CMD_PUSH } from '../../src/kcp/constants.js';
import { Kcp } from '../../src/kcp/kcp.js';
import { decodeSegments } from '../../src/kcp/segment.js';
import { CollectSink } from '../../src/sink.js';
import { haveGoPeer, KCPSCRIPTS_SRC, runGoProgram } from './go-peer.js';

interface Outcome {
  firstPushes: number[];
  waitSndAfterAck: number;
  read: number;
  laterPushes: number[];
}

/** The script of kcpscripts/laggingua.go, through rxkcp's Kcp in virtual time. */
function rxkcpOutcome(): Outcome {
  const conv = 0x11223344;
  const interval = 10;
  const sender = new Kcp(conv, { nodelay: 0, interval, resend: 0, nc: 1, sndWnd: 3 });
  const receiver = new Kcp(conv, { nodelay: 0, interval, resend: 0, nc: 1, rcvWnd: 2 });
  const toReceiver = new CollectSink<Uint8Array>();
  const toSender = new CollectSink<Uint8Array>();
  const pushes = (dgs: Uint8Array[]) => dgs.flatMap((d) => decodeSegments(d)!).filter((s) => s.header.cmd === IKCP_CMD_PUSH).map((s) => s.header.sn);
  let now = 0;
  for (const b of [1, 2, 3]) sender.send(new Uint8Array([b]));
  sender.flush(now, toReceiver);
  const firstPushes = pushes(toReceiver.items);
  for (const d of toReceiver.take()) receiver.input(d, now, toSender);
  receiver.flush(now, toSender);
  for (const d of toSender.take()) sender.input(d, now, toReceiver, 'fec');
  const waitSndAfterAck = sender.waitSnd();
  let read = 0;
  while (receiver.recv() !== null) read++;
  now += 3 * interval;
  receiver.flush(now, toSender);
  toSender.take(); // the window update, lost
  for (const b of [4, 5, 6]) sender.send(new Uint8Array([b]));
  const laterPushes: number[] = [];
  for (let i = 0; i < 5; i++) {
    now += 3 * interval;
    sender.flush(now, toReceiver);
    laterPushes.push(...pushes(toReceiver.take()));
  }
  return { firstPushes, waitSndAfterAck, read, laterPushes };
}

describe.skipIf(!haveGoPeer())('an ACK with a lagging una for the last segment, then silence', () => {
  it('kcp-go 5.6.1 keeps waiting for the segment and holds its window place; rxkcp does not', async () => {
    const go = await runGoProgram<Outcome>(KCPSCRIPTS_SRC, ['lagging-una']);
    const rx = rxkcpOutcome();
    // the same start: three segments out, all read by the receiver
    expect(go.firstPushes).toEqual([0, 1, 2]);
    expect(rx.firstPushes).toEqual([0, 1, 2]);
    expect(go.read).toBe(3);
    expect(rx.read).toBe(3);
    // kcp-go: the acknowledged segment stays counted, and of three more writes only two fit
    expect(go.waitSndAfterAck).toBe(1);
    expect(go.laterPushes).toEqual([3, 4]);
    // rxkcp: nothing waits, and the whole window is free
    expect(rx.waitSndAfterAck).toBe(0);
    expect(rx.laterPushes).toEqual([3, 4, 5]);
  });
});
