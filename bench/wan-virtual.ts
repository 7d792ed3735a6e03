/**
 * `npm run bench:wan-virtual`: `bench:wan`'s one-way transfers, in virtual time. The same path
 * profiles (docs/paths.md) on both directions, kcptun's defaults on both ends (mode fast, FEC 10/3,
 * mtu 1350, windows 1024/1024), the same transfer sizes and the same figures (goodput from the
 * first write to the last byte read as a fraction of the ideal, bytes the sender put on the path
 * per payload byte, bottleneck drops), for each of rxkcp's congestion controls, over several path
 * seeds. Deterministic: the same tree gives the same table on any machine, loaded or not, which
 * makes it the tool for working on a sender; `bench:wan` shows what real sockets, processes and
 * kcp-go add.
 *
 * Environment: WAN_PROFILES, WAN_CC (comma lists; default all), WAN_SEEDS (default 1,2,3),
 * WAN_SECONDS / WAN_MIB as in bench:wan.
 */
import { Conversation } from '../operators/conversation/conversation.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { virtualNetwork } from '../operators/testing/virtual-link.js';
import { testScheduler } from '../marbles/helpers.js';
import { CC_NAMES } from '../src/kcp/cc-names.js';
import type { CcName } from '../src/kcp/cc.js';
import { Prng } from '../src/prng.js';
import { idealGoodput, KCPTUN_FEC, PATH_PROFILE_NAMES, pathProfiles, wireFloor, type PathProfileName } from '../src/sim/profiles.js';
import type { LossyLink } from '../src/sim/lossy-link.js';
import { MODES } from '../operators/conversation/options.js';
import { printRanOn } from './lib.js';
import { transferBytes } from './wan-sizes.js';

printRanOn();

const MTU = 1350;
const listed = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const PROFILES = (listed(process.env.WAN_PROFILES) ?? PATH_PROFILE_NAMES) as PathProfileName[];
const CCS = (listed(process.env.WAN_CC) ?? CC_NAMES) as CcName[];
const SEEDS = (listed(process.env.WAN_SEEDS) ?? ['1', '2', '3']).map(Number);

interface Run {
  ok: boolean;
  ms: number;
  wire: number;
  drops: number;
}

function run(profile: PathProfileName, cc: CcName, seed: number, bytes: number): Run {
  const path = pathProfiles[profile].path;
  const out: Run = { ok: false, ms: 0, wire: 0, drops: 0 };
  testScheduler().run(({ flush }) => {
    const clock = new Clock();
    const kcp = { ...MODES.fast, sndWnd: 1024, rcvWnd: 1024, stream: true };
    const fec = { dataShards: KCPTUN_FEC.dataShards, parityShards: KCPTUN_FEC.parityShards };
    const a = new Conversation({ conv: 9, clock, kcp: { ...kcp, cc }, fec, mtu: MTU });
    const b = new Conversation({ conv: 9, clock, kcp, fec, mtu: MTU });
    let ab: LossyLink<never> | undefined;
    const net = virtualNetwork(a, b, {
      ab: { ...path, seed: seed * 2, onLink: (l) => (ab = l) },
      ba: { ...path, seed: seed * 2 + 1 },
    });
    const data = new Prng(seed).bytes(bytes);
    let sent = 0;
    const pump = () => {
      while (sent < data.length && a.write(data.subarray(sent, Math.min(data.length, sent + 8192)))) sent += 8192;
    };
    a.writable$.subscribe(pump);
    let delivered = 0;
    b.data$.subscribe((m) => {
      for (let i = 0; i < m.length; i++) if (m[i] !== data[delivered + i]) throw new Error(`${profile} ${cc} seed ${seed}: byte ${delivered + i} differs`);
      delivered += m.length;
      if (delivered >= data.length) {
        out.ok = true;
        out.ms = clock.now();
        out.wire = ab!.path.stats.arrivedBytes;
        out.drops = ab!.path.stats.dropped.queue;
        a.close();
        b.close();
        clock.scheduler.schedule(() => net.unsubscribe());
      }
    });
    pump();
    clock.scheduler.schedule(() => (a.close(), b.close(), net.unsubscribe()), 600_000);
    flush();
  });
  return out;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(`seeds ${SEEDS.join(', ')}; kcptun mode fast, FEC 10/3, mtu 1350, no cipher (the wire floor: ${wireFloor({ mtu: MTU, cryptHeader: 0 }).toFixed(3)} bytes per payload byte)`);
console.log('| path | MiB | cc | of ideal (median, min–max) | wire B / payload B | bottleneck drops |');
console.log('| --- | ---: | --- | ---: | ---: | ---: |');
for (const profile of PROFILES) {
  const bytes = transferBytes(profile);
  const ideal = idealGoodput(pathProfiles[profile].path, KCPTUN_FEC) / 1000; // bytes per ms
  for (const cc of CCS) {
    const runs = SEEDS.map((s) => run(profile, cc, s, bytes));
    if (runs.some((r) => !r.ok)) {
      console.log(`| ${profile} | ${+(bytes / 1048576).toFixed(2)} | ${cc} | did not finish | | |`);
      continue;
    }
    const share = runs.map((r) => bytes / r.ms / ideal);
    const pct = (x: number) => `${Math.round(100 * x)} %`;
    console.log(
      `| ${profile} | ${+(bytes / 1048576).toFixed(2)} | ${cc} | ${pct(median(share))} (${pct(Math.min(...share))}–${pct(Math.max(...share))}) | ${median(runs.map((r) => r.wire / bytes)).toFixed(2)} | ${median(runs.map((r) => r.drops))} |`,
    );
  }
}
