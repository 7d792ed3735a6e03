import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KcpError } from '../src/errors.js';
import { Prng } from '../src/prng.js';
import { CollectSink } from '../src/sink.js';
import { CMD_FIN, CMD_NOP, CMD_PSH, CMD_SYN, CMD_UPD, encodeSmuxFrame, SmuxFrameReader, type SmuxFrame } from '../src/smux/frame.js';
import { resolveSmuxConfig, SmuxSession, type SmuxConfig, type SmuxEvents } from '../src/smux/mux.js';
import { toHex } from '../src/wire/bytes.js';
import { checkProperty } from './helpers/properties.js';

/** A session plus a log of what it reported. */
class Side implements SmuxEvents {
  readonly s: SmuxSession;
  readonly accepted: number[] = [];
  readonly gone: number[] = [];
  readonly received = new Map<number, number[]>();
  readonly fins = new Set<number>();
  ended: KcpError | null | undefined = undefined;
  /** take() on every readable event (false: leave data in the session) */
  autoTake = true;

  constructor(side: 'client' | 'server', config: SmuxConfig = {}, now = 0) {
    this.s = new SmuxSession(side, this, config, now);
  }
  accept(sid: number): void {
    this.accepted.push(sid);
  }
  readable(sid: number): void {
    if (this.autoTake) this.takeAll(sid);
  }
  removed(sid: number): void {
    this.gone.push(sid);
  }
  closed(error: KcpError | null): void {
    this.ended = error;
  }
  takeAll(sid: number): void {
    const t = this.s.take(sid);
    const got = this.received.get(sid) ?? [];
    for (const d of t.data) for (const b of d) got.push(b);
    this.received.set(sid, got);
    if (t.fin) this.fins.add(sid);
  }
}

function frames(bytes: Uint8Array): SmuxFrame[] {
  const out = new CollectSink<SmuxFrame>();
  new SmuxFrameReader().push(bytes, out);
  return out.items;
}

/** Moves every frame each side can send to the other until both are quiet; returns the frames sent, tagged. */
function exchange(a: Side, b: Side, limit = 100_000): Array<{ from: 'a' | 'b'; f: SmuxFrame }> {
  const log: Array<{ from: 'a' | 'b'; f: SmuxFrame }> = [];
  for (let i = 0; i < limit; i++) {
    const fa = a.s.pull();
    if (fa) {
      log.push(...frames(fa).map((f) => ({ from: 'a' as const, f })));
      b.s.input(fa);
    }
    const fb = b.s.pull();
    if (fb) {
      log.push(...frames(fb).map((f) => ({ from: 'b' as const, f })));
      a.s.input(fb);
    }
    if (!fa && !fb) return log;
  }
  throw new Error('exchange did not settle');
}

const bytes = (n: number, seed = 1) => new Prng(seed).bytes(n);

