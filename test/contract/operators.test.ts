/**
 * The RxJS contract, for every layer operator: nothing is emitted or consumed after the subscriber
 * closes (even from inside its own next), a throw inside the layer reaches the error channel as a
 * KcpError 'LAYER_ERROR', and errors and completion pass through.
 */
import { Observable, Subject, type OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { crcCheck } from '../../operators/layers/crc-check.js';
import { crcSeal } from '../../operators/layers/crc-seal.js';
import { decrypt } from '../../operators/layers/decrypt.js';
import { encrypt } from '../../operators/layers/encrypt.js';
import { fecDecode } from '../../operators/layers/fec-decode.js';
import { fecEncode } from '../../operators/layers/fec-encode.js';
import { kcpInput } from '../../operators/layers/kcp-input.js';
import { pace } from '../../operators/layers/pace.js';
import { reassemble } from '../../operators/layers/reassemble.js';
import { qppDecrypt, qppEncrypt } from '../../operators/layers/qpp.js';
import { QppPads } from '../../src/qpp/qpp.js';
import { createCrypt, type PacketCrypt } from '../../src/crypt/crypt.js';
import { addCrcHeader } from '../../src/crypt/packet.js';
import { KcpError } from '../../src/errors.js';
import { Kcp } from '../../src/kcp/kcp.js';
import { Snmp } from '../../src/stats.js';

const key = new Uint8Array(32).fill(7);
const aes = () => createCrypt('aes', key);

/** Well-formed KCP packets: PUSH segments of `n` one-segment messages, as a peer sends them. */
function kcpPackets(n: number, conv = 9): Uint8Array[] {
  const tx = new Kcp(conv, { nodelay: 1, interval: 10, nc: 1, mtu: 200 });
  for (let i = 0; i < n; i++) tx.send(new Uint8Array(100).fill(i));
  const out: Uint8Array[] = [];
  tx.flush(0, { next: (d) => out.push(d.slice()) });
  return out;
}

/** A receiving core holding `n` whole messages. */
function coreWith(n: number): Kcp {
  const rx = new Kcp(9, { nodelay: 1, interval: 10, nc: 1, mtu: 200 });
  for (const p of kcpPackets(n)) rx.input(p, 1, { next: () => {} });
  return rx;
}

function sealed(crypt: PacketCrypt, bodies: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const s = new Subject<Uint8Array>();
  s.pipe(crcSeal({ crypt }), encrypt({ crypt })).subscribe((d) => out.push(d));
  for (const b of bodies) s.next(b);
  return out;
}

interface Case<T> {
  name: string;
  /** The operator and a fresh supply of inputs that each produce at least one output. */
  make(): { op: OperatorFunction<T, unknown>; inputs: T[]; stats?: Snmp };
  /** The same operator built over a dependency that throws. */
  throwing?(): { op: OperatorFunction<T, unknown>; input: T };
}

const cases: Case<never>[] = [
  {
    name: 'decrypt',
    make: () => {
      const c = aes();
      return { op: decrypt({ crypt: c }), inputs: sealed(c, [new Uint8Array(50), new Uint8Array(60), new Uint8Array(70)]) };
    },
    throwing: () => {
      const c = aes();
      const bad = { ...c, block: { ...(c as { block: object }).block, decrypt: () => { throw new Error('cipher broke'); } } } as unknown as PacketCrypt;
      return { op: decrypt({ crypt: bad }), input: sealed(c, [new Uint8Array(50)])[0]! };
    },
  },
  {
    name: 'crcCheck',
    make: () => {
      const c = aes();
      const stats = new Snmp();
      return { op: crcCheck({ crypt: c, stats }), inputs: [1, 2, 3].map((i) => addCrcHeader(new Uint8Array(10).fill(i), (c as { crc32: (b: Uint8Array) => number }).crc32)), stats };
    },
    throwing: () => {
      const c = aes();
      const bad = { ...c, crc32: () => { throw new Error('crc broke'); } } as PacketCrypt;
      return { op: crcCheck({ crypt: bad }), input: new Uint8Array(40) };
    },
  },
  {
    name: 'fecDecode',
    make: () => {
      const stats = new Snmp();
      return { op: fecDecode({ fec: null, stats }), inputs: kcpPackets(3), stats };
    },
    throwing: () => ({ op: fecDecode({ fec: null, stats: new Snmp(), onOob: () => { throw new Error('oob handler broke'); } }), input: oobBody() }),
  },
  {
    name: 'kcpInput',
    make: () => {
      const stats = new Snmp();
      const rx = new Kcp(9, { nodelay: 1, interval: 10, nc: 1, mtu: 200 });
      return { op: kcpInput({ kcp: rx, output: { next: () => {} }, stats }), inputs: kcpPackets(3), stats };
    },
    throwing: () => {
      const rx = new Kcp(9, { nodelay: 1, interval: 10, nc: 1, mtu: 200 });
      rx.input = () => { throw new TypeError('core broke'); };
      return { op: kcpInput({ kcp: rx, output: { next: () => {} } }), input: kcpPackets(1)[0]! };
    },
  },
  {
    name: 'reassemble',
    make: () => {
      const rx = coreWith(3);
      return { op: reassemble(), inputs: [rx, rx, rx] };
    },
    throwing: () => {
      const rx = coreWith(1);
      rx.recv = () => { throw new TypeError('recv broke'); };
      return { op: reassemble(), input: rx };
    },
  },
  {
    name: 'fecEncode',
    make: () => ({ op: fecEncode({ fec: { dataShards: 2, parityShards: 1 } }), inputs: kcpPackets(3) }),
    // a packet larger than any datagram (a user layer before it grew it): the shard copy throws
    throwing: () => ({ op: fecEncode({ fec: { dataShards: 2, parityShards: 1 } }), input: new Uint8Array(4000) }),
  },
  {
    name: 'crcSeal',
    make: () => ({ op: crcSeal({ crypt: aes() }), inputs: kcpPackets(3) }),
    throwing: () => {
      const c = aes();
      return { op: crcSeal({ crypt: { ...c, crc32: () => { throw new Error('crc broke'); } } as PacketCrypt }), input: kcpPackets(1)[0]! };
    },
  },
  {
    name: 'encrypt',
    make: () => {
      const c = aes();
      const s = new Subject<Uint8Array>();
      const framed: Uint8Array[] = [];
      s.pipe(crcSeal({ crypt: c })).subscribe((d) => framed.push(d));
      for (const p of kcpPackets(3)) s.next(p);
      return { op: encrypt({ crypt: c }), inputs: framed };
    },
    throwing: () => {
      const c = aes();
      const bad = { ...c, random: () => { throw new Error('no entropy'); } } as PacketCrypt;
      return { op: encrypt({ crypt: bad }), input: new Uint8Array(40) };
    },
  },
  {
    name: 'pace',
    make: () => ({ op: pace({ rate: 1e9 }), inputs: kcpPackets(3) }),
  },
] as unknown as Case<never>[];

function oobBody(): Uint8Array {
  // an OOB body: [seqid u32][type 0xf3 u16][size u16][conv][payload]
  const b = new Uint8Array(8 + 4 + 4);
  new DataView(b.buffer).setUint16(4, 0xf3, true);
  new DataView(b.buffer).setUint16(6, 4 + 4 + 2, true);
  return b;
}

describe('every layer operator honours the RxJS contract', () => {
  for (const c of cases) {
    describe(c.name, () => {
      it('emits and consumes nothing after its subscriber unsubscribes inside next', () => {
        const { op, inputs, stats } = c.make();
        const source = new Subject<never>();
        const got: unknown[] = [];
        const sub = source.pipe(op).subscribe((v) => {
          got.push(v);
          sub.unsubscribe();
        });
        source.next(inputs[0]!);
        expect(got).toHaveLength(1);
        const before = stats?.snapshot();
        for (const x of inputs.slice(1)) source.next(x);
        expect(got).toHaveLength(1);
        if (before) expect(stats!.snapshot()).toEqual(before);
        expect(source.observed).toBe(false);
      });

      it('passes errors and completion through', () => {
        const { op } = c.make();
        const e1 = new Subject<never>();
        const errors: unknown[] = [];
        e1.pipe(op).subscribe({ error: (e) => errors.push(e) });
        const boom = new Error('upstream');
        e1.error(boom);
        expect(errors).toEqual([boom]);
        const c1 = new Subject<never>();
        let completed = false;
        c1.pipe(op).subscribe({ complete: () => (completed = true) });
        c1.complete();
        expect(completed).toBe(true);
      });

      if (c.throwing) {
        it('turns a throw inside the layer into a KcpError LAYER_ERROR on the error channel', () => {
          const { op, input } = c.throwing!();
          const source = new Subject<never>();
          let error: unknown;
          const values: unknown[] = [];
          source.pipe(op).subscribe({ next: (v) => values.push(v), error: (e) => (error = e) });
          expect(() => source.next(input)).not.toThrow();
          expect(error).toBeInstanceOf(KcpError);
          expect((error as KcpError).code).toBe('LAYER_ERROR');
          expect((error as KcpError).message).toContain(c.name);
          expect((error as KcpError).cause).toBeInstanceOf(Error);
          expect(source.observed).toBe(false);
        });
      }

      it('does not swallow a late value from a source that ignores unsubscription', () => {
        // a hand-written source that keeps calling next after teardown must not reach the subscriber
        const { op, inputs } = c.make();
        let push: ((x: never) => void) | null = null;
        const rude = new Observable<never>((s) => {
          push = (x) => s.next(x);
        });
        const got: unknown[] = [];
        const sub = rude.pipe(op).subscribe((v) => got.push(v));
        push!(inputs[0]!);
        const n = got.length;
        sub.unsubscribe();
        for (const x of inputs.slice(1)) push!(x);
        expect(got).toHaveLength(n);
      });
    });
  }
});

describe('each operator takes one options object', () => {
  const run = (op: OperatorFunction<Uint8Array, Uint8Array>, inputs: Uint8Array[]): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const s = new Subject<Uint8Array>();
    s.pipe(op).subscribe((x) => out.push(x.slice()));
    for (const x of inputs) s.next(x.slice());
    return out;
  };

  it('a crypt, FEC geometry or core passed in place of the options throws a TypeError naming the form, when the pipeline is built', () => {
    const crypt = createCrypt('aes', key);
    const fec = { dataShards: 2, parityShards: 1 };
    const rx = new Kcp(9);
    const pads = new QppPads(new Uint8Array(16).fill(1), 11);
    const wrong: [string, () => unknown, RegExp][] = [
      ['decrypt', () => decrypt(crypt as never), /decrypt takes one options object: decrypt\(\{ crypt/],
      ['crcCheck', () => crcCheck(crypt as never), /crcCheck\(\{ crypt/],
      ['crcSeal', () => crcSeal(crypt as never), /crcSeal\(\{ crypt/],
      ['encrypt', () => encrypt(crypt as never), /encrypt\(\{ crypt/],
      ['fecDecode', () => fecDecode(fec as never), /fecDecode\(\{ fec/],
      ['fecEncode', () => fecEncode(fec as never), /fecEncode\(\{ fec/],
      ['fecEncode null', () => fecEncode(null as never), /fecEncode\(\{ fec/],
      ['kcpInput', () => kcpInput(rx as never), /kcpInput\(\{ kcp/],
      ['reassemble', () => reassemble(rx as never), /reassemble\(\{ kcp/],
      ['qppEncrypt', () => qppEncrypt(pads as never), /qppEncrypt\(\{ pads, seed/],
      ['qppDecrypt', () => qppDecrypt(pads as never), /qppDecrypt\(\{ pads, seed/],
    ];
    for (const [name, call, message] of wrong) expect(call, name).toThrow(message);
  });

  it('fecDecode({ fec, stats }) recovers a data shard lost from what fecEncode({ fec }) sent', () => {
    const packets = kcpPackets(4);
    const fec = { dataShards: 2, parityShards: 1 };
    const shards = run(fecEncode({ fec }), packets);
    const stats = new Snmp();
    const lossy = shards.filter((_, i) => i !== 0); // the first data shard lost: parity rebuilds it
    expect(run(fecDecode({ fec, stats }), lossy)).toHaveLength(packets.length);
    expect(stats.FECRecovered).toBe(1);
    expect(() => fecEncode({ fec: { dataShards: 0, parityShards: 1 } })).toThrow(RangeError);
    expect(() => decrypt({} as never)).toThrow(TypeError);
  });

  it('kcpInput and reassemble: reading the core given or the one each signal carries gives the same messages; bad options throw when the pipeline is built', () => {
    const packets = kcpPackets(3);
    const read = (make: (rx: Kcp) => OperatorFunction<Uint8Array, Uint8Array>): number[] => {
      const rx = new Kcp(9, { nodelay: 1, interval: 10, nc: 1, mtu: 200 });
      const out: number[] = [];
      const s = new Subject<Uint8Array>();
      s.pipe(make(rx)).subscribe((m) => out.push(m[0]!));
      for (const p of packets) s.next(p);
      return out;
    };
    const sink = { next: () => {} };
    const signalled = read((rx) => (src) => src.pipe(kcpInput({ kcp: rx, output: sink }), reassemble()));
    const given = read((rx) => (src) => src.pipe(kcpInput({ kcp: rx, output: sink }), reassemble({ kcp: rx })));
    expect(signalled).toEqual([0, 1, 2]);
    expect(given).toEqual(signalled);
    expect(() => kcpInput({ kcp: {} as Kcp, output: sink })).toThrow(TypeError);
    expect(() => kcpInput({ kcp: new Kcp(1), output: null as never })).toThrow(TypeError);
  });
});
