/**
 * The path model every simulated link and the relay decide with: a drop-tail queue in bytes in
 * front of a bottleneck rate, then bursty and random loss, duplication, delay, jitter and
 * reordering; seeded and clock-free. And the named profiles built on it.
 */
import { describe, expect, it } from 'vitest';
import { PathModel, stationaryLoss, type PathOptions } from '../src/sim/path.js';
import { idealGoodput, PATH_PROFILE_NAMES, pathProfile, pathProfiles, wireFloor } from '../src/sim/profiles.js';
import { Prng } from '../src/prng.js';

/** Decides `n` datagrams of `size` bytes arriving every `gap` ms; returns every copy's due time. */
function run(p: PathModel, n: number, size: number, gap: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) out.push([...p.decide(size, i * gap)]);
  return out;
}

describe('PathModel: the bottleneck', () => {
  it('a drop-tail queue in bytes: 1,000-byte datagrams at once into 10,000 B/s with 5,000 bytes of queue keep 5, drop 45', () => {
    const p = new PathModel({ bandwidth: 10_000, queue: 5000, delay: 7 }, 1);
    const dues = run(p, 50, 1000, 0);
    // the one on the wire, then four waiting (4,000 bytes); a fifth would make 6,000 > 5,000
    expect(dues.slice(0, 5)).toEqual([[107], [207], [307], [407], [507]]);
    expect(dues.slice(5).every((d) => d.length === 0)).toBe(true);
    expect(p.stats.dropped).toEqual({ queue: 45, loss: 0, burst: 0, total: 45 });
    expect(p.stats.queueMax).toBe(5000);
    expect(p.queued(0)).toBe(5000);
    // 250 ms later 2.5 datagrams have left: 2,500 bytes wait; two more fit (4,500), a third not (5,500)
    expect(p.queued(250)).toBe(2500);
    expect([...p.decide(1000, 250)]).toEqual([607]);
    expect([...p.decide(1000, 250)]).toEqual([707]);
    expect([...p.decide(1000, 250)]).toEqual([]);
    expect(p.stats.dropped.queue).toBe(46);
    // a datagram larger than the whole queue never fits, even on an idle path
    expect([...p.decide(6000, 10_000)]).toEqual([]);
  });

  it('serialises at the rate without rounding drift: 10,000 datagrams of 1,400 bytes at 1 MB/s take 14 s, not 20', () => {
    const p = new PathModel({ bandwidth: 1_000_000, queue: Infinity }, 1);
    const dues = run(p, 10_000, 1400, 0).map((d) => d[0]!);
    expect(dues[0]).toBe(2); // 1.4 ms, rounded up to whole ms
    expect(dues.at(-1)).toBe(14_000);
    // the k-th leaves at ceil(1.4 k) ms
    for (const k of [1, 2, 3, 5, 7, 5000, 9999]) expect(dues[k - 1]).toBe(Math.ceil(1.4 * k - 1e-9));
    expect(p.stats.dropped.total).toBe(0);
    expect(p.stats.queueMax).toBeCloseTo(14_000_000, 3);
  });

  it('a sender slower than the rate never queues', () => {
    const p = new PathModel({ bandwidth: 1_000_000, queue: 1500, delay: 10 }, 1);
    const dues = run(p, 1000, 1000, 2); // 0.5 MB/s offered
    expect(dues.every((d, i) => d.length === 1 && d[0] === i * 2 + 1 + 10)).toBe(true);
    expect(p.stats.queueMax).toBe(1000);
  });

  it('loss comes after the bottleneck: a lost datagram still used its turn on it', () => {
    const lossy = new PathModel({ bandwidth: 1000, queue: Infinity, loss: 0.5 }, 3);
    const dues = run(lossy, 200, 10, 0); // 10 ms each
    const kept = dues.map((d, i) => [i, d] as const).filter(([, d]) => d.length > 0);
    expect(kept.length).toBeGreaterThan(60);
    expect(kept.length).toBeLessThan(140);
    // each survivor leaves when it would have without any loss: (i + 1) × 10 ms
    for (const [i, d] of kept) expect(d).toEqual([(i + 1) * 10]);
  });
});

