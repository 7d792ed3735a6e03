/**
 * `npm run bench:latency`: message round-trip times in virtual time for kcptun's modes at several
 * loss rates. Each run: 500 messages of 64..1024 bytes echoed one at a time over a link with
 * 50 ms one-way delay (±5 ms jitter) and the given loss both ways. Prints JSON lines, then a
 * table. Virtual time makes the figures exact and repeatable: no timed assertions anywhere.
 */
import { VirtualTimeScheduler } from 'rxjs';
import { Clock, Conversation } from 'rxkcp';
import { Prng, virtualNetwork } from 'rxkcp/testing';
import { printRanOn } from '../bench/lib.js';

printRanOn();

const modes = {
  normal: [0, 40, 2, 1],
  fast: [0, 30, 2, 1],
  fast2: [1, 20, 2, 1],
  fast3: [1, 10, 2, 1],
} as const;
const losses = [0, 0.05, 0.1, 0.2];
const messages = 500;

function run(mode: readonly [number, number, number, number], loss: number, seed: number) {
  const scheduler = new VirtualTimeScheduler();
  const clock = new Clock(scheduler);
  const [nodelay, interval, resend, nc] = mode;
  const opts = { conv: 1, clock, kcp: { nodelay, interval, resend, nc, sndWnd: 128, rcvWnd: 128 } };
  const client = new Conversation(opts);
  const server = new Conversation(opts);
  const link = { loss, delay: 50, jitter: 5 };
  const net = virtualNetwork(client, server, { ab: { ...link, seed }, ba: { ...link, seed: seed + 1 }, scheduler });
  const prng = new Prng(seed);
  server.data$.subscribe((m) => void server.send(m)); // send() waits for room: an echo never drops
  const rtts: number[] = [];
  let sentAt = 0;
  const next = () => {
    sentAt = scheduler.now();
    void client.send(prng.bytes(prng.int(64, 1024)));
  };
  client.data$.subscribe(() => {
    rtts.push(scheduler.now() - sentAt);
    if (rtts.length === messages) {
      client.close();
      server.close();
      net.unsubscribe();
    } else next();
  });
  next();
  scheduler.flush();
  const sorted = [...rtts].sort((a, b) => a - b);
  return {
    avg: rtts.reduce((a, b) => a + b, 0) / rtts.length,
    p99: sorted[Math.ceil(0.99 * sorted.length) - 1]!,
    max: sorted[sorted.length - 1]!,
    n: rtts.length,
  };
}

const rows: string[] = [];
for (const [name, mode] of Object.entries(modes)) {
  for (const loss of losses) {
    const r = run(mode, loss, 1000 + Math.round(loss * 100));
    const base = `latency ${name} (${mode.join(',')}) loss ${loss * 100}%`;
    for (const [k, v] of [['avg', r.avg], ['p99', r.p99], ['max', r.max]] as const) {
      console.log(JSON.stringify({ name: `${base} rtt ${k}`, value: Number(v.toFixed(1)), unit: 'ms (virtual)' }));
    }
    rows.push(`| ${name.padEnd(6)} | ${(loss * 100).toFixed(0).padStart(3)} % | ${r.avg.toFixed(1).padStart(7)} | ${String(r.p99).padStart(5)} | ${String(r.max).padStart(5)} |`);
  }
}
console.log('\nmessage round trip, 50 ms one-way delay, virtual time (ms)\n');
console.log('| mode   | loss  |     avg |   p99 |   max |');
console.log('| ------ | ----- | ------- | ----- | ----- |');
for (const r of rows) console.log(r);
