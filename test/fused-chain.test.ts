/**
 * A conversation without user layers calls its layers' cores directly instead of piping the layer
 * operators (the fused chain); with a user operator in any slot it pipes the operators. Both must
 * behave the same: these runs put one conversation of each kind through the same seeded traffic in
 * virtual time (loss, corrupted and garbage datagrams, OOB messages, layers that throw, a reader
 * that closes inside its own next) and compare everything observable: the datagrams on the wire
 * both ways with their times, every SNMP counter, what was read, and how each conversation ended.
 * The operator path is forced with `identity` in every slot (an operator that changes nothing).
 *
 * Datagrams enter through each entry a conversation has: `input` (from the wire), and what a
 * listener hands its sessions after decrypting and checking them (`inputBody`, or
 * `inputDecrypted` with an `afterDecrypt` layer, as `Session.inputOpened` chooses, and
 * `inputDecrypted` always). The runs cover message and stream mode, `writeDelay`, mtus from 200 to
 * 1400 and windows from 4 segments.
 */
import { identity, type OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Conversation, type LayerSlot } from '../operators/conversation/conversation.js';
import { Clock } from '../operators/conversation/update-clock.js';
import { createCrypt, type CryptName, type PacketCrypt } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';
import type { FecOptions } from '../src/fec/fec-options.js';
import { openDatagram } from '../src/crypt/packet.js';
import { Prng } from '../src/prng.js';
import { Snmp } from '../src/stats.js';
import { seededRandom, testScheduler } from '../marbles/helpers.js';

const ALL_SLOTS: LayerSlot[] = ['afterDecrypt', 'afterCrcCheck', 'afterFecDecode', 'beforeFecEncode', 'afterFecEncode', 'afterCrcSeal', 'afterEncrypt'];
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

type Path = 'fused' | 'operators' | 'one slot';

/**
 * How datagrams reach a conversation: `input`; what a listener opened (decrypted and checked),
 * given as `Session.inputOpened` does; or always through `inputDecrypted`.
 */
type Entry = 'wire' | 'opened' | 'decrypted';

/** The conversations' shape. */
interface Shape {
  stream: boolean;
  writeDelay: boolean;
  mtu: number;
  sndWnd: number;
  rcvWnd: number;
}

interface Scenario {
  crypt: CryptName;
  fec: FecOptions | null;
  seed: number;
  entry: Entry;
  shape: Shape;
  /**
   * Makes a side throw from the nth use of: its crypt's CRC (framed) or nonce source (AEAD), or its
   * counters' InPkts (which only the KCP input layer counts).
   */
  throwAt?: { side: 'a' | 'b'; n: number; via: 'crypt' | 'stats' };
  /** b's reader closes b when it has read this many messages (lingering, or at once). */
  closeAfter?: number;
  linger?: boolean;
  /** b's onOob throws on the first OOB message. */
  oobThrows?: boolean;
  antiReplay?: number;
}

interface Outcome {
  wire: string[];
  stats: { a: Record<string, number>; b: Record<string, number> };
  read: { a: string[]; b: string[] };
  oob: string[];
  ends: string[];
  /** Bytes a wrote. */
  written: number;
  /** What the listener in front of each side counted (entries other than 'wire'). */
  listenerStats: { a: Record<string, number>; b: Record<string, number> };
}

function layersFor(path: Path): Partial<Record<LayerSlot, OperatorFunction<Uint8Array, Uint8Array>>> | undefined {
  if (path === 'fused') return undefined;
  if (path === 'one slot') return { afterEncrypt: identity };
  return Object.fromEntries(ALL_SLOTS.map((s) => [s, identity]));
}