describe('PathModel: loss, duplication, delay', () => {
  it('bursty loss matches its stationary loss and its mean burst length over a seeded run', () => {
    const options: PathOptions = { burst: { enter: 0.01, exit: 0.2 }, loss: 0.01 };
    const expected = stationaryLoss(options); // 1 − 0.99 × (1 − 0.01/0.21)
    expect(expected).toBeCloseTo(1 - 0.99 * (1 - 0.01 / 0.21), 12);
    for (const seed of [1, 2, 3]) {
      const p = new PathModel(options, seed);
      const n = 200_000;
      let runs = 0;
      let burstLost = 0;
      let inRun = false;
      for (let i = 0; i < n; i++) {
        const before = p.stats.dropped.burst;
        p.decide(100, i);
        const lost = p.stats.dropped.burst > before;
        if (lost) burstLost++;
        if (lost && !inRun) runs++;
        inRun = lost;
      }
      const msg = `seed ${seed}`;
      expect(p.stats.dropped.total / n, msg).toBeGreaterThan(expected * 0.9);
      expect(p.stats.dropped.total / n, msg).toBeLessThan(expected * 1.1);
      expect(p.stats.dropped.burst / n, msg).toBeGreaterThan((0.01 / 0.21) * 0.9);
      expect(p.stats.dropped.burst / n, msg).toBeLessThan((0.01 / 0.21) * 1.1);
      // runs of the bad state last 1/exit = 5 datagrams on average
      expect(burstLost / runs, msg).toBeGreaterThan(4.5);
      expect(burstLost / runs, msg).toBeLessThan(5.5);
      expect(p.stats.arrived).toBe(n);
      expect(p.stats.delivered + p.stats.dropped.total).toBe(n);
    }
  });

  it('burst.loss below 1 loses only that share of the bad state', () => {
    const options: PathOptions = { burst: { enter: 0.05, exit: 0.05, loss: 0.4 } };
    expect(stationaryLoss(options)).toBeCloseTo(0.2, 12);
    const p = new PathModel(options, 9);
    for (let i = 0; i < 100_000; i++) p.decide(100, i);
    expect(p.stats.dropped.burst / 100_000).toBeGreaterThan(0.18);
    expect(p.stats.dropped.burst / 100_000).toBeLessThan(0.22);
  });

  it('delay, jitter, duplication and reordering: each copy due within its bounds, counted', () => {
    const p = new PathModel({ delay: 30, jitter: 20, duplicate: 0.1, reorder: 0.1, reorderDelay: 40 }, 5);
    let copies = 0;
    let late = 0;
    for (let i = 0; i < 10_000; i++) {
      const dues = p.decide(100, i);
      copies += dues.length;
      for (const d of dues) {
        expect(d).toBeGreaterThanOrEqual(i + 30);
        expect(d).toBeLessThanOrEqual(i + 30 + 20 + 40);
        if (d > i + 50) late++;
      }
    }
    expect(copies).toBe(p.stats.delivered);
    expect(p.stats.duplicated).toBeGreaterThan(800);
    expect(p.stats.duplicated).toBeLessThan(1200);
    expect(copies).toBe(10_000 + p.stats.duplicated);
    expect(late).toBe(p.stats.reordered);
    expect(p.stats.reordered).toBeGreaterThan(900);
    expect(p.stats.reordered).toBeLessThan(1300);
  });

  it('the same seed and sequence give the same decisions; another seed others; one impairment does not move another', () => {
    const sizes = new Prng(77).bytes(2000);
    const trace = (options: PathOptions, seed: number) => {
      const p = new PathModel(options, seed);
      return [...sizes].map((s, i) => p.decide(50 + s * 5, i * 0.7).join('+')).join(',');
    };
    const options: PathOptions = { bandwidth: 1_000_000, queue: 20_000, delay: 10, jitter: 3, loss: 0.05, burst: { enter: 0.02, exit: 0.3 }, duplicate: 0.02, reorder: 0.02 };
    const first = trace(options, 42);
    expect(trace(options, 42)).toBe(first);
    expect(trace(options, 43)).not.toBe(first);
    // the loss decisions do not depend on whether duplication is on
    const lost = (opts: PathOptions) => {
      const p = new PathModel(opts, 42);
      return [...sizes].map((_, i) => (p.decide(100, i * 10).length === 0 ? 1 : 0)).join('');
    };
    expect(lost({ loss: 0.1 })).toBe(lost({ loss: 0.1, duplicate: 0.5, jitter: 5 }));
  });

  it('rejects impossible options and seeds', () => {
    expect(() => new PathModel({ loss: 1.5 }, 1)).toThrow(RangeError);
    expect(() => new PathModel({ queue: 0 }, 1)).toThrow(RangeError);
    expect(() => new PathModel({ bandwidth: -1 }, 1)).toThrow(RangeError);
    expect(() => new PathModel({ burst: { enter: 0.1 } as never }, 1)).toThrow(RangeError);
    expect(() => new PathModel({ burst: { enter: 0.1, exit: 2 } }, 1)).toThrow(RangeError);
    expect(() => new PathModel({}, 1.5)).toThrow(TypeError);
    expect(() => new PathModel({ queue: Infinity }, 1)).not.toThrow();
  });
});

