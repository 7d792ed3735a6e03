/**
 * Testing a protocol built on rxkcp the way rxkcp tests itself: two conversations joined by a
 * seeded virtual network with 20 % loss each way, 64 KiB of the checkable byte pattern sent one
 * way, every byte checked on arrival, all in virtual time (seconds of protocol in milliseconds,
 * the same run every time). No test framework needed; exits 1 if anything is off.
 *
 *   npx tsx examples/testing-your-protocol.ts
 */
import { Conversation } from 'rxkcp';
import { createCrypt } from 'rxkcp/core';
import { PatternVerifier, patternBytes, virtualNetwork, withVirtualTime, type LossyLink } from 'rxkcp/testing';

const total = 64 * 1024;
const result = withVirtualTime(({ clock, scheduler, advance, now }) => {
  const crypt = createCrypt('aes', new Uint8Array(16).fill(7));
  const options = { conv: 42, clock, crypt, kcp: { nodelay: 1, interval: 10, resend: 2, nc: 1 } };
  const client = new Conversation(options);
  const server = new Conversation(options);
  const links: LossyLink<never>[] = [];
  const net = virtualNetwork(client, server, {
    ab: { seed: 1, loss: 0.2, delay: 30, jitter: 10, onLink: (l) => links.push(l) },
    ba: { seed: 2, loss: 0.2, delay: 30, onLink: (l) => links.push(l) },
    scheduler,
  });

  const verifier = new PatternVerifier();
  let doneAt = -1;
  server.data$.subscribe((m) => {
    verifier.push(m);
    if (verifier.offset === total && doneAt < 0) doneAt = now();
  });
  void client.send(patternBytes(0, total)).catch(() => {}); // waits for room in the send window

  advance(60_000); // one virtual minute at most
  const sent = links[0]!.stats;
  client.close({ linger: false });
  server.close({ linger: false });
  net.unsubscribe();
  return { received: verifier.offset, ok: verifier.error === null, doneAt, sent: sent.sent, dropped: sent.dropped, retransmitted: client.stats.RetransSegs };
});

console.log(
  `${result.received} of ${total} bytes, ${result.ok ? 'every byte as sent' : 'CORRUPTED'}, done at ${result.doneAt} ms of virtual time; ` +
    `client→server link dropped ${result.dropped} of ${result.sent} datagrams, client retransmitted ${result.retransmitted} segments`,
);
process.exit(result.ok && result.received === total && result.dropped > 0 ? 0 : 1);
