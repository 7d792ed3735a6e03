import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import vectors from './vectors/kcp-go-vectors.json' with { type: 'json' };
import { AutoTune } from '../src/fec/autotune.js';
import { FecDecoder, RecoveredPacket } from '../src/fec/fec-decoder.js';
import { FecEncoder } from '../src/fec/fec-encoder.js';
import { classify, decodeOOB, encodeOOB, pawsOf } from '../src/fec/fec-packet.js';
import { ReedSolomon } from '../src/fec/reed-solomon.js';
import { Prng } from '../src/prng.js';
import { CollectSink, nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { createCrypt, type CryptName } from '../src/crypt/crypt.js';
import { openDatagram } from '../src/crypt/packet.js';
import { fromHex, readU32, toHex } from '../src/wire/bytes.js';
import { checkProperty } from './helpers/properties.js';

const hex = (rows: Uint8Array[]) => rows.map((r) => toHex(r));

describe('Reed-Solomon codec (klauspost-compatible)', () => {
  it('has the parity coefficient rows of docs/protocol.md#reed-solomon', () => {
    expect(hex([new ReedSolomon(1, 1).parityRow(0)])).toEqual(['01']);
    expect(hex([0, 1].map((j) => new ReedSolomon(3, 2).parityRow(j)))).toEqual(['010101', '0f0806']);
    expect(hex([new ReedSolomon(10, 1).parityRow(0)])).toEqual(['8196afb8d2c4fee80302']);
    expect(hex([0, 1, 2].map((j) => new ReedSolomon(10, 3).parityRow(j)))).toEqual([
      '8196afb8d2c4fee80302',
      '9681b8afc4d2e8fe0203',
      'bfd6620a066fdfb70504',
    ]);
  });

  it("reproduces reedsolomon's TestOneEncode (5+5)", () => {
    const rs = new ReedSolomon(5, 5);
    const data = [[0, 1], [4, 5], [2, 3], [6, 7], [8, 9]].map((d) => Uint8Array.from(d));
    const parity = Array.from({ length: 5 }, () => new Uint8Array(2));
    rs.encode(data, parity, 2);
    expect(parity.map((p) => Array.from(p))).toEqual([[12, 13], [10, 11], [14, 15], [90, 91], [94, 95]]);
  });

  it('equals an independent implementation (the reed-solomon-erasure wasm package) on random inputs', () => {
    const wasm = readFileSync(createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm'));
    const oracle = ReedSolomonErasure.fromBytes(wasm);
    const prng = new Prng(42);
    for (const [ds, ps, len] of [[1, 1, 16], [3, 2, 64], [10, 3, 1400], [17, 3, 100], [20, 10, 33]] as const) {
      const rs = new ReedSolomon(ds, ps);
      const data = Array.from({ length: ds }, () => prng.bytes(len));
      const parity = Array.from({ length: ps }, () => new Uint8Array(len));
      rs.encode(data, parity, len);
      const all = new Uint8Array((ds + ps) * len);
      data.forEach((d, i) => all.set(d, i * len));
      expect(oracle.encode(all, ds, ps)).toBe(0);
      expect(hex(parity)).toEqual(hex(Array.from({ length: ps }, (_, j) => all.subarray((ds + j) * len, (ds + j + 1) * len))));
    }
  });

  it('property: losing any ≤ parity shards of a group rebuilds the data exactly', () => {
    checkProperty(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 0x7fffffff }),
        (ds, ps, len, seed) => {
          const prng = new Prng(seed);
          const rs = new ReedSolomon(ds, ps);
          const data = Array.from({ length: ds }, () => prng.bytes(len));
          const parity = Array.from({ length: ps }, () => new Uint8Array(len));
          rs.encode(data, parity, len);
          const shards: (Uint8Array | null)[] = [...data, ...parity];
          const lose = prng.int(0, ps);
          for (let k = 0; k < lose; k++) shards[prng.int(0, ds + ps - 1)] = null;
          rs.reconstructData(shards, len);
          return data.every((d, i) => toHex(shards[i]!) === toHex(d));
        }
      ),
      { numRuns: 200, seed: 1123 }
    );
  });

  it('refuses geometries kcp-go cannot use', () => {
    expect(() => new ReedSolomon(0, 3)).toThrow(RangeError);
    expect(() => new ReedSolomon(10, 0)).toThrow(/parityShards must be 1..255, got 0/);
    expect(() => new ReedSolomon(200, 57)).toThrow(/≤ 256/);
  });
});

