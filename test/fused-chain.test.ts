/**
 * A conversation without user layers calls its layers' cores directly instead of piping the layer
 * operators (the fused chain); with a user operator in any slot it pipes the operators. Both must
 * behave the same: these runs put one conversation of each kind through the same seeded traffic in
 * virtual time (loss, corrupted and garbage datagrams, OOB messages, layers that throw, a reader
 * that closes inside its own next) and compare everything observable: the datagrams on the wire
 * both ways with their times, every SNMP counter, what was read, and how each conversation ended.
 * The operator path is forced with `identity` in every slot (an operator that changes nothing).
 */
import { identity, type OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Conversation, type LayerSlot } from '../operators/conversation.js';
import { Clock } from '../operators/update-clock.js';
import { createCrypt, type CryptName, type PacketCrypt } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';
import type { FecOptions } from '../src/fec/fec-options.js';
import { Prng } from '../src/prng.js';
import { seededRandom, testScheduler } from '../marbles/helpers.js';

const ALL_SLOTS: LayerSlot[] = ['afterDecrypt', 'afterCrcCheck', 'afterFecDecode', 'beforeFecEncode', 'afterFecEncode', 'afterCrcSeal', 'afterEncrypt'];
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

type Path = 'fused' | 'operators' | 'one slot';

interface Scenario {
  crypt: CryptName;
  fec: FecOptions | null;
  seed: number;
  /** Makes a side's crypt throw: from its nth use of the CRC (framed) or of the nonce source. */
  throwAt?: { side: 'a' | 'b'; n: number };
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

function run(path: Path, s: Scenario): Outcome {
  const out: Outcome = { wire: [], stats: { a: {}, b: {} }, read: { a: [], b: [] }, oob: [], ends: [], written: 0 };
  testScheduler().run(({ flush }) => {
    const clock = new Clock();
    const sch = clock.scheduler;
    const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 64, rcvWnd: 64 };
    const common = { clock, kcp, fec: s.fec, layers: layersFor(path), antiReplay: s.antiReplay, mtu: 700 };
    const a = new Conversation({ conv: 9, ...common, crypt: cryptFor(s.crypt, s.seed, 1, s.throwAt?.side === 'a' ? s.throwAt.n : undefined) });
    const b = new Conversation({
      conv: 9,
      ...common,
      crypt: cryptFor(s.crypt, s.seed, 2, s.throwAt?.side === 'b' ? s.throwAt.n : undefined),
      onOob: (p) => {
        if (s.oobThrows) throw new Error('onOob broke');
        out.oob.push(`onOob ${hex(p)}`);
      },
    });
    b.oob$.subscribe({ next: (p) => out.oob.push(`oob$ ${hex(p)}`), complete: () => out.oob.push('oob$ complete') });
    // a link each way: 10 % loss, 2 % with a byte flipped (not without a cipher: nothing would
    // notice), 2 % followed by garbage, 5..25 ms delay
    const prng = new Prng(s.seed + 100);
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
            to.input(copy);
            if (garbage) to.input(garbage);
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
      a.close();
      b.close();
    }, 20_000);
    flush();
  });
  return out;
}

const CRYPTS: CryptName[] = ['null', 'aes-128', 'salsa20', 'chacha20-poly1305'];
const FECS: (FecOptions | null)[] = [null, { dataShards: 3, parityShards: 2 }];

describe('the fused default chain and the piped operators behave the same', () => {
  for (const crypt of CRYPTS) {
    for (const fec of FECS) {
      const label = `${crypt}, ${fec ? 'FEC 3/2' : 'no FEC'}`;
      const seed = 3 + CRYPTS.indexOf(crypt) * 7 + (fec ? 1 : 0);
      it(`${label}: a lossy exchange with corrupted and garbage datagrams (seed ${seed})`, () => {
        const s: Scenario = { crypt, fec, seed, antiReplay: crypt === 'chacha20-poly1305' ? 64 : undefined };
        const fused = run('fused', s);
        // the run did what it is meant to: data both ways, losses repaired, bad datagrams dropped and counted
        const bytesRead = (r: string[]) => r.reduce((n, m) => n + m.length / 2, 0);
        expect(bytesRead(fused.read.b)).toBe(fused.written);
        expect(fused.read.a.length).toBeGreaterThan(0);
        expect(fused.stats.a.RetransSegs! + fused.stats.b.RetransSegs!).toBeGreaterThan(0);
        const dropped = (st: Record<string, number>) => st.InCsumErrors! + st.KCPInErrors! + st.InErrs! + st.FECErrs!;
        if (crypt !== 'null') expect(dropped(fused.stats.a) + dropped(fused.stats.b)).toBeGreaterThan(0);
        if (fec) expect(fused.oob.filter((o) => o.startsWith('onOob')).length).toBeGreaterThan(0);
        for (const path of ['operators', 'one slot'] as const) expect(run(path, s), path).toEqual(fused);
      });

      it(`${label}: a throw inside a layer ends only that conversation, the same way`, () => {
        for (const throwAt of [
          { side: 'a' as const, n: 30 },
          { side: 'b' as const, n: 25 },
        ]) {
          if (crypt === 'null') continue; // nothing of the crypt's is called
          const s: Scenario = { crypt, fec, seed, throwAt };
          const fused = run('fused', s);
          const ended = fused.ends.find((e) => e.startsWith(`${throwAt.side} data$ error`));
          expect(ended, JSON.stringify(fused.ends)).toMatch(/LAYER_ERROR (crcSeal|crcCheck|encrypt): crypt broke/);
          expect(run('operators', s), `${throwAt.side} at ${throwAt.n}`).toEqual(fused);
        }
      });

      it(`${label}: a reader that closes its conversation inside next, and a throwing onOob`, () => {
        for (const linger of [true, false]) {
          const closing: Scenario = { crypt, fec, seed, closeAfter: 3, linger };
          const fused = run('fused', closing);
          expect(fused.read.b).toHaveLength(3);
          expect(run('operators', closing), `linger ${linger}`).toEqual(fused);
        }
        if (fec) {
          const oob: Scenario = { crypt, fec, seed, oobThrows: true };
          const f = run('fused', oob);
          expect(f.ends.find((e) => e.startsWith('b data$ error'))).toMatch(/LAYER_ERROR fecDecode: onOob broke/);
          expect(run('operators', oob)).toEqual(f);
        }
      });
    }
  }
});