describe('smux frames', () => {
  it('lays out version, cmd, length LE16 and stream id LE32', () => {
    expect(toHex(encodeSmuxFrame(2, CMD_PSH, 0x01020304, Uint8Array.of(0xaa, 0xbb)))).toBe('0202020004030201aabb');
    expect(toHex(encodeSmuxFrame(1, CMD_NOP, 0))).toBe('0103000000000000');
    expect(() => encodeSmuxFrame(1, CMD_PSH, 3, new Uint8Array(65536))).toThrow(RangeError);
  });

  it('the reader cuts any split of a frame sequence into the same frames (fast-check)', () => {
    checkProperty(
      fc.property(
        fc.array(fc.record({ cmd: fc.integer({ min: 0, max: 4 }), sid: fc.nat({ max: 0xffffffff }), data: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (fs, cuts) => {
          const wire = new Uint8Array(Buffer.concat(fs.map((f) => encodeSmuxFrame(2, f.cmd, f.sid, f.data))));
          const reader = new SmuxFrameReader();
          const out = new CollectSink<SmuxFrame>();
          let prev = 0;
          for (const c of [...cuts.map((c) => (wire.length ? c % wire.length : 0)).sort((x, y) => x - y), wire.length]) {
            reader.push(wire.subarray(prev, c), out);
            prev = c;
          }
          expect(reader.atBoundary).toBe(true);
          expect(out.items.map((f) => [f.version, f.cmd, f.sid, toHex(f.data)])).toEqual(fs.map((f) => [2, f.cmd, f.sid, toHex(f.data)]));
        }
      ),
      { numRuns: 200 }
    );
  });
});

describe('smux config', () => {
  it("defaults to smux's DefaultConfig and refuses what VerifyConfig refuses", () => {
    expect(resolveSmuxConfig()).toMatchObject({ version: 1, keepAliveInterval: 10_000, keepAliveTimeout: 30_000, maxFrameSize: 32768, maxReceiveBuffer: 4194304, maxStreamBuffer: 65536 });
    expect(() => resolveSmuxConfig({ version: 3 as 1 })).toThrow(RangeError);
    expect(() => resolveSmuxConfig({ keepAliveInterval: 40_000 })).toThrow(/keep-alive timeout/);
    expect(() => resolveSmuxConfig({ keepAliveInterval: 40_000, keepAliveDisabled: true })).not.toThrow();
    expect(() => resolveSmuxConfig({ maxFrameSize: 65536 })).toThrow(RangeError);
    expect(() => resolveSmuxConfig({ maxStreamBuffer: 8 << 20 })).toThrow(/stream buffer/);
    expect(() => resolveSmuxConfig({ maxReceiveBuffer: 0 })).toThrow(RangeError);
  });
});

describe('smux session', () => {
  it('clients open odd ids from 3, servers even ids from 2; SYN goes before data', () => {
    const c = new Side('client');
    const s = new Side('server');
    expect([c.s.open(), c.s.open(), c.s.open()]).toEqual([3, 5, 7]);
    expect([s.s.open(), s.s.open()]).toEqual([2, 4]);
    c.s.write(3, Uint8Array.of(1, 2, 3));
    const first = frames(c.s.pull()!)[0]!;
    expect([first.cmd, first.sid]).toEqual([CMD_SYN, 3]);
    const log = exchange(c, s);
    expect(s.accepted).toEqual([5, 7]); // 3's SYN went out above and was not delivered
    expect(c.accepted).toEqual([2, 4]);
    expect(log.filter((l) => l.from === 'a').map((l) => l.f.cmd)).toEqual([CMD_SYN, CMD_SYN, CMD_PSH]);
  });

  for (const version of [1, 2] as const) {
    it(`v${version}: moves data both ways, cut at maxFrameSize, one frame per stream in turn`, () => {
      const c = new Side('client', { version, maxFrameSize: 1000 });
      const s = new Side('server', { version, maxFrameSize: 1000 });
      const a = c.s.open();
      const b = c.s.open();
      const da = bytes(3500, 1);
      const db = bytes(2100, 2);
      c.s.write(a, da);
      c.s.write(b, db);
      const log = exchange(c, s);
      const psh = log.filter((l) => l.from === 'a' && l.f.cmd === CMD_PSH).map((l) => [l.f.sid, l.f.data.length]);
      expect(psh).toEqual([
        [a, 1000],
        [b, 1000],
        [a, 1000],
        [b, 1000],
        [a, 1000],
        [b, 100],
        [a, 500],
      ]);
      expect(toHex(Uint8Array.from(s.received.get(a)!))).toBe(toHex(da));
      expect(toHex(Uint8Array.from(s.received.get(b)!))).toBe(toHex(db));
      const back = bytes(1500, 3);
      s.s.write(a, back);
      exchange(c, s);
      expect(toHex(Uint8Array.from(c.received.get(a)!))).toBe(toHex(back));
      if (version === 1) expect(log.some((l) => l.f.cmd === CMD_UPD)).toBe(false);
    });
  }

  it('half-close: FIN after the queued data, the other way stays open, the stream is forgotten after both FINs', () => {
    const c = new Side('client');
    const s = new Side('server');
    const id = c.s.open();
    c.s.write(id, bytes(100));
    c.s.closeWrite(id);
    expect(() => c.s.write(id, bytes(1))).toThrow(KcpError);
    const log = exchange(c, s);
    expect(log.map((l) => l.f.cmd)).toEqual([CMD_SYN, CMD_PSH, CMD_FIN]);
    expect(s.fins.has(id)).toBe(true);
    expect(s.received.get(id)).toHaveLength(100);
    // the server still writes after the client's FIN, then closes its side
    s.s.write(id, bytes(50, 9));
    s.s.closeWrite(id);
    exchange(c, s);
    expect(c.received.get(id)).toHaveLength(50);
    expect(c.fins.has(id)).toBe(true);
    expect(c.s.has(id)).toBe(false);
    expect(s.s.has(id)).toBe(false);
    expect(c.gone).toEqual([id]);
    expect(s.gone).toEqual([id]);
  });

  it("close (smux's Stream.Close): FIN after queued data, anything arriving later is dropped and frees the buffer", () => {
    const c = new Side('client');
    const s = new Side('server');
    s.autoTake = false;
    const id = c.s.open();
    exchange(c, s);
    c.s.write(id, bytes(64));
    exchange(c, s);
    expect(s.s.buffered).toBe(64);
    s.s.closeStream(id);
    expect(s.s.buffered).toBe(0); // what was not taken goes back to the buffer
    c.s.write(id, bytes(10));
    const log = exchange(c, s);
    expect(log.map((l) => [l.from, l.f.cmd])).toEqual([
      ['a', CMD_PSH],
      ['b', CMD_FIN],
    ]);
    expect(s.s.has(id)).toBe(false);
    expect(s.s.stats.framesDropped).toBe(1);
    expect(c.fins.has(id)).toBe(true);
  });

  it('the receive buffer pauses reading when used up and frees as data is taken', () => {
    const c = new Side('client');
    const s = new Side('server', { maxReceiveBuffer: 4096, maxStreamBuffer: 4096 });
    s.autoTake = false;
    const id = c.s.open();
    c.s.write(id, bytes(5000));
    exchange(c, s);
    expect(s.s.buffered).toBe(5000);
    expect(s.s.readPaused).toBe(true);
    s.takeAll(id);
    expect(s.s.readPaused).toBe(false);
    expect(s.s.buffered).toBe(0);
  });

  it('v2 flow control: the sender stops at the window, the reader opens it with UPD(consumed, window)', () => {
    const c = new Side('client', { version: 2 });
    const s = new Side('server', { version: 2, maxStreamBuffer: 65536 });
    s.autoTake = false;
    const id = c.s.open();
    c.s.write(id, bytes(300_000));
    exchange(c, s);
    // 256 KiB until the peer's first UPD
    expect(s.s.buffered).toBe(262144);
    expect(c.s.queued(id)).toBe(300_000 - 262144);
    expect(c.s.hasOutput).toBe(false);
    // read frame by frame as smux does: the first read, then every half stream buffer (32768),
    // here every frame, sends UPD(consumed, 65536)
    s.takeAll(id);
    let log = exchange(c, s);
    const upds = log.filter((l) => l.f.cmd === CMD_UPD).map((l) => toHex(l.f.data));
    expect(upds).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((k) => toHex(Uint8Array.of(0, (k * 0x80) & 0xff, k >> 1, 0, 0, 0, 1, 0))));
    // window 65536 from consumed 262144: the rest (37856) fits
    expect(log.filter((l) => l.f.cmd === CMD_PSH).reduce((n, l) => n + l.f.data.length, 0)).toBe(37856);
    s.takeAll(id);
    log = exchange(c, s);
    // a 32768-byte frame then 5088: one more UPD, after the first
    expect(log.map((l) => l.f.cmd)).toEqual([CMD_UPD]);
    expect(toHex(log[0]!.f.data)).toBe('00800400' + '00000100');
    expect(s.received.get(id)).toHaveLength(300_000);
  });

  it('keepalive: a NOP each interval; ends with IDLE_TIMEOUT after a silent timeout, not while the buffer is full', () => {
    const s = new Side('server', { keepAliveInterval: 1000, keepAliveTimeout: 3000 }, 0);
    expect(s.s.tick(0)).toBe(1000);
    expect(s.s.pull()).toBeNull();
    expect(s.s.tick(1000)).toBe(2000);
    expect(toHex(s.s.pull()!)).toBe('0103000000000000');
    s.s.tick(2000);
    s.s.input(encodeSmuxFrame(1, CMD_NOP, 0)); // heard something in this period
    expect(s.s.tick(3000)).toBe(4000);
    expect(s.ended).toBeUndefined();
    s.s.tick(6000);
    expect(s.ended).toBeInstanceOf(KcpError);
    expect(s.ended!.code).toBe('IDLE_TIMEOUT');
    expect(s.s.closed).toBe(true);

    // a receive buffer at its limit stops reading: silence then is not the peer's
    const full = new Side('server', { keepAliveInterval: 1000, keepAliveTimeout: 3000, maxReceiveBuffer: 10, maxStreamBuffer: 10 });
    full.autoTake = false;
    full.s.input(encodeSmuxFrame(1, CMD_SYN, 3));
    full.s.input(encodeSmuxFrame(1, CMD_PSH, 3, bytes(20)));
    full.s.tick(3000);
    full.s.tick(6000);
    full.s.tick(9000);
    expect(full.ended).toBeUndefined();
  });

  for (const version of [1, 2] as const) {
    it(`detectVersion: a server takes a v${version} client, answering in its version, with v2 flow control only for v2`, () => {
      const s = new Side('server', { version: 2, detectVersion: true, keepAliveInterval: 1000, keepAliveTimeout: 3000, maxStreamBuffer: 4096 });
      expect(s.s.version).toBe(0);
      // nothing goes out before the peer's first frame: not even a keepalive NOP
      s.s.tick(1000);
      expect(s.s.hasOutput).toBe(false);
      expect(s.s.pull()).toBeNull();
      const c = new Side('client', { version, keepAliveInterval: 1000, keepAliveTimeout: 3000, maxStreamBuffer: 4096 });
      const id = c.s.open();
      c.s.write(id, bytes(10_000, 5));
      const log = exchange(c, s);
      expect(s.s.version).toBe(version);
      expect(s.accepted).toEqual([id]);
      expect(toHex(Uint8Array.from(s.received.get(id)!))).toBe(toHex(bytes(10_000, 5)));
      expect(log.filter((l) => l.from === 'b').every((l) => l.f.version === version)).toBe(true);
      expect(log.some((l) => l.from === 'b' && l.f.cmd === CMD_UPD)).toBe(version === 2);
      s.s.write(id, Uint8Array.of(9));
      exchange(c, s);
      expect(c.received.get(id)).toEqual([9]);
      s.s.tick(2000);
      expect(frames(s.s.pull()!)[0]).toMatchObject({ version, cmd: CMD_NOP });
      expect(c.ended).toBeUndefined();
      expect(s.ended).toBeUndefined();
    });
  }

  it('detectVersion: the first frame fixes the version; a later frame of the other version, or a first frame above the limit, ends the session', () => {
    const s = new Side('server', { version: 2, detectVersion: true });
    s.s.input(encodeSmuxFrame(1, CMD_NOP, 0));
    expect(s.s.version).toBe(1);
    s.s.input(encodeSmuxFrame(2, CMD_SYN, 3));
    expect(s.ended?.code).toBe('SMUX_PROTOCOL');
    const v1only = new Side('server', { version: 1, detectVersion: true });
    v1only.s.input(encodeSmuxFrame(2, CMD_SYN, 3));
    expect(v1only.ended?.code).toBe('SMUX_PROTOCOL');
    expect(v1only.accepted).toEqual([]);
    const zero = new Side('server', { version: 2, detectVersion: true });
    zero.s.input(encodeSmuxFrame(0, CMD_SYN, 3));
    expect(zero.ended?.code).toBe('SMUX_PROTOCOL');
  });

  it('ids run out with SMUX_GOAWAY', () => {
    const c = new Side('client');
    (c.s as unknown as { nextId: number }).nextId = 0xfffffffd;
    expect(c.s.open()).toBe(0xffffffff);
    expect(() => c.s.open()).toThrow(expect.objectContaining({ code: 'SMUX_GOAWAY' }));
    expect(() => c.s.open()).toThrow(expect.objectContaining({ code: 'SMUX_GOAWAY' }));
  });

  it('drops frames for unknown streams, ignores a second SYN and empty PSH as smux does', () => {
    const s = new Side('server');
    s.s.input(encodeSmuxFrame(1, CMD_PSH, 9, bytes(5)));
    s.s.input(encodeSmuxFrame(1, CMD_FIN, 9));
    s.s.input(encodeSmuxFrame(1, CMD_SYN, 3));
    s.s.input(encodeSmuxFrame(1, CMD_SYN, 3));
    s.s.input(encodeSmuxFrame(1, CMD_PSH, 3));
    s.s.input(encodeSmuxFrame(1, CMD_UPD, 3, new Uint8Array(8)));
    expect(s.accepted).toEqual([3]);
    expect(s.s.stats.framesDropped).toBe(2);
    expect(s.received.get(3)).toBeUndefined();
    expect(s.ended).toBeUndefined();
  });

  const bad: Array<[string, Uint8Array]> = [
    ['another version', encodeSmuxFrame(2, CMD_NOP, 0)],
    ['unknown command', encodeSmuxFrame(1, 5, 3)],
    ['UPD of another size', encodeSmuxFrame(1, CMD_UPD, 3, new Uint8Array(4))],
    ['SYN carrying bytes', encodeSmuxFrame(1, CMD_SYN, 3, new Uint8Array(1))],
    ['FIN carrying bytes', encodeSmuxFrame(1, CMD_FIN, 3, new Uint8Array(1))],
    ['NOP carrying bytes', encodeSmuxFrame(1, CMD_NOP, 0, new Uint8Array(2))],
  ];
  for (const [name, frame] of bad) {
    it(`ends with SMUX_PROTOCOL on ${name}, reporting once, never throwing`, () => {
      const s = new Side('server');
      const id = s.s.open();
      expect(() => s.s.input(frame)).not.toThrow();
      expect(s.ended).toBeInstanceOf(KcpError);
      expect(s.ended!.code).toBe('SMUX_PROTOCOL');
      expect(s.s.closed).toBe(true);
      expect(s.gone).toEqual([id]);
      s.s.input(encodeSmuxFrame(1, CMD_SYN, 3)); // ignored after the end
      expect(s.accepted).toEqual([]);
      expect(() => s.s.open()).toThrow(expect.objectContaining({ code: 'SMUX_PROTOCOL' }));
    });
  }

  it('ends with SMUX_PROTOCOL when an UPD acknowledges more than was sent', () => {
    const c = new Side('client', { version: 2 });
    const id = c.s.open();
    c.s.write(id, bytes(10));
    while (c.s.pull());
    const upd = new Uint8Array(8);
    upd[0] = 11;
    upd[4] = 0xff;
    c.s.input(encodeSmuxFrame(2, CMD_UPD, id, upd));
    expect(c.ended?.code).toBe('SMUX_PROTOCOL');
  });

  it('random traffic on many streams arrives intact, in any delivery pieces (fast-check, v1 and v2)', () => {
    checkProperty(
      fc.property(
        fc.constantFrom(1 as const, 2 as const),
        fc.array(fc.record({ stream: fc.nat({ max: 5 }), n: fc.integer({ min: 1, max: 40_000 }), fromClient: fc.boolean() }), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (version, writes, seed) => {
          const cfg = { version, maxStreamBuffer: 32768, maxReceiveBuffer: 1 << 20, maxFrameSize: 5000 };
          const c = new Side('client', cfg);
          const s = new Side('server', cfg);
          const ids = [0, 1, 2, 3, 4, 5].map(() => c.s.open());
          exchange(c, s);
          const prng = new Prng(seed);
          const sent = new Map<string, number[]>();
          for (const w of writes) {
            const id = ids[w.stream]!;
            const d = prng.bytes(w.n);
            (w.fromClient ? c : s).s.write(id, d);
            const k = `${w.fromClient ? 'c' : 's'}${id}`;
            const acc = sent.get(k) ?? [];
            for (const b of d) acc.push(b);
            sent.set(k, acc);
            // deliver a random number of frames, cut into random pieces
            for (let i = prng.int(0, 6); i > 0; i--) {
              const f = c.s.pull();
              if (f) for (let o = 0; o < f.length; ) s.s.input(f.subarray(o, (o += prng.int(1, 3000))));
              const g = s.s.pull();
              if (g) c.s.input(g);
            }
          }
          for (const id of ids) {
            c.s.closeWrite(id);
            s.s.closeWrite(id);
          }
          exchange(c, s);
          for (const id of ids) {
            expect(toHex(Uint8Array.from(s.received.get(id) ?? []))).toBe(toHex(Uint8Array.from(sent.get(`c${id}`) ?? [])));
            expect(toHex(Uint8Array.from(c.received.get(id) ?? []))).toBe(toHex(Uint8Array.from(sent.get(`s${id}`) ?? [])));
          }
          expect(c.s.size).toBe(0);
          expect(s.s.size).toBe(0);
          expect(s.s.buffered).toBe(0);
        }
      ),
      { numRuns: 60 }
    );
  });
});
