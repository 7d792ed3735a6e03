import { Subject } from 'rxjs';
import { echo } from '../operators/apps/echo.js';
import { Session } from '../operators/transport/session.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';
import { createCrypt } from '../src/crypt/crypt.js';
import { patternBytes, PatternVerifier } from '../operators/testing/pattern.js';
import { testScheduler } from '../marbles/helpers.js';
import { describe, expect, it } from 'vitest';
import { reassemble } from '../operators/layers/reassemble.js';
import { Kcp } from '../src/kcp/kcp.js';

/** A receiving core with `messages` whole messages waiting in its receive queue. */
function coreWithMessages(messages: Uint8Array[], stream = false): Kcp {
  const tx = new Kcp(5, { nodelay: 1, interval: 10, nc: 1, stream });
  const rx = new Kcp(5, { nodelay: 1, interval: 10, nc: 1, stream });
  for (const m of messages) tx.send(m);
  const datagrams: Uint8Array[] = [];
  tx.flush(0, { next: (d) => datagrams.push(d.slice()) });
  for (const d of datagrams) rx.input(d, 1, { next: () => {} });
  return rx;
}

const msg = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe('reassemble when the reader stops inside next', () => {
  it('takes no message out of the core after its subscriber has unsubscribed', () => {
    const rx = coreWithMessages([msg(10, 1), msg(20, 2), msg(30, 3)]);
    expect(rx.rcvQueueLength).toBe(3);
    const signals = new Subject<Kcp>();
    const got: number[] = [];
    const sub = signals.pipe(reassemble()).subscribe((m) => {
      got.push(m[0]!);
      sub.unsubscribe(); // a reader that pauses after one message (as echo does at a full window)
    });
    signals.next(rx);
    expect(got).toEqual([1]);
    // the two messages not delivered are still in the core for the next reader
    const later: number[] = [];
    signals.pipe(reassemble()).subscribe((m) => later.push(m[0]!));
    signals.next(rx);
    expect(later).toEqual([2, 3]);
  });
});

describe('echo() behind a lossy link', () => {
  // the echo pauses reading when the send window fills in the middle of a burst of readable
  // messages; every message must still come back, in order
  for (const [seed, stream] of [[1, false], [2, false], [3, false], [4, true], [5, true], [6, true]] as const) {
    it(`returns every byte in order with small windows and 2 % loss (${stream ? 'stream' : 'message'} mode, seed ${seed})`, () => {
      testScheduler().run(({ flush }) => {
        const clock = new Clock();
        const options = { sndWnd: 32, rcvWnd: 32, nodelay: 0, interval: 40, resend: 2, nc: 1, stream };
        const crypt = createCrypt('null', new Uint8Array(0));
        const client = new Session(3, { address: '127.0.0.1', port: 1 }, () => {}, crypt, options, clock, 'active');
        const server = new Session(3, { address: '127.0.0.1', port: 2 }, () => {}, crypt, options, clock, 'passive');
        const ends = (s: Session) => ({ datagrams$: s.conversation.datagrams$, input: (d: Uint8Array) => s.input(d) });
        const net = virtualNetwork(ends(client), ends(server), {
          ab: { seed: seed * 2, loss: 0.02, delay: 5 },
          ba: { seed: seed * 2 + 1, loss: 0.02, delay: 5 },
        });
        echo(server);
        const total = 4 << 20;
        const verifier = new PatternVerifier();
        let failure: string | null = null;
        client.data$.subscribe((m) => {
          if (!verifier.push(m)) failure ??= verifier.error;
          if (verifier.offset >= total) (client.close(), server.close(), net.unsubscribe());
        });
        let sent = 0;
        const pump = () => {
          while (sent < total && client.write(patternBytes(sent, Math.min(16384, total - sent)))) sent += Math.min(16384, total - sent);
        };
        client.writable$.subscribe(pump);
        pump();
        flush();
        expect(failure, `seed ${seed}`).toBeNull();
        expect(verifier.offset, `seed ${seed}`).toBe(total);
      });
    });
  }
});
