/**
 * What a layer emits belongs to whoever receives it: a user operator in a send-path slot may keep
 * the arrays it sees, and nothing rxkcp does afterwards may change them. The layers that write
 * headers into room left in front of a datagram, or encrypt it in place, must do so only on
 * arrays no user operator has seen, and the bytes on the wire must not depend on which path
 * was taken.
 */
import { tap, mergeMap, of, type OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Conversation, type LayerSlot } from '../operators/conversation/conversation.js';
import { createCrypt, type CryptName } from '../src/crypt/crypt.js';
import { createNodeCrypt } from '../src/node/crypt.js';
import type { FecOptions } from '../src/fec/fec-options.js';
import { Prng } from '../src/prng.js';
import { pumpThrough, seededRandom, testScheduler } from '../marbles/helpers.js';
import { markRoom } from '../src/wire/slab.js';

const SEND_SLOTS: LayerSlot[] = ['beforeFecEncode', 'afterFecEncode', 'afterCrcSeal', 'afterEncrypt'];
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

interface Kept {
  slot: LayerSlot;
  array: Uint8Array;
  seen: string;
}

/** Runs one conversation sending a fixed set of messages; returns the wire bytes and what the slots kept. */
function run(
  crypt: { name: CryptName; node: boolean },
  fec: FecOptions | null,
  slots: LayerSlot[],
  duplicateAt?: LayerSlot
): { wire: string[]; kept: Kept[] } {
  const wire: string[] = [];
  const kept: Kept[] = [];
  const key = new Prng(5).bytes(crypt.name === 'aes-128' ? 16 : 32);
  const c = (crypt.node ? createNodeCrypt : createCrypt)(crypt.name, key, { random: seededRandom(11) });
  const layers: Partial<Record<LayerSlot, OperatorFunction<Uint8Array, Uint8Array>>> = {};
  for (const slot of slots) {
    const keep = tap((d: Uint8Array) => kept.push({ slot, array: d, seen: hex(d) }));
    layers[slot] = slot === duplicateAt ? (s) => s.pipe(keep, mergeMap((d) => of(d, d))) : keep;
  }
  testScheduler().run(({ cold }) => {
    const conv = new Conversation({ conv: 7, crypt: c, fec, layers, kcp: { nodelay: 1, interval: 10, nc: 1, sndWnd: 64 } });
    conv.datagrams$.subscribe((d) => wire.push(hex(d)));
    const prng = new Prng(3);
    cold('a 20ms b 20ms c').subscribe(() => {
      for (const n of [1, 100, 1300, 4000, 17]) conv.write(prng.bytes(n));
    });
    cold('300ms a').subscribe(() => conv.close());
  });
  return { wire, kept };
}

const CRYPTS: { name: CryptName; node: boolean }[] = [
  { name: 'null', node: false },
  { name: 'none', node: false },
  { name: 'aes-128', node: false },
  { name: 'aes-128', node: true },
  { name: 'salsa20', node: false },
  { name: 'xor', node: false },
  { name: 'chacha20-poly1305', node: false },
];
const FECS: (FecOptions | null)[] = [null, { dataShards: 3, parityShards: 2 }];

describe('the send path never changes an array a user operator saw', () => {
  for (const crypt of CRYPTS) {
    for (const fec of FECS) {
      const label = `${crypt.name}${crypt.node ? ' (node)' : ''}, ${fec ? 'FEC 3/2' : 'no FEC'}`;
      it(`${label}: arrays kept in every single slot and in all slots at once stay as they were seen`, () => {
        for (const slots of [...SEND_SLOTS.map((s) => [s]), SEND_SLOTS]) {
          const { kept } = run(crypt, fec, slots);
          expect(kept.length, slots.join('+')).toBeGreaterThan(5);
          for (const k of kept) expect(hex(k.array), `${slots.join('+')}: an array kept at ${k.slot}`).toBe(k.seen);
        }
      });

      it(`${label}: a user operator that passes each array on twice does not see it change`, () => {
        for (const at of SEND_SLOTS.slice(0, 3)) {
          const { kept } = run(crypt, fec, SEND_SLOTS, at);
          for (const k of kept) expect(hex(k.array), `duplicated at ${at}: an array kept at ${k.slot}`).toBe(k.seen);
        }
      });

      it(`${label}: the wire bytes are the same with or without user operators in the slots`, () => {
        const bare = run(crypt, fec, []).wire;
        expect(bare.length).toBeGreaterThan(5);
        for (const slots of [...SEND_SLOTS.map((s) => [s]), SEND_SLOTS]) expect(run(crypt, fec, slots).wire, slots.join('+')).toEqual(bare);
      });
    }
  }
});

