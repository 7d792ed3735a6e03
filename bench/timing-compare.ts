/**
 * Compares the sender's congestion-control strategies (`CC_NAMES`) on the same seeded simulated links, in
 * virtual time: per link and seed, the ms an 8 MB transfer takes, and the segments sent, lost to a
 * timeout and retransmitted; then per link the totals over all seeds. Deterministic: the same code
 * gives the same table on any machine.
 *
 *   npx tsx bench/timing-compare.ts [MB] [seed,seed,...]
 */
import { transfer } from '../test/helpers/transfer.js';
import { CC_NAMES } from '../src/kcp/cc-names.js';
import { printRanOn } from './lib.js';

printRanOn();

const MB = Number(process.argv[2] ?? 8);
const seeds = (process.argv[3] ?? '3,5,7,9,11').split(',').map(Number);
const links: { name: string; link: { delay: number; loss?: number; bandwidth?: number } }[] = [
  { name: 'ideal 20 ms', link: { delay: 20 } },
  { name: 'ideal 50 ms', link: { delay: 50 } },
  { name: '50 ms, 5 % loss', link: { delay: 50, loss: 0.05 } },
  { name: '50 ms, 20 % loss', link: { delay: 50, loss: 0.2 } },
  { name: '5 ms, 10 % loss', link: { delay: 5, loss: 0.1 } },
  { name: '1 MB/s, 5 ms', link: { delay: 5, bandwidth: 1_000_000 } },
  { name: '1 MB/s, 20 ms', link: { delay: 20, bandwidth: 1_000_000 } },
  { name: '0.7 MB/s, 10 ms', link: { delay: 10, bandwidth: 700_000 } },
  { name: '1.4 MB/s, 2 ms', link: { delay: 2, bandwidth: 1_400_000 } },
];
const row = (cells: (string | number)[]) => console.log(cells.map((c, i) => (i === 0 ? String(c).padEnd(18) : String(c).padStart(9))).join(' '));
row(['link', 'seed', 'cc', 'ms', 'out segs', 'lost', 'retrans', 'ratio']);
const totals: (string | number)[][] = [];
for (const { name, link } of links) {
  // bandwidth-limited links carry 1 MB: 8 MB at 1 MB/s is mostly waiting
  const bytes = link.bandwidth ? 1 << 20 : MB << 20;
  const sum: Record<string, number[]> = Object.fromEntries(CC_NAMES.map((n) => [n, [0, 0, 0, 0]]));
  for (const seed of seeds) {
    let base = 0;
    for (const timing of ['kcp-go', ...CC_NAMES.filter((n) => n !== 'kcp-go')]) {
      const r = transfer({ bytes, seed, link, kcp: { cc: timing as (typeof CC_NAMES)[number], stream: true }, until: 3_600_000 });
      if (!r.ok) throw new Error(`${name} seed ${seed} ${timing}: transfer failed`);
      if (timing === 'kcp-go') base = r.virtualMs;
      const s = sum[timing]!;
      s[0] += r.virtualMs;
      s[1] += r.sender.OutSegs;
      s[2] += r.sender.LostSegs;
      s[3] += r.sender.RetransSegs;
      row([name, seed, timing, r.virtualMs, r.sender.OutSegs, r.sender.LostSegs, r.sender.RetransSegs, (r.virtualMs / base).toFixed(3)]);
    }
  }
  for (const timing of Object.keys(sum)) totals.push([name, 'all', timing, ...sum[timing]!, (sum[timing]![0]! / sum['kcp-go']![0]!).toFixed(3)]);
}
console.log(`\ntotals over seeds ${seeds.join(', ')}`);
row(['link', 'seeds', 'cc', 'ms', 'out segs', 'lost', 'retrans', 'ratio']);
for (const t of totals) row(t);