/** A crypt of `name` whose CRC (framed) or nonce source (AEAD) throws from its `throwAt`-th use. */
function cryptFor(name: CryptName, seed: number, side: number, throwAt: number | undefined): PacketCrypt {
  const key = new Prng(seed).bytes(32).subarray(0, name === 'aes-128' ? 16 : 32);
  const random = seededRandom(seed + side);
  let uses = 0;
  const count = () => {
    if (throwAt !== undefined && ++uses >= throwAt) throw new Error(`crypt broke at use ${uses}`);
  };
  const c = createCrypt(name, key, { random: (into) => (c.kind === 'aead' && count(), random(into)) });
  if (c.kind !== 'framed') return c;
  const crc32 = c.crc32;
  return { ...c, crc32: (data: Uint8Array) => (count(), crc32(data)) };
}

/** Counters whose InPkts throws from its `throwAt`-th increment. */
function statsFor(throwAt: number | undefined): Snmp {
  const stats = new Snmp();
  if (throwAt === undefined) return stats;
  let value = 0;
  let uses = 0;
  Object.defineProperty(stats, 'InPkts', {
    enumerable: true,
    get: () => value,
    set: (v: number) => {
      if (++uses >= throwAt) throw new Error(`stats broke at use ${uses}`);
      value = v;
    },
  });
  return stats;
}

function run(path: Path, s: Scenario): Outcome {
  const out: Outcome = { wire: [], stats: { a: {}, b: {} }, read: { a: [], b: [] }, oob: [], ends: [], written: 0, listenerStats: { a: {}, b: {} } };
  testScheduler().run(({ flush }) => {
    const clock = new Clock();
    const sch = clock.scheduler;
    const { stream, writeDelay, mtu, sndWnd, rcvWnd } = s.shape;
    const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd, rcvWnd, stream };
    const common = { clock, kcp, fec: s.fec, layers: layersFor(path), antiReplay: s.antiReplay, mtu, writeDelay };
    const throwAt = (side: 'a' | 'b', via: 'crypt' | 'stats') => (s.throwAt?.side === side && s.throwAt.via === via ? s.throwAt.n : undefined);
    const cryptA = cryptFor(s.crypt, s.seed, 1, throwAt('a', 'crypt'));
    const cryptB = cryptFor(s.crypt, s.seed, 2, throwAt('b', 'crypt'));
    const a = new Conversation({ conv: 9, ...common, crypt: cryptA, stats: statsFor(throwAt('a', 'stats')) });
    const b = new Conversation({
      conv: 9,
      ...common,
      crypt: cryptB,
      stats: statsFor(throwAt('b', 'stats')),
      onOob: (p) => {
        if (s.oobThrows) throw new Error('onOob broke');
        out.oob.push(`onOob ${hex(p)}`);
      },
    });
    b.oob$.subscribe({ next: (p) => out.oob.push(`oob$ ${hex(p)}`), complete: () => out.oob.push('oob$ complete') });
    // a link each way: 10 % loss, 2 % with a byte flipped (not without a cipher: nothing would
    // notice), 2 % followed by garbage, 5..25 ms delay
    const prng = new Prng(s.seed + 100);
    // what a listener in front of each side does before its session sees a datagram
    const listenerStats = { a: new Snmp(), b: new Snmp() };
    const deliver = (to: Conversation, d: Uint8Array) => {
      if (s.entry === 'wire') return to.input(d);
      const side = to === a ? 'a' : 'b';
      const body = openDatagram(side === 'a' ? cryptA : cryptB, d, listenerStats[side]);
      if (body === null) return;
      const decrypted = to.crypt.kind === 'aead' ? body : d;
      if (s.entry === 'decrypted' || to.hasLayer('afterDecrypt')) to.inputDecrypted(decrypted);
      else to.inputBody(body);
    };
    const link = (from: Conversation, to: Conversation, dir: string) =>
      from.datagrams$.subscribe({
        next: (d) => {
          out.wire.push(`${sch.now()} ${dir} ${hex(d)}`);
          if (prng.float() < 0.1) return;
          const copy = d.slice();
          if (prng.float() < 0.02 && s.crypt !== 'null') copy[Math.floor(prng.float() * copy.length)]! ^= 0x40;
          const garbage = prng.float() < 0.02 ? prng.bytes(Math.floor(prng.float() * 40)) : null;
          const delay = 5 + Math.floor(prng.float() * 20);
          sch.schedule(() => {
            deliver(to, copy);
            if (garbage) deliver(to, garbage);
          }, delay);
        },
        error: (e: unknown) => out.ends.push(`${dir} datagrams$ error ${(e as KcpError).code} ${(e as Error).message}`),
        complete: () => out.ends.push(`${dir} datagrams$ complete at ${sch.now()}`),
      });
    link(a, b, 'a>b');
    link(b, a, 'b>a');
    const reader = (c: Conversation, name: 'a' | 'b') =>
      c.data$.subscribe({
        next: (m) => {
          out.read[name].push(hex(m));
          if (name === 'b' && out.read.b.length === s.closeAfter) b.close({ linger: s.linger });
          if (name === 'b' && !b.closed) b.write(m.subarray(0, 40)); // answers, so both ways carry data
        },
        error: (e: unknown) => out.ends.push(`${name} data$ error ${(e as KcpError).code} ${(e as Error).message}`),
        complete: () => out.ends.push(`${name} data$ complete at ${sch.now()}`),
      });
    reader(a, 'a');
    reader(b, 'b');
    const data = new Prng(s.seed + 200);
    let sent = 0;
    const pump = () => {
      while (sent < 40 && !a.closed) {
        const m = data.bytes(1 + Math.floor(data.float() * 1500));
        if (!a.write(m)) break;
        out.written += m.length;
        sent++;
        if (s.fec && sent % 8 === 0 && !a.closed) a.sendOob(data.bytes(10));
      }
    };
    a.writable$.subscribe({ next: pump, error: () => {} });
    pump();
    sch.schedule(() => {
      out.stats = { a: a.stats.snapshot(), b: b.stats.snapshot() };
      out.listenerStats = { a: listenerStats.a.snapshot(), b: listenerStats.b.snapshot() };
      a.close();
      b.close();
    }, 20_000);
    flush();
  });
  return out;
}