describe('layers writing in front of a datagram (inPlace)', () => {
  const body = new Prng(9).bytes(300);
  // an array made with room in front, vouched for (markRoom) right before it is handed on, as the
  // KCP core and the FEC encoder do
  const rooms = new Map<Uint8Array, number>();
  const withRoom = (room: number) => {
    const a = new Uint8Array(room + body.length).subarray(room);
    a.set(body);
    rooms.set(a, room);
    return a;
  };
  const collect = (op: OperatorFunction<Uint8Array, Uint8Array>, input: Uint8Array[]) => {
    const out: Uint8Array[] = [];
    of(...input)
      .pipe(
        tap((a) => markRoom(a, rooms.get(a) ?? 0)),
        op
      )
      .subscribe((d) => out.push(d));
    return out;
  };

  it('fecEncode writes its header into the room and emits a view of the same memory; without room, or without inPlace, a new array with the same bytes', async () => {
    const { fecEncode } = await import('../operators/layers/fec-encode.js');
    const fec = { dataShards: 2, parityShards: 1 };
    const make = (inPlace: boolean, headroom = 0) => fecEncode({ fec, inPlace, headroom });
    const copied = collect(make(false), [withRoom(8), withRoom(8)]);
    const input = [withRoom(28), withRoom(28)];
    const inPlace = collect(make(true, 20), input);
    const short = collect(make(true), [withRoom(7), withRoom(7)]);
    expect(copied.map(hex)).toEqual(inPlace.map(hex));
    expect(short.map(hex)).toEqual(inPlace.map(hex));
    expect(inPlace).toHaveLength(3); // two data shards and a parity shard
    expect(inPlace[0]!.buffer).toBe(input[0]!.buffer);
    expect(inPlace[0]!.byteOffset).toBe(20);
    expect(inPlace[2]!.byteOffset, 'parity leaves the asked room').toBeGreaterThanOrEqual(20);
    expect(copied[0]!.buffer).not.toBe(input[0]!.buffer);
    expect(short[0]!.buffer).not.toBe(input[0]!.buffer);
  });

  it('crcSeal writes nonce slot and CRC into the room; encrypt({ inPlace: false }) leaves the arriving array alone', async () => {
    const { crcSeal } = await import('../operators/layers/crc-seal.js');
    const { encrypt } = await import('../operators/layers/encrypt.js');
    const crypt = createCrypt('aes-128', new Prng(1).bytes(16), { random: seededRandom(3) });
    const dirty = withRoom(20);
    new Uint8Array(dirty.buffer).fill(0xee, 0, 20); // whatever was in the room is overwritten
    const [inPlace] = collect(crcSeal({ crypt, inPlace: true }), [dirty]);
    const [copied] = collect(crcSeal({ crypt }), [withRoom(20)]);
    expect(hex(inPlace!)).toBe(hex(copied!));
    expect(inPlace!.buffer).toBe(dirty.buffer);
    const seen = hex(copied!);
    const [sealed] = collect(encrypt({ crypt, inPlace: false }), [copied!]);
    expect(hex(copied!)).toBe(seen);
    expect(hex(sealed!)).not.toBe(seen);
    const [sealedInPlace] = collect(encrypt({ crypt }), [copied!]);
    expect(sealedInPlace).toBe(copied);
  });
});

