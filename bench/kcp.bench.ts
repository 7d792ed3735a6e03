/**
 * KCP core costs. `kcp flush scan` mirrors kcp-go's BenchmarkFlush (kcp_test.go): 1024 segments in
 * flight, each sent once, none due, so one flush is a scan of the send buffer. kcp-go's own
 * benchmark runs beside it, alternating, and the ratio is Go ns / our ns.
 */
import { IKCP_CMD_ACK, IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { Kcp } from '../src/kcp/kcp.js';
import { DrivenKcp } from '../src/kcp/driven-kcp.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { nullSink } from '../src/sink.js';
import { writeU32 } from '../src/wire/bytes.js';
import { emit, nsPerOp, sideBySide, printRanOn } from './lib.js';

printRanOn();

const CONV = 1;

function inFlight(n: number, scanEveryFlush = false): Kcp {
  const k = new DrivenKcp(CONV, { sndWnd: n, rcvWnd: n, nc: 1 }, { scanEveryFlush });
  // open the peer's window to n
  k.input(encodeSegment({ conv: CONV, cmd: IKCP_CMD_ACK, frg: 0, wnd: n, ts: 0, sn: 0, una: 0 }), 0, nullSink);
  const one = new Uint8Array(1);
  for (let i = 0; i < n; i++) k.send(one);
  k.flush(0, nullSink); // all sent once at t=0, due again at t=200
  if (k.waitSnd() !== n || k.sndNxt !== n) throw new Error('setup failed');
  return k;
}

const flushKcp = inFlight(1024);
const fullScanKcp = inFlight(1024, true);
const fullScan = () => fullScanKcp.flush(100, nullSink);
sideBySide([
  // the algorithm kcp-go runs: every flush walks the whole send buffer
  { name: 'kcp flush, full scan of 1024 in flight none due', goBench: 'BenchmarkFlush', fn: fullScan },
  // rxkcp's default: a flush that cannot retransmit anything skips the walk
  { name: 'kcp flush as rxkcp runs it (scan skipped when nothing can be due)', goBench: 'BenchmarkFlush', fn: () => flushKcp.flush(100, nullSink) },
]);

// Receiver: one full-mss PUSH datagram in, the message out (ACKs flush themselves every mtu/24).
{
  const rx = new Kcp(CONV, { sndWnd: 1024, rcvWnd: 1024 });
  const dg = encodeSegment({ conv: CONV, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 1024, ts: 0, sn: 0, una: 0 }, new Uint8Array(rx.mss));
  let sn = 0;
  const ns = nsPerOp(() => {
    writeU32(dg, 12, sn++);
    rx.input(dg, 1, nullSink);
    rx.recv();
  });
  emit({ name: 'kcp input of one full PUSH datagram + recv', value: ns, unit: 'ns/op' });
}

// Sender: an ACK datagram for the newest of 1024 in-flight segments (walks the send buffer twice).
{
  const tx = inFlight(1024);
  tx.noDelay(-1, -1, 2, -1); // fast resend at 2: the first two ACKs retransmit sn 0..1022 once, then they are locked out
  const dg = encodeSegment({ conv: CONV, cmd: IKCP_CMD_ACK, frg: 0, wnd: 1024, ts: 0, sn: 1023, una: 0 }, new Uint8Array(0));
  const ns = nsPerOp(() => tx.input(dg, 5, nullSink));
  emit({ name: 'kcp input of one ACK datagram, 1024 in flight', value: ns, unit: 'ns/op' });
}
