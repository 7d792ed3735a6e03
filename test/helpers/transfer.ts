import { DrivenKcp, type KcpDriverOptions } from '../../src/kcp/driven-kcp.js';
import type { KcpOptions } from '../../src/kcp/kcp.js';
import { Prng } from '../../src/prng.js';
import { KcpPair } from '../../src/sim/kcp-pair.js';
import { LossyLink, type LossyLinkOptions } from '../../src/sim/lossy-link.js';
import { Snmp } from '../../src/stats.js';

export interface TransferOptions {
  bytes: number;
  seed: number;
  link?: Omit<LossyLinkOptions, 'seed'>;
  kcp?: KcpOptions;
  /** How the cores are driven (both ends). */
  driver?: KcpDriverOptions;
  /** Largest single send (bytes); sends are random in [1, maxSend]. */
  maxSend?: number;
  conv?: number;
  /** Virtual-time limit (ms). */
  until?: number;
  /** Sees every datagram either side writes. */
  tap?: (from: 'a' | 'b', datagram: Uint8Array, now: number) => void;
}

export interface TransferResult {
  ok: boolean;
  delivered: number;
  /** First offset where received bytes differ from what was sent, or -1. */
  mismatchAt: number;
  virtualMs: number;
  sender: Snmp;
  receiver: Snmp;
  pair: KcpPair;
}

/**
 * Sends `bytes` seeded-random bytes from A to B over a lossy pair in virtual time, cut into random
 * sends, writing while A's queue is under twice its send window (back-pressure as a session does),
 * and checks every received byte in order.
 */
export function transfer(o: TransferOptions): TransferResult {
  const prng = new Prng(o.seed);
  const data = prng.bytes(o.bytes);
  const conv = o.conv ?? 0x01020304;
  const opts: KcpOptions = { sndWnd: 1024, rcvWnd: 1024, nodelay: 1, interval: 10, resend: 2, nc: 1, ...o.kcp };
  const sender = new Snmp();
  const receiver = new Snmp();
  const a = new DrivenKcp(conv, opts, o.driver, sender);
  const b = new DrivenKcp(conv, opts, o.driver, receiver);
  const link = { delay: 20, ...o.link };
  const pair = new KcpPair(a, b, new LossyLink({ ...link, seed: o.seed + 1 }), new LossyLink({ ...link, seed: o.seed + 2 }));
  pair.tap = o.tap;
  const maxSend = o.maxSend ?? 4000;
  let sent = 0;
  let delivered = 0;
  let mismatchAt = -1;
  const done = (): boolean => {
    while (sent < data.length && a.waitSnd() < 2 * a.sndWnd) {
      const n = Math.min(data.length - sent, 1 + prng.int(0, maxSend - 1));
      if (a.send(data.subarray(sent, sent + n)) !== 0) throw new Error('send refused');
      sent += n;
      pair.flushA();
    }
    for (let m = b.recv(); m !== null; m = b.recv()) {
      if (mismatchAt < 0) {
        for (let i = 0; i < m.length; i++) {
          if (delivered + i >= data.length || m[i] !== data[delivered + i]) {
            mismatchAt = delivered + i;
            break;
          }
        }
      }
      delivered += m.length;
    }
    return delivered >= data.length || mismatchAt >= 0;
  };
  const finished = pair.run(done, o.until ?? 3_600_000);
  return { ok: finished && mismatchAt < 0 && delivered === data.length, delivered, mismatchAt, virtualMs: pair.now, sender, receiver, pair };
}