describe('Kcp headroom', () => {
  it('emits the same bytes as views at the asked offset, each into memory of its own', async () => {
    const { DrivenKcp } = await import('../src/kcp/driven-kcp.js');
    const emitted = (headroom: number) => {
      const k = new DrivenKcp(3, { nodelay: 1, interval: 10, nc: 1, sndWnd: 128 }, { headroom });
      k.send(new Prng(4).bytes(5000));
      const out: Uint8Array[] = [];
      k.flush(0, { next: (d) => out.push(d) });
      return out;
    };
    const plain = emitted(0);
    const roomy = emitted(28);
    expect(plain.length).toBeGreaterThan(2);
    expect(roomy.map(hex)).toEqual(plain.map(hex));
    const starts = roomy.map((d) => d.byteOffset);
    for (let i = 1; i < roomy.length; i++) {
      if (roomy[i]!.buffer === roomy[i - 1]!.buffer) expect(starts[i]! - 28, 'room kept free between datagrams').toBeGreaterThanOrEqual(starts[i - 1]! + roomy[i - 1]!.length);
    }
    for (const d of roomy) expect(d.byteOffset).toBeGreaterThanOrEqual(28);
    expect(() => new DrivenKcp(3, {}, { headroom: -1 })).toThrow(RangeError);
  });
});

describe('the receive path with FEC shards held as views', () => {
  /** 256 KB through 20 % loss with FEC 10/3; `scribble` puts a user operator after fecDecode that overwrites what it passed on. */
  async function transfer(scribble: boolean) {
    const { Clock } = await import('../operators/conversation/update-clock.js');
    const { virtualNetwork } = await import('../operators/testing/virtual-link.js');
    const { Observable } = await import('rxjs');
    const out = { delivered: 0, recovered: 0, intact: false, kcpInErrors: -1, retrans: -1 };
    const scribbler: OperatorFunction<Uint8Array, Uint8Array> = (s) =>
      new Observable<Uint8Array>((sub) =>
        s.subscribe({
          next: (d) => {
            sub.next(d);
            d.fill(0xaa); // the array was this operator's: it may do what it likes with it once passed on
          },
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        })
      );
    testScheduler().run(({ flush }) => {
      const clock = new Clock();
      const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 256, rcvWnd: 256 };
      const opts = { conv: 7, clock, kcp, fec: { dataShards: 10, parityShards: 3 } };
      const a = new Conversation(opts);
      const b = new Conversation({ ...opts, layers: scribble ? { afterFecDecode: scribbler } : undefined });
      const net = virtualNetwork(a, b, { ab: { seed: 15, loss: 0.2, delay: 30 }, ba: { seed: 16, loss: 0.2, delay: 30 } });
      const data = new Prng(1).bytes(1 << 18);
      pumpThrough(a, b, net, data, (received) => {
        out.delivered = received.length;
        out.recovered = b.stats.FECRecovered;
        out.kcpInErrors = b.stats.KCPInErrors;
        out.retrans = a.stats.RetransSegs;
        out.intact = received.equals(Buffer.from(data));
      });
      flush();
    });
    return out;
  }

  it('rebuilds the same packets, with and without a user operator after fecDecode that overwrites what it passed on', async () => {
    const plain = await transfer(false);
    const scribbled = await transfer(true);
    for (const r of [plain, scribbled]) {
      expect(r.delivered).toBe(1 << 18);
      expect(r.intact).toBe(true);
      expect(r.recovered).toBeGreaterThan(20);
    }
    expect(scribbled).toEqual(plain);
  });
});

describe('takeBytes (shared slabs)', () => {
  it('hands out zeroed, 8-byte aligned views that never overlap, and large arrays on their own', async () => {
    const { takeBytes, copyBytes, SLAB_SIZE } = await import('../src/wire/slab.js');
    const prng = new Prng(12);
    const views: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      const v = takeBytes(prng.int(0, 1600));
      expect(v.byteOffset % 8).toBe(0);
      expect(v.every((b) => b === 0)).toBe(true);
      v.fill(0xff); // the taker owns it: the next views must still come zeroed
      views.push(v);
    }
    for (let i = 1; i < views.length; i++) {
      const a = views[i - 1]!;
      const b = views[i]!;
      if (a.buffer === b.buffer) expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + a.length);
    }
    const big = takeBytes(SLAB_SIZE);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(SLAB_SIZE);
    const src = prng.bytes(100);
    expect(hex(copyBytes(src, 10, 60))).toBe(hex(src.subarray(10, 60)));
  });
});

