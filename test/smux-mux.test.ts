/**
 * The Mux operator over an in-memory byte pipe on virtual time: streams both ways, half-close,
 * back-pressure, keepalive, and a mux ended by bad bytes, plain and under snappy framing.
 */
import { Observable, Subject, take, VirtualAction, VirtualTimeScheduler, type Subscriber } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { KcpError } from '../src/errors.js';
import { Prng } from '../src/prng.js';
import { encodeSmuxFrame, CMD_PSH, CMD_SYN } from '../src/smux/frame.js';
import { Mux, type ByteDuplex, type MuxOptions, type MuxStream } from '../operators/conversation/mux.js';
import { compressDuplex } from '../operators/layers/snappy.js';
import { toHex } from '../src/wire/bytes.js';

/** One end of an in-memory pipe: writes arrive at the other end `latency` ms later; at most `capacity` bytes in flight. */
class PipeEnd implements ByteDuplex {
  peer!: PipeEnd;
  inbound: Uint8Array[] = [];
  reader: Subscriber<Uint8Array> | null = null;
  inFlight = 0;
  blocked = false;
  closedFlag = false;
  written = 0;
  readonly drained = new Subject<void>();
  constructor(
    readonly scheduler: VirtualTimeScheduler,
    readonly capacity: number,
    readonly latency = 1
  ) {}
  get data$(): Observable<Uint8Array> {
    return new Observable<Uint8Array>((s) => {
      if (this.reader) throw new Error('second reader');
      this.reader = s;
      this.flushInbound();
      if (this.closedFlag) s.complete();
      return () => {
        if (this.reader === s) this.reader = null;
      };
    });
  }
  get writable$(): Observable<void> {
    return this.drained.asObservable();
  }
  write(data: Uint8Array): boolean {
    if (this.closedFlag) throw new KcpError('CLOSED', 'pipe closed');
    if (this.inFlight >= this.capacity) {
      this.blocked = true;
      return false;
    }
    this.inFlight += data.length;
    this.written += data.length;
    const copy = data.slice();
    this.scheduler.schedule(() => {
      this.peer.inbound.push(copy);
      this.peer.flushInbound();
    }, this.latency);
    return true;
  }
  /** the reader took `n` bytes of what this end's peer wrote */
  consumed(n: number): void {
    this.inFlight -= n;
    if (this.blocked && this.inFlight < this.capacity) {
      this.blocked = false;
      this.drained.next();
    }
  }
  flushInbound(): void {
    while (this.inbound.length > 0 && this.reader && !this.reader.closed) {
      const d = this.inbound.shift()!;
      this.peer.consumed(d.length);
      this.reader.next(d);
    }
  }
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.reader?.complete();
  }
}