describe('FEC encoder against kcp-go', () => {
  for (const v of vectors.fec.by_ds_ps) {
    const ds = v.data_packets_hex.length;
    const ps = v.parity_packets_hex.length;
    it(`${v.name} (${ds}/${ps}): data and parity packets byte-identical`, () => {
      const enc = new FecEncoder({ dataShards: ds, parityShards: ps }, new Snmp(), { startSeqid: v.first_seqid });
      const out = new CollectSink<Uint8Array>();
      for (const k of v.kcp_payloads_hex) enc.encode(fromHex(k), 1000, out);
      expect(hex(out.items)).toEqual([...v.data_packets_hex, ...v.parity_packets_hex]);
    });
    for (const r of v.reconstruct) {
      it(`${v.name}: losing shards ${r.missing_shard_indices.join(',')} ${r.recoverable ? 'is recovered' : 'cannot be recovered'}`, () => {
        const stats = new Snmp();
        const dec = new FecDecoder({ dataShards: ds, parityShards: ps }, stats);
        const out = new CollectSink<Uint8Array>();
        const packets = [...v.data_packets_hex, ...v.parity_packets_hex].map(fromHex);
        packets.forEach((p, i) => {
          if (!r.missing_shard_indices.includes(i)) dec.decode(p, out);
        });
        const lostData = r.missing_shard_indices.filter((i) => i < ds);
        if (r.recoverable) {
          expect(hex(out.items).sort()).toEqual(lostData.map((i) => v.kcp_payloads_hex[i]!).sort());
          expect(out.items.every((p) => p instanceof RecoveredPacket)).toBe(true);
          expect(stats.FECRecovered).toBe(lostData.length);
        } else {
          expect(out.items).toEqual([]);
        }
      });
    }
  }

  it('reproduces the worked example of docs/protocol.md#fec-example (3 data + 2 parity) and recovers D0', () => {
    const k = [
      '4433221151008000001000000000000000000000050000 0068656c6c6f',
      '443322115100800001100000010000000000000002000000 6869',
      '4433221152008000ff0f0000070000000200000000000000',
    ].map((s) => fromHex(s.replace(/ /g, '')));
    const out = new CollectSink<Uint8Array>();
    const enc = new FecEncoder({ dataShards: 3, parityShards: 2 }, new Snmp());
    for (const x of k) enc.encode(x, 0, out);
    expect(hex(out.items)).toEqual([
      '00000000f1001f00' + toHex(k[0]!),
      '01000000f1001c00' + toHex(k[1]!),
      '02000000f1001a00' + toHex(k[2]!),
      '03000000f200190044332211520080 00fe0f0000060000000200000007000000000c6c6c6f'.replace(/ /g, ''),
      '04000000f2001900443322115b008000305200001a0000000c0000002300000005465e5e4f',
    ]);
    const rec = new CollectSink<Uint8Array>();
    const dec = new FecDecoder({ dataShards: 3, parityShards: 2 }, new Snmp());
    for (const i of [1, 2, 3]) dec.decode(out.items[i]!, rec);
    expect(hex(rec.items)).toEqual([toHex(k[0]!)]);
  });

  it('frames OOB messages as docs/protocol.md#fec-example shows, without touching seqids', () => {
    const oob = encodeOOB(new TextEncoder().encode('ping'), 0x11223344);
    expect(toHex(oob)).toBe('fffffffff3000a004433221170696e67');
    expect(classify(oob)).toBe('oob');
    expect(new TextDecoder().decode(decodeOOB(oob)!)).toBe('ping');
  });

  it('skips parity after a ≥ 500 ms gap but keeps seqids aligned to groups (TestFECRTOAndSkipParity)', () => {
    const enc = new FecEncoder({ dataShards: 3, parityShards: 2 }, new Snmp());
    const out = new CollectSink<Uint8Array>();
    const send = (now: number) => enc.encode(new Uint8Array(30).fill(now & 0xff), now, out);
    send(0), send(10), send(20); // group 0 with parity 3, 4
    send(100), send(110), send(700); // 600 ms between the last two: no parity
    send(710);
    const seqids = out.items.map((b) => [readU32(b, 0), classify(b)]);
    expect(seqids).toEqual([
      [0, 'data'], [1, 'data'], [2, 'data'], [3, 'parity'], [4, 'parity'],
      [5, 'data'], [6, 'data'], [7, 'data'],
      [10, 'data'],
    ]);
  });

  it('wraps seqids at paws (TestFECPAWS) and still recovers across the wrap', () => {
    const paws = pawsOf(13);
    expect(paws).toBe(0xfffffff7);
    const enc = new FecEncoder({ dataShards: 10, parityShards: 3 }, new Snmp(), { startSeqid: paws - 13 });
    const out = new CollectSink<Uint8Array>();
    const prng = new Prng(3);
    const kcp = Array.from({ length: 20 }, () => prng.bytes(prng.int(24, 200)));
    for (const k of kcp) enc.encode(k, 0, out);
    const seqids = out.items.map((b) => readU32(b, 0));
    expect(seqids.slice(0, 13)).toEqual(Array.from({ length: 13 }, (_, i) => paws - 13 + i));
    expect(seqids.slice(13, 26)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    const stats = new Snmp();
    const dec = new FecDecoder({ dataShards: 10, parityShards: 3 }, stats);
    const rec = new CollectSink<Uint8Array>();
    for (const b of out.items) if (![paws - 4, 0].includes(readU32(b, 0))) dec.decode(b, rec);
    expect(stats.FECRecovered).toBe(2);
    expect(hex(rec.items).sort()).toEqual([toHex(kcp[9]!), toHex(kcp[10]!)].sort());
  });

  it('refuses bad setup at the call: a seqid past paws, headroom out of range, the positional form', () => {
    const geometry = { dataShards: 10, parityShards: 3 };
    expect(() => new FecEncoder(geometry, new Snmp(), { startSeqid: pawsOf(13) })).toThrow(/startSeqid must be 0\.\.4294967286/);
    expect(() => new FecEncoder(geometry, new Snmp(), { startSeqid: -1 })).toThrow(RangeError);
    expect(() => new FecEncoder(geometry, new Snmp(), { headroom: 257 })).toThrow(/headroom must be 0\.\.256/);
    expect(() => new FecEncoder(geometry, new Snmp(), { headroom: 1.5 })).toThrow(RangeError);
    expect(() => new FecEncoder(geometry, new Snmp(), 5 as never)).toThrow(/takes \(options, stats, \{ startSeqid, headroom \}\)/);
    expect(() => new FecEncoder(geometry, new Snmp(), null as never)).toThrow(TypeError);
    // a body made with room carries it in front
    const out = new CollectSink<Uint8Array>();
    new FecEncoder(geometry, new Snmp(), { headroom: 20 }).encode(new Uint8Array(30), 0, out);
    expect(out.items[0]!.byteOffset).toBeGreaterThanOrEqual(20);
  });
});

describe('FEC decoder', () => {
  function lossRun(ds: number, ps: number, groups: number, lossesPerGroup: number, sizes: [number, number], seed: number) {
    const prng = new Prng(seed);
    const enc = new FecEncoder({ dataShards: ds, parityShards: ps }, new Snmp());
    const stats = new Snmp();
    const dec = new FecDecoder({ dataShards: ds, parityShards: ps }, stats);
    const rec = new CollectSink<Uint8Array>();
    const lost: string[] = [];
    for (let g = 0; g < groups; g++) {
      const group = new CollectSink<Uint8Array>();
      const payloads = Array.from({ length: ds }, () => prng.bytes(prng.int(sizes[0], sizes[1])));
      for (const p of payloads) enc.encode(p, g, group);
      const drop = new Set<number>();
      while (drop.size < lossesPerGroup) drop.add(prng.int(0, ds + ps - 1));
      group.items.forEach((b, i) => {
        if (drop.has(i)) {
          if (i < ds) lost.push(toHex(payloads[i]!));
        } else dec.decode(b, rec);
      });
    }
    return { stats, lost, recovered: hex(rec.items) };
  }

  it('recovers every lost data shard with 3 losses per 10/3 group (TestFECDecodeLoss)', () => {
    const r = lossRun(10, 3, 100, 3, [1400 - 8, 1400 - 8], 5);
    expect(r.recovered.sort()).toEqual(r.lost.sort());
    expect(r.stats.FECRecovered).toBe(r.lost.length);
    expect(r.stats.FECErrs).toBe(0);
  });

  it('recovers content and size exactly with varying packet sizes (TestFECDecodeVariablePacketSizes)', () => {
    const r = lossRun(8, 3, 60, 2, [8, 900], 6);
    expect(r.recovered.sort()).toEqual(r.lost.sort());
  });

  it('counts full sets, ignores duplicates, and keeps only 3 groups of shard sets', () => {
    const stats = new Snmp();
    const enc = new FecEncoder({ dataShards: 4, parityShards: 2 }, new Snmp());
    const dec = new FecDecoder({ dataShards: 4, parityShards: 2 }, stats);
    const all = new CollectSink<Uint8Array>();
    for (let i = 0; i < 60; i++) enc.encode(new Uint8Array(40).fill(i), 0, all);
    for (const b of all.items) {
      dec.decode(b, nullSink);
      dec.decode(b, nullSink); // duplicate
    }
    expect(stats.FECFullShardSet).toBeGreaterThanOrEqual(15);
    expect(stats.FECRecovered).toBe(0);
    expect(stats.FECShardSet).toBeLessThanOrEqual(4);
  });

  it('with no local FEC, adapts to a 10/3 peer and to a 10/1 peer (autotune) and then recovers', () => {
    for (const ps of [3, 1]) {
      const enc = new FecEncoder({ dataShards: 10, parityShards: ps }, new Snmp());
      const stats = new Snmp();
      const dec = new FecDecoder(null, stats);
      const prng = new Prng(ps);
      const rec = new CollectSink<Uint8Array>();
      const lost: string[] = [];
      for (let g = 0; g < 40; g++) {
        const group = new CollectSink<Uint8Array>();
        const payloads = Array.from({ length: 10 }, () => prng.bytes(prng.int(30, 300)));
        for (const p of payloads) enc.encode(p, 0, group);
        group.items.forEach((b, i) => {
          if (g >= 30 && i === 4) lost.push(toHex(payloads[4]!)); // lose one data shard per late group
          else dec.decode(b, rec);
        });
      }
      expect(dec.options).toEqual({ dataShards: 10, parityShards: ps });
      expect(hex(rec.items).sort()).toEqual(lost.sort());
    }
  });

  it('never throws on garbage bodies', () => {
    const prng = new Prng(8);
    const dec = new FecDecoder({ dataShards: 10, parityShards: 3 }, new Snmp());
    for (let i = 0; i < 3000; i++) {
      const b = prng.bytes(prng.int(0, 300));
      if (b.length >= 6) b[4] = 0xf1 + (i & 1);
      expect(() => dec.decode(b, nullSink)).not.toThrow();
    }
  });
});

describe('autotune (docs/protocol.md#autotune)', () => {
  const period = (pattern: string) => {
    const a = new AutoTune();
    [...pattern].forEach((c, i) => a.sample(c === '1', i));
    return [a.findPeriod(true), a.findPeriod(false)];
  };
  const cases: [string, number, number][] = [
    ['000000', -1, -1], ['010101', 1, 1], ['101001', 1, 1], ['100001', -1, 4],
    ['111111', -1, -1], ['110110', 2, 1], ['011101', 3, 1], ['011110', 4, -1],
    ['001100', 2, -1], ['000111', -1, -1], ['000001', -1, -1], ['100000', -1, -1],
    ['', -1, -1], ['1', -1, -1], ['10', -1, -1], ['101', -1, 1],
  ];
  for (const [p, d, q] of cases) it(`"${p}" → (${d}, ${q})`, () => expect(period(p)).toEqual([d, q]));

  it('pop drops the oldest sample (TestAutoTunePop)', () => {
    const a = new AutoTune();
    [...'0110010110010110'].forEach((c, i) => a.sample(c === '1', i));
    expect([a.findPeriod(true), a.findPeriod(false)]).toEqual([2, 2]);
    a.pop();
    expect([a.findPeriod(true), a.findPeriod(false)]).toEqual([1, 2]);
  });
});

describe('captured kcp-go sessions through the FEC layer', () => {
  for (const s of vectors.captured_sessions.filter((x) => x.crypt === 'off' || x.crypt === 'none')) {
    it(`${s.crypt}: parity recomputes from the data packets, and dropped data packets are rebuilt`, () => {
      const header = s.crypt === 'off' ? 0 : 20;
      const bodies = s.packets.map((p) => fromHex(p.plaintext_hex).subarray(header));
      const enc = new FecEncoder({ dataShards: s.ds, parityShards: s.ps }, new Snmp());
      const out = new CollectSink<Uint8Array>();
      for (const b of bodies.filter((b) => classify(b) === 'data')) enc.encode(b.subarray(8), 0, out);
      expect(hex(out.items.slice(0, 13))).toEqual(hex(bodies.slice(0, 13)));
      for (const drop of [[0], [1, 5, 9], [2, 10, 12]]) {
        const rec = new CollectSink<Uint8Array>();
        const dec = new FecDecoder({ dataShards: s.ds, parityShards: s.ps }, new Snmp());
        bodies.slice(0, 13).forEach((b, i) => {
          if (!drop.includes(i)) dec.decode(b, rec);
        });
        expect(hex(rec.items).sort()).toEqual(drop.filter((i) => i < 10).map((i) => toHex(bodies[i]!.subarray(8))).sort());
      }
    });
  }
});

describe('captured kcp-go sessions: decrypt, CRC, FEC-decode', () => {
  for (const s of vectors.captured_sessions) {
    it(`${s.crypt}: every datagram opens, and dropping up to 3 per group still yields kcp-go's KCP bytes`, () => {
      const crypt = s.crypt === 'off' ? createCrypt('null', new Uint8Array(0)) : createCrypt(s.crypt as CryptName, fromHex(s.key_hex));
      const wire = s.packets.map((p) => fromHex('ciphertext_hex' in p ? (p as { ciphertext_hex: string }).ciphertext_hex : p.plaintext_hex));
      const stats = new Snmp();
      const bodies = wire.map((d) => openDatagram(crypt, d, stats)!);
      expect(bodies.every((b) => b !== null)).toBe(true);
      expect(stats.InCsumErrors).toBe(0);
      const kcpSent = bodies.filter((b) => classify(b) === 'data').map((b) => toHex(b.subarray(8)));
      for (const drop of [[0, 4, 8], [2, 11, 12], [9]]) {
        const dec = new FecDecoder({ dataShards: s.ds, parityShards: s.ps }, new Snmp());
        const got: string[] = [];
        const out = { next: (p: Uint8Array) => got.push(toHex(p)) };
        bodies.forEach((b, i) => {
          if (drop.includes(i)) return;
          if (classify(b) === 'data') got.push(toHex(b.subarray(8))); // direct data goes to KCP first
          dec.decode(b, out);
        });
        expect(got.sort()).toEqual([...kcpSent].sort());
      }
    });
  }
});