describe('in-place headers only in room set aside for them', () => {
  // a caller's arrays are often views into larger memory (Node's Buffer pool, a slab, a frame
  // being parsed): the bytes in front of them belong to someone else
  const crypt = createCrypt('salsa20', new Prng(9).bytes(32), { random: seededRandom(3) });
  const memory = () => {
    const whole = new Uint8Array(256).fill(0xa5);
    return { whole, body: whole.subarray(64, 64 + 100).fill(7) };
  };

  it("crcSeal({ inPlace: true }) on a caller's view copies: the bytes in front of it are left alone", async () => {
    const { whole, body } = memory();
    const { crcSeal } = await import('../operators/layers/crc-seal.js');
    const { of, lastValueFrom } = await import('rxjs');
    const out = await lastValueFrom(of(body).pipe(crcSeal({ crypt, inPlace: true })));
    expect(out.length).toBe(120);
    expect([...whole.subarray(0, 64)].every((b) => b === 0xa5)).toBe(true);
  });

  it("fecEncode({ inPlace: true }) on a caller's view copies: the bytes in front of it are left alone", async () => {
    const { whole, body } = memory();
    const { fecEncode } = await import('../operators/layers/fec-encode.js');
    const { of, lastValueFrom, toArray } = await import('rxjs');
    const out = await lastValueFrom(of(body).pipe(fecEncode({ fec: { dataShards: 2, parityShards: 1 }, inPlace: true }), toArray()));
    expect(out[0]!.length).toBe(108);
    expect([...whole.subarray(0, 64)].every((b) => b === 0xa5)).toBe(true);
  });

  it('the room a KCP datagram was made with is used once: a second in-place seal of the same array copies', async () => {
    const { DrivenKcp } = await import('../src/kcp/driven-kcp.js');
    const { addCrcHeader } = await import('../src/crypt/packet.js');
    const dgs: Uint8Array[] = [];
    const kcp = new DrivenKcp(1, { nodelay: 1, interval: 10, nc: 1 }, { headroom: 20 });
    kcp.send(new Uint8Array(50).fill(1));
    kcp.flush(0, { next: (d) => dgs.push(d) });
    expect(dgs.length).toBe(1);
    if (crypt.kind !== 'framed') throw new Error('salsa20 is framed');
    const first = addCrcHeader(dgs[0]!, crypt.crc32, true);
    expect(first.buffer).toBe(dgs[0]!.buffer); // written in the room in front
    const snapshot = [...first];
    const second = addCrcHeader(dgs[0]!, crypt.crc32, true);
    expect(second.buffer === first.buffer && second.byteOffset === first.byteOffset).toBe(false);
    expect([...first]).toEqual(snapshot);
  });
});

describe('a receiver that detaches what it was given', () => {
  it("transferring a datagram's buffer (postMessage) takes no memory a core still needs: later datagrams and retransmissions come out as without it", async () => {
    const { DrivenKcp } = await import('../src/kcp/driven-kcp.js');
    const run = (detach: boolean) => {
      const k = new DrivenKcp(3, { nodelay: 1, interval: 10, nc: 1, sndWnd: 128, cc: 'kcp-go' }, { headroom: 28 });
      const out: string[] = [];
      const sink = {
        next: (d: Uint8Array) => {
          out.push(hex(d));
          if (detach && d.buffer.byteLength > 0) structuredClone(d.buffer, { transfer: [d.buffer as ArrayBuffer] });
        },
      };
      k.send(new Prng(4).bytes(20_000));
      k.flush(0, sink);
      k.send(new Prng(5).bytes(3_000));
      for (let t = 10; t <= 400; t += 10) k.flush(t, sink); // no ACKs: the first datagrams go again
      return out;
    };
    const plain = run(false);
    expect(plain.length).toBeGreaterThan(20);
    expect(run(true)).toEqual(plain);
  });
});