function pipe(scheduler: VirtualTimeScheduler, capacity = 1 << 20): [PipeEnd, PipeEnd] {
  const a = new PipeEnd(scheduler, capacity);
  const b = new PipeEnd(scheduler, capacity);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

function setup(opts: Partial<MuxOptions> & { compress?: boolean; capacity?: number } = {}) {
  const scheduler = new VirtualTimeScheduler(VirtualAction, 600_000);
  const [a, b] = pipe(scheduler, opts.capacity);
  const { compress, capacity: _c, ...rest } = opts;
  const ta: ByteDuplex = compress ? compressDuplex(a) : a;
  const tb: ByteDuplex = compress ? compressDuplex(b) : b;
  const client = new Mux(ta, { keepAliveDisabled: true, ...rest, side: 'client', scheduler });
  const server = new Mux(tb, { keepAliveDisabled: true, ...rest, side: 'server', scheduler });
  return { scheduler, a, b, client, server };
}

/** Writes all of `data` to a stream in `chunk`-byte writes, honouring back-pressure; then end() unless told not to. */
function writeAll(s: MuxStream, data: Uint8Array, chunk = 10_000, end = true): void {
  let off = 0;
  const go = (): void => {
    while (off < data.length) {
      if (!s.write(data.subarray(off, Math.min(data.length, off + chunk)))) {
        const sub = s.writable$.subscribe(() => {
          sub.unsubscribe();
          go();
        });
        return;
      }
      off += chunk;
    }
    if (end) s.end();
  };
  go();
}

function collect(s: MuxStream): { bytes: number[]; done: boolean; error: unknown } {
  const r = { bytes: [] as number[], done: false, error: undefined as unknown };
  s.data$.subscribe({
    next: (d) => {
      for (const x of d) r.bytes.push(x);
    },
    complete: () => (r.done = true),
    error: (e: unknown) => (r.error = e),
  });
  return r;
}

/** Echoes a stream back to itself with back-pressure, half-closing when the peer's FIN arrives. */
function echo(s: MuxStream): void {
  const backlog: Uint8Array[] = [];
  let ended = false;
  const flush = (): void => {
    while (backlog.length > 0) {
      if (!s.write(backlog[0]!)) {
        const sub = s.writable$.subscribe(() => {
          sub.unsubscribe();
          flush();
        });
        return;
      }
      backlog.shift();
    }
    if (ended) s.end();
  };
  s.data$.subscribe({
    next: (d) => {
      backlog.push(d);
      if (backlog.length === 1) flush();
    },
    complete: () => {
      ended = true;
      if (backlog.length === 0) s.end();
    },
  });
}

const hex = (b: number[] | Uint8Array) => toHex(Uint8Array.from(b));

describe('Mux over a byte pipe', () => {
  for (const version of [1, 2] as const)
    for (const compress of [false, true])
      it(`v${version}${compress ? ' + snappy' : ''}: 20 streams echoed concurrently, byte-exact, FIN both ways, nothing left open`, () => {
        // a small pipe under snappy: the compressing writer holds refused frames
        const { scheduler, client, server, a } = setup({ version, compress, maxStreamBuffer: 65536, capacity: compress ? 30_000 : 1 << 20 });
        server.streams$.subscribe(echo);
        const prng = new Prng(version * 10 + Number(compress));
        const runs = Array.from({ length: 20 }, (_, i) => {
          const data = prng.bytes(prng.int(1, 120_000));
          if (i % 2 === 0) data.fill(i); // some compressible
          const s = client.open();
          const got = collect(s);
          writeAll(s, data, prng.int(100, 40_000));
          return { s, data, got };
        });
        scheduler.flush();
        for (const r of runs) {
          expect(r.got.error).toBeUndefined();
          expect(r.got.done).toBe(true);
          expect(r.got.bytes.length).toBe(r.data.length);
          expect(hex(r.got.bytes)).toBe(hex(r.data));
          expect(r.s.closed).toBe(true);
        }
        expect(client.size).toBe(0);
        expect(server.size).toBe(0);
        expect(client.session.size).toBe(0);
        expect(server.session.buffered).toBe(0);
        if (compress) expect(a.written).toBeLessThan(runs.reduce((n, r) => n + r.data.length, 0)); // some of it compressed
      });

  it('half-close: the client sends and ends; the server answers after the FIN, then ends', () => {
    const { scheduler, client, server } = setup({ version: 2 });
    const req = new TextEncoder().encode('request');
    let heard = '';
    server.streams$.subscribe((s) => {
      s.data$.subscribe({
        next: (d) => (heard += new TextDecoder().decode(d)),
        complete: () => {
          // the client's side is closed; the server's is not
          s.write(new TextEncoder().encode(`reply to ${heard}`));
          s.end();
        },
      });
    });
    const s = client.open();
    const got = collect(s);
    s.write(req);
    s.end();
    expect(() => s.write(req)).toThrow(KcpError);
    scheduler.flush();
    expect(new TextDecoder().decode(Uint8Array.from(got.bytes))).toBe('reply to request');
    expect(got.done).toBe(true);
    expect(s.closed).toBe(true);
  });

  it('close (as smux Close): the peer sees the end, later data to the closed stream is dropped', () => {
    const { scheduler, client, server } = setup();
    let serverStream: MuxStream | undefined;
    server.streams$.subscribe((s) => (serverStream = s));
    const s = client.open();
    const got = collect(s);
    scheduler.flush();
    s.close();
    serverStream!.write(new Uint8Array(100));
    scheduler.flush();
    expect(got.done).toBe(true);
    expect(got.bytes).toHaveLength(0);
    const serverGot = collect(serverStream!);
    scheduler.flush();
    expect(serverGot.done).toBe(true); // the client's FIN
    expect(client.session.stats.framesDropped).toBe(1);
  });

  it('v2: a stream nobody reads holds its writer at the window, and other streams still flow', () => {
    const { scheduler, client, server } = setup({ version: 2, maxStreamBuffer: 65536, maxReceiveBuffer: 4 << 20 });
    const accepted: MuxStream[] = [];
    server.streams$.subscribe((s) => accepted.push(s));
    const slow = client.open();
    const fast = client.open();
    writeAll(slow, new Uint8Array(1 << 20), 16384, false);
    const fastData = new Prng(3).bytes(2 << 20);
    writeAll(fast, fastData);
    scheduler.flush();
    const fastGot = collect(accepted[1]!);
    scheduler.flush();
    expect(hex(fastGot.bytes)).toBe(hex(fastData));
    // the unread stream: at most the initial 256 KiB window in the server, the rest queued at the client
    expect(server.session.buffered).toBe(262144);
    expect(client.session.queued(slow.id)).toBeGreaterThan(0);
    expect(slow.writable).toBe(false);
    const slowGot = collect(accepted[0]!);
    scheduler.flush();
    expect(slowGot.bytes.length).toBe(1 << 20);
  });

  it('v1: when the receive buffer is used up the mux stops reading the transport, and resumes as data is taken', () => {
    const { scheduler, b, client, server } = setup({ version: 1, maxReceiveBuffer: 100_000, maxStreamBuffer: 65536, capacity: 50_000 });
    const accepted: MuxStream[] = [];
    server.streams$.subscribe((s) => accepted.push(s));
    const s = client.open();
    const data = new Prng(5).bytes(1_000_000);
    writeAll(s, data, 5000);
    scheduler.flush();
    expect(server.session.readPaused).toBe(true);
    expect(server.session.buffered).toBeLessThan(100_000 + 50_000);
    expect(b.reader).toBeNull(); // not reading
    const got = collect(accepted[0]!);
    scheduler.flush();
    expect(got.done).toBe(true);
    expect(hex(got.bytes)).toBe(hex(data));
  });

  it('snappy: a receive buffer that fills in the middle of a chunk loses nothing', () => {
    const { scheduler, client, server } = setup({ version: 1, compress: true, maxReceiveBuffer: 40_000, maxStreamBuffer: 40_000, maxFrameSize: 1000 });
    const accepted: MuxStream[] = [];
    server.streams$.subscribe((s) => accepted.push(s));
    const s = client.open();
    const data = new Prng(9).bytes(300_000);
    writeAll(s, data, 60_000); // many frames per transport chunk
    scheduler.flush();
    expect(server.session.readPaused).toBe(true);
    // read slowly: take a bit, let time pass, again
    const got: number[] = [];
    let done = false;
    for (let i = 0; i < 10_000 && !done; i++) {
      let value = false;
      accepted[0]!.data$.pipe(take(1)).subscribe({
        next: (d) => {
          value = true;
          for (const x of d) got.push(x);
        },
        complete: () => (done ||= !value),
      });
      scheduler.flush();
    }
    expect(done).toBe(true);
    expect(hex(got)).toBe(hex(data));
  });

  it('keepalive: NOPs keep an idle mux up; a silent peer ends it with IDLE_TIMEOUT and its streams end (complete, not error)', () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, 200_000);
    const [a, b] = pipe(scheduler);
    const client = new Mux(a, { side: 'client', scheduler, keepAliveInterval: 10_000, keepAliveTimeout: 30_000 });
    const server = new Mux(b, { side: 'server', scheduler, keepAliveInterval: 10_000, keepAliveTimeout: 30_000 });
    let clientEnd: KcpError | null | undefined;
    client.ended$.subscribe((e) => (clientEnd = e));
    const s = client.open();
    const got = collect(s);
    scheduler.flush(); // 200 s of virtual time, both alive
    expect(clientEnd).toBeUndefined();
    expect(server.stats.nopsIn).toBeGreaterThanOrEqual(19);
    // the server goes silent (its mux closes without telling anyone)
    server.session.close();
    scheduler.maxFrames = 300_000; // 100 s more
    scheduler.flush();
    expect(clientEnd).toBeInstanceOf(KcpError);
    expect(clientEnd!.code).toBe('IDLE_TIMEOUT');
    expect(got.error).toBeUndefined(); // a peer's silence is no local fault
    expect(got.done).toBe(true);
    expect(a.closedFlag).toBe(true);
    expect(() => client.open()).toThrow(KcpError);
  });

  for (const compress of [false, true])
    it(`bad bytes from the peer end the mux with a typed error (${compress ? 'SNAPPY_CORRUPT' : 'SMUX_PROTOCOL'}) and complete its streams, never a throw`, () => {
      const scheduler = new VirtualTimeScheduler(VirtualAction, 10_000);
      const [a, b] = pipe(scheduler);
      const server = new Mux(compress ? compressDuplex(b) : b, { side: 'server', scheduler, keepAliveDisabled: true });
      let end: KcpError | null | undefined;
      server.ended$.subscribe((e) => (end = e));
      const accepted: MuxStream[] = [];
      server.streams$.subscribe((s) => accepted.push(s));
      // a valid stream first (through a compressing writer when the server expects one)
      const w = compress ? compressDuplex(a) : a;
      w.write(encodeSmuxFrame(1, CMD_SYN, 3));
      scheduler.flush();
      const got = collect(accepted[0]!);
      a.write(compress ? Uint8Array.of(0x03, 0, 0, 0) : encodeSmuxFrame(1, 9, 3)); // reserved snappy chunk / unknown smux command
      w.write(encodeSmuxFrame(1, CMD_PSH, 3, new Uint8Array(5))); // never read
      expect(() => scheduler.flush()).not.toThrow();
      expect(end?.code).toBe(compress ? 'SNAPPY_CORRUPT' : 'SMUX_PROTOCOL');
      expect(got.error).toBeUndefined(); // what a peer sends never errors a stream an application holds
      expect(got.done).toBe(true);
      expect(b.closedFlag).toBe(true);
      expect(server.closed).toBe(true);
    });

  it('the transport ending ends the mux (SOCKET_CLOSED) and completes its streams', () => {
    const { scheduler, a, client } = setup();
    const s = client.open();
    const got = collect(s);
    scheduler.flush();
    a.close();
    expect(client.closed).toBe(true);
    expect(got.error).toBeUndefined();
    expect(got.done).toBe(true);
    expect(s.closed).toBe(true);
  });
});