describe('path profiles', () => {
  it('span 2–100 Mbit/s, 10–300 ms RTT, 0–5 % random and bursty loss, queues of 0.1–4 × BDP', () => {
    const rates = [];
    const rtts = [];
    const queues = [];
    for (const name of PATH_PROFILE_NAMES) {
      const { path, rtt, description } = pathProfiles[name];
      expect(description.length).toBeGreaterThan(20);
      expect(() => new PathModel(path, 1)).not.toThrow();
      // the stated RTT is what delay and mean jitter make
      expect(2 * ((path.delay ?? 0) + ('jitter' in path ? path.jitter / 2 : 0))).toBe(rtt);
      rates.push(path.bandwidth! / 125_000);
      rtts.push(rtt);
      queues.push(path.queue! / ((path.bandwidth! * rtt) / 1000));
      expect(stationaryLoss(path)).toBeLessThanOrEqual(0.05 + 1e-12);
    }
    expect(Math.min(...rates)).toBe(2);
    expect(Math.max(...rates)).toBe(100);
    expect(Math.min(...rtts)).toBe(10);
    expect(Math.max(...rtts)).toBe(300);
    expect(Math.min(...queues)).toBeCloseTo(0.1, 9);
    expect(Math.max(...queues)).toBeCloseTo(4, 9);
    expect(PATH_PROFILE_NAMES.some((n) => 'burst' in pathProfiles[n].path)).toBe(true);
    expect(Math.max(...PATH_PROFILE_NAMES.map((n) => (pathProfiles[n].path as PathOptions).loss ?? 0))).toBe(0.05);
    expect(() => pathProfile('nowhere')).toThrow(/one of datacenter/);
  });

  it('ideal goodput and the wire floor follow the formulas in docs/paths.md', () => {
    // mobile: 1 MB/s × (1 − 4 %) × 10/13
    expect(idealGoodput(pathProfiles.mobile.path)).toBeCloseTo(1_000_000 * 0.96 * (10 / 13), 3);
    expect(idealGoodput(pathProfiles.datacenter.path, { dataShards: 0, parityShards: 0 })).toBe(12_500_000);
    expect(idealGoodput({})).toBe(Infinity);
    expect(wireFloor()).toBeCloseTo(1.3 * (1400 / 1348), 12);
    expect(wireFloor({ dataShards: 0, parityShards: 0, cryptHeader: 0 })).toBeCloseTo(1400 / 1376, 12);
  });
});