const CRYPTS: CryptName[] = ['null', 'aes-128', 'salsa20', 'chacha20-poly1305'];
const FECS: (FecOptions | null)[] = [null, { dataShards: 3, parityShards: 2 }];
const ENTRIES: Entry[] = ['wire', 'opened', 'decrypted'];
/** Shapes the runs take in turn: both modes, writeDelay on and off, mtus and windows. */
const SHAPES: Shape[] = [
  { stream: false, writeDelay: false, mtu: 700, sndWnd: 64, rcvWnd: 64 },
  { stream: true, writeDelay: true, mtu: 1400, sndWnd: 32, rcvWnd: 128 },
  { stream: false, writeDelay: true, mtu: 200, sndWnd: 4, rcvWnd: 8 },
  { stream: true, writeDelay: false, mtu: 576, sndWnd: 128, rcvWnd: 4 },
  { stream: true, writeDelay: false, mtu: 200, sndWnd: 8, rcvWnd: 32 },
];
const describeShape = (sh: Shape) => `${sh.stream ? 'stream' : 'message'} mode${sh.writeDelay ? ', writeDelay' : ''}, mtu ${sh.mtu}, windows ${sh.sndWnd}/${sh.rcvWnd}`;

describe('the fused default chain and the piped operators behave the same', () => {
  let turn = 0;
  const nextShape = () => SHAPES[turn++ % SHAPES.length]!;
  for (const crypt of CRYPTS) {
    for (const fec of FECS) {
      const label = `${crypt}, ${fec ? 'FEC 3/2' : 'no FEC'}`;
      const seed = 3 + CRYPTS.indexOf(crypt) * 7 + (fec ? 1 : 0);
      for (const entry of ENTRIES) {
        const shape = nextShape();
        it(`${label}, ${entry === 'wire' ? 'input()' : entry === 'opened' ? 'bodies a listener opened' : 'inputDecrypted()'}, ${describeShape(shape)}: a lossy exchange with corrupted and garbage datagrams (seed ${seed})`, () => {
          const s: Scenario = { crypt, fec, seed, entry, shape, antiReplay: crypt === 'chacha20-poly1305' && entry === 'wire' ? 64 : undefined };
          const fused = run('fused', s);
          // the run did what it is meant to: data both ways, losses repaired, bad datagrams dropped and counted
          const bytesRead = (r: string[]) => r.reduce((n, m) => n + m.length / 2, 0);
          expect(bytesRead(fused.read.b)).toBe(fused.written);
          expect(fused.written).toBeGreaterThan(0);
          expect(fused.read.a.length).toBeGreaterThan(0);
          expect(fused.stats.a.RetransSegs! + fused.stats.b.RetransSegs!).toBeGreaterThan(0);
          const dropped = (st: Record<string, number>) => st.InCsumErrors! + st.KCPInErrors! + st.InErrs! + st.FECErrs!;
          const droppedAll = dropped(fused.stats.a) + dropped(fused.stats.b) + dropped(fused.listenerStats.a) + dropped(fused.listenerStats.b);
          if (crypt !== 'null') expect(droppedAll).toBeGreaterThan(0);
          if (fec) expect(fused.oob.filter((o) => o.startsWith('onOob')).length).toBeGreaterThan(0);
          for (const path of ['operators', 'one slot'] as const) expect(run(path, s), path).toEqual(fused);
        });
      }

      const shape = nextShape();
      it(`${label}, ${describeShape(shape)}: a throw inside a layer ends only that conversation, the same way`, () => {
        const cases = [
          { side: 'a' as const, n: 5, via: 'stats' as const, layer: 'kcpInput' },
          { side: 'b' as const, n: 5, via: 'stats' as const, layer: 'kcpInput' },
          // a null crypt has no CRC or nonce to break
          ...(crypt === 'null'
            ? []
            : [
                { side: 'a' as const, n: 12, via: 'crypt' as const, layer: '(crcSeal|crcCheck|encrypt)' },
                { side: 'b' as const, n: 7, via: 'crypt' as const, layer: '(crcSeal|crcCheck|encrypt)' },
              ]),
        ];
        for (const { layer, ...throwAt } of cases) {
          const s: Scenario = { crypt, fec, seed, entry: 'wire', shape, throwAt };
          const fused = run('fused', s);
          const ended = fused.ends.find((e) => e.startsWith(`${throwAt.side} data$ error`));
          expect(ended, `no error on ${throwAt.side}: ${JSON.stringify(fused.ends)}`).toBeTypeOf('string');
          expect(ended).toMatch(new RegExp(`LAYER_ERROR ${layer}: ${throwAt.via} broke`));
          expect(run('operators', s), `${throwAt.via} of ${throwAt.side} at ${throwAt.n}`).toEqual(fused);
        }
      });

      it(`${label}: a reader that closes its conversation inside next, and a throwing onOob`, () => {
        const shape = SHAPES[0]!;
        for (const linger of [true, false]) {
          const closing: Scenario = { crypt, fec, seed, entry: 'wire', shape, closeAfter: 3, linger };
          const fused = run('fused', closing);
          expect(fused.read.b).toHaveLength(3);
          expect(run('operators', closing), `linger ${linger}`).toEqual(fused);
        }
        if (fec) {
          const oob: Scenario = { crypt, fec, seed, entry: 'wire', shape, oobThrows: true };
          const f = run('fused', oob);
          expect(f.ends.find((e) => e.startsWith('b data$ error'))).toMatch(/LAYER_ERROR fecDecode: onOob broke/);
          expect(run('operators', oob)).toEqual(f);
        }
      });
    }
  }
});
