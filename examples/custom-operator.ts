/**
 * A user operator between two layers: this one counts and traces every KCP packet after FEC
 * decoding (where rebuilt packets show up as RecoveredPacket) and every datagram after
 * encryption, while two conversations exchange 256 KB over a lossy virtual link with AES and
 * FEC 10/3, in virtual time.
 *
 *   npx tsx examples/custom-operator.ts
 */
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import { VirtualTimeScheduler } from 'rxjs';
import { Clock, Conversation } from 'rxkcp';
import { RecoveredPacket, createCrypt } from 'rxkcp/core';
import { Prng, virtualNetwork } from 'rxkcp/testing';

/** Counts what passes and how much of it FEC rebuilt: the kind of operator a user writes. */
function trace(label: string, counts: Record<string, number>): MonoTypeOperatorFunction<Uint8Array> {
  return tap((packet) => {
    counts[label] = (counts[label] ?? 0) + 1;
    if (packet instanceof RecoveredPacket) counts[`${label} rebuilt by FEC`] = (counts[`${label} rebuilt by FEC`] ?? 0) + 1;
  });
}

const scheduler = new VirtualTimeScheduler();
const clock = new Clock(scheduler);
const key = new Prng(1).bytes(32);
const counts: Record<string, number> = {};
const common = { conv: 0xc0ffee, clock, fec: { dataShards: 10, parityShards: 3 }, kcp: { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 128, rcvWnd: 128 } };
const sender = new Conversation({ ...common, crypt: createCrypt('aes', key), layers: { afterEncrypt: trace('datagrams sent', counts) } });
const receiver = new Conversation({ ...common, crypt: createCrypt('aes', key), layers: { afterFecDecode: trace('KCP packets received', counts) } });
const net = virtualNetwork(sender, receiver, { ab: { seed: 7, loss: 0.1, delay: 40 }, ba: { seed: 8, loss: 0.1, delay: 40 }, scheduler });

const data = new Prng(2).bytes(256 * 1024);
let sent = 0;
const pump = () => {
  while (sent < data.length && sender.write(data.subarray(sent, sent + 4096))) sent += 4096;
};
sender.writable$.subscribe(pump);
let received = 0;
let ok = true;
receiver.data$.subscribe((m) => {
  for (let i = 0; i < m.length; i++) if (m[i] !== data[received + i]) ok = false;
  received += m.length;
  if (received >= data.length) {
    sender.close();
    receiver.close();
    net.unsubscribe();
  }
});
pump();
scheduler.flush();

console.log(`custom operators between layers: ${received} bytes delivered ${ok ? 'byte-exact' : 'CORRUPTED'} in ${scheduler.now()} ms of virtual time`);
for (const [k, v] of Object.entries(counts)) console.log(`  ${k.padEnd(36)} ${v}`);
console.log(`  ${'receiver FECRecovered'.padEnd(36)} ${receiver.stats.FECRecovered}`);
process.exit(ok && received === data.length && (counts['KCP packets received rebuilt by FEC'] ?? 0) > 0 ? 0 : 1);
