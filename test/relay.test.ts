/**
 * The relay (a seeded network emulator) on real loopback sockets: a plain UDP "server" socket
 * behind it and plain client sockets in front, datagrams numbered so each one can be followed.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { relay, type Relay, type RelayOptions } from '../operators/apps/relay.js';
import { virtualLink } from '../operators/testing/virtual-link.js';
import { relayOptions } from '../cli/cli.js';
import { Prng } from '../src/prng.js';
import type { PathOptions, PathStats } from '../src/sim/path.js';
import { pathProfiles } from '../src/sim/profiles.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  s.setRecvBufferSize(4 << 20);
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

async function start(options: Omit<RelayOptions, 'connect'>, server: Socket): Promise<Relay> {
  const r = await relay({ ...options, connect: `127.0.0.1:${server.address().port}` });
  cleanup.push(() => r.close());
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (bounded; the bound is generous, not a speed check). */
async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A datagram carrying its number `n` in its first 4 bytes, `size` bytes long. */
function numbered(n: number, size = 64): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
const numberOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);

/** Records the numbers of the datagrams `s` receives, in arrival order, and who sent them. */
function record(s: Socket): { numbers: number[]; from: Set<number> } {
  const out = { numbers: [] as number[], from: new Set<number>() };
  s.on('message', (msg, rinfo) => {
    out.numbers.push(numberOf(msg));
    out.from.add(rinfo.port);
  });
  return out;
}

/** Sends datagrams 0..count-1 to the relay in small batches (so no kernel buffer overflows). */
async function sendNumbered(client: Socket, r: Relay, count: number, size = 64): Promise<void> {
  for (let i = 0; i < count; i++) {
    client.send(numbered(i, size), r.address.port, '127.0.0.1');
    if (i % 50 === 49) await sleep(1);
  }
}

/** The relay has seen all `count` datagrams and holds none: nothing more will arrive. */
async function settled(r: Relay, count: number, dir: 'up' | 'down' = 'up'): Promise<void> {
  await until(`${count} datagrams through the relay`, () => r.stats[dir].received >= count && r.stats[dir].held === 0);
  await sleep(50); // what was forwarded last is on its way through the loopback
}

/**
 * A scheduler whose clock is set by hand (time-outs still run on the real timers): lets a test
 * place datagrams inside or outside a blackhole window, or hold a queue still, without racing.
 */
function handClock(): SchedulerLike & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    schedule: ((work: never, delay?: number, state?: never) => asyncScheduler.schedule(work, delay, state)) as SchedulerLike['schedule'],
  };
  return c;
}

describe('relay', () => {
  it('loses close to the set fraction, and the same seed and sequence lose the same datagrams', async () => {
    const N = 2000;
    const runs: number[][] = [];
    for (const seed of [42, 42, 43]) {
      const server = await udp();
      const got = record(server);
      const r = await start({ loss: 0.1, seed }, server);
      await sendNumbered(await udp(), r, N);
      await settled(r, N);
      await until('the forwarded datagrams', () => got.numbers.length >= r.stats.up.forwarded);
      const msg = `seed ${seed}`;
      expect(r.stats.up.dropped.loss, msg).toBe(N - got.numbers.length);
      expect(r.stats.up.forwarded, msg).toBe(got.numbers.length);
      // binomial(2000, 0.1): mean 200, sd 13.4; ±6 sd
      expect(r.stats.up.dropped.loss, msg).toBeGreaterThan(200 - 80);
      expect(r.stats.up.dropped.loss, msg).toBeLessThan(200 + 80);
      runs.push(got.numbers);
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).not.toEqual(runs[0]);
  });

  it('Gilbert–Elliott bursts lose datagrams in runs, counted apart from independent loss', async () => {
    const N = 3000;
    const server = await udp();
    const got = record(server);
    // mean burst 1/exit = 5 datagrams, bad about enter/(enter+exit) = 1/6 of the time
    const r = await start({ burst: { enter: 0.04, exit: 0.2 }, seed: 5 }, server);
    await sendNumbered(await udp(), r, N);
    await settled(r, N);
    await until('the forwarded datagrams', () => got.numbers.length >= r.stats.up.forwarded);
    const lost = N - got.numbers.length;
    expect(r.stats.up.dropped.burst).toBe(lost);
    expect(r.stats.up.dropped.loss).toBe(0);
    expect(lost).toBeGreaterThan(N / 6 / 3);
    expect(lost).toBeLessThan((N / 6) * 3);
    // runs of consecutive losses: far longer on average than independent loss would give
    const seen = new Set(got.numbers);
    let runs = 0;
    for (let i = 0; i < N; i++) if (!seen.has(i) && (i === 0 || seen.has(i - 1))) runs++;
    expect(lost / runs).toBeGreaterThan(2.5);
  });

  it('duplicates close to the set fraction: each duplicate arrives twice', async () => {
    const N = 1000;
    const server = await udp();
    const got = record(server);
    const r = await start({ duplicate: 0.2, seed: 9 }, server);
    await sendNumbered(await udp(), r, N);
    await settled(r, N);
    await until('every copy', () => got.numbers.length >= N + r.stats.up.duplicated);
    const counts = new Map<number, number>();
    for (const n of got.numbers) counts.set(n, (counts.get(n) ?? 0) + 1);
    expect(counts.size).toBe(N);
    const twice = [...counts.values()].filter((c) => c === 2).length;
    expect(twice).toBe(r.stats.up.duplicated);
    expect(r.stats.up.forwarded).toBe(N + twice);
    expect(twice).toBeGreaterThan(200 - 75);
    expect(twice).toBeLessThan(200 + 75);
  });

  it('reorders: held datagrams are overtaken by later ones, and all arrive', async () => {
    const N = 400;
    const server = await udp();
    const got = record(server);
    const r = await start({ reorder: 0.2, reorderDelay: 30, seed: 3 }, server);
    const client = await udp();
    for (let i = 0; i < N; i++) {
      client.send(numbered(i), r.address.port, '127.0.0.1');
      await sleep(1); // later ones keep coming while the held ones wait
    }
    await settled(r, N);
    await until('every datagram', () => got.numbers.length >= N);
    expect([...got.numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    let overtaken = 0;
    for (let i = 1; i < got.numbers.length; i++) if (got.numbers[i]! < got.numbers[i - 1]!) overtaken++;
    expect(r.stats.up.reordered).toBeGreaterThan(30);
    expect(overtaken).toBeGreaterThan(0);
  });

  it('delays each direction by at least the set delay', async () => {
    const server = await udp();
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address)); // echo
    const r = await start({ delay: 60, up: { delay: 100 } }, server);
    const client = await udp();
    const rtts: number[] = [];
    client.on('message', () => rtts.push(performance.now() - sent));
    let sent = 0;
    for (let i = 0; i < 3; i++) {
      sent = performance.now();
      client.send(numbered(i), r.address.port, '127.0.0.1');
      await until('the echo', () => rtts.length > i);
    }
    // 100 ms up + 60 ms down; the timers may wake up to 1 ms early against performance.now()
    for (const t of rtts) {
      expect(t).toBeGreaterThanOrEqual(158);
      expect(t).toBeLessThan(10_000);
    }
  });

  it('a blackhole window drops everything, then traffic flows again (scheduled and on demand)', async () => {
    const clock = handClock();
    const server = await udp();
    const got = record(server);
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    const r = await start({ blackhole: { at: 1000, duration: 500 }, scheduler: clock }, server);
    const client = await udp();
    const back = record(client);
    const burst = async (from: number) => {
      for (let i = from; i < from + 20; i++) client.send(numbered(i), r.address.port, '127.0.0.1');
      await settled(r, from + 20);
    };
    await burst(0); // t = 0: before the window
    await until('the echoes', () => back.numbers.length === 20);
    clock.t = 1000; // inside
    await burst(20);
    clock.t = 1499;
    await burst(40);
    clock.t = 1500; // over
    await burst(60);
    await until('the echoes', () => back.numbers.length === 40);
    expect(r.stats.up.dropped.blackhole).toBe(40);
    expect(got.numbers.filter((n) => n >= 20 && n < 60)).toEqual([]);
    expect(back.numbers.filter((n) => n >= 60).length).toBe(20);
    // on demand: both directions, from now for the given time
    clock.t = 5000;
    r.blackhole(300);
    await burst(80);
    expect(r.stats.up.dropped.blackhole).toBe(60);
    clock.t = 5300;
    await burst(100);
    await until('the echoes', () => back.numbers.length === 60);
    expect(back.numbers.filter((n) => n >= 80 && n < 100)).toEqual([]);
    expect(r.stats.down.dropped.blackhole).toBe(0);
  });

  it('an on-demand blackhole also stops the server → client direction', async () => {
    const clock = handClock();
    const server = await udp();
    const peers: { port: number; address: string }[] = [];
    server.on('message', (_m, rinfo) => peers.push(rinfo));
    const r = await start({ scheduler: clock }, server);
    const client = await udp();
    const back = record(client);
    client.send(numbered(0), r.address.port, '127.0.0.1');
    await until('the first datagram', () => peers.length === 1);
    r.blackhole(100);
    for (let i = 0; i < 10; i++) server.send(numbered(i), peers[0]!.port, peers[0]!.address);
    await settled(r, 10, 'down');
    expect(r.stats.down.dropped.blackhole).toBe(10);
    clock.t = 100;
    for (let i = 10; i < 20; i++) server.send(numbered(i), peers[0]!.port, peers[0]!.address);
    await settled(r, 20, 'down');
    await until('the replies after the window', () => back.numbers.length === 10);
    expect(back.numbers).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
  });

  it('a bandwidth cap queues up to `queue` bytes and drops (and counts) the rest', async () => {
    const clock = handClock();
    const server = await udp();
    const got = record(server);
    // 10,000 B/s, 5,000 bytes of queue: 1,000-byte datagrams arriving at once: the one on the
    // wire, then four waiting (4,000 bytes), then a fifth would make 6,000 > 5,000
    const r = await start({ bandwidth: 10_000, queue: 5000, scheduler: clock }, server);
    await sendNumbered(await udp(), r, 50, 1000);
    await until('50 datagrams at the relay', () => r.stats.up.received === 50);
    expect(r.stats.up.dropped.queue).toBe(45);
    expect(r.stats.up.held).toBe(5);
    clock.t = 250; // the first two have been serialised (100 ms each)
    await until('two sent on', () => r.stats.up.forwarded === 2);
    expect(r.stats.up.held).toBe(3);
    clock.t = 10_000;
    await settled(r, 50);
    await until('the forwarded', () => got.numbers.length === 5);
    expect(got.numbers).toEqual([0, 1, 2, 3, 4]);
    expect(r.stats.up.dropped.total).toBe(45);
  });

  it('gives each client address its own upstream port, and routes the replies back to the right client', async () => {
    const server = await udp();
    const ports = new Set<number>();
    server.on('message', (msg, rinfo) => {
      ports.add(rinfo.port);
      server.send(msg, rinfo.port, rinfo.address);
    });
    const r = await start({}, server);
    const clients = await Promise.all([udp(), udp(), udp()]);
    const heard = clients.map((c) => record(c));
    for (let round = 0; round < 5; round++) {
      clients.forEach((c, k) => c.send(numbered(k * 100 + round), r.address.port, '127.0.0.1'));
      await sleep(2);
    }
    await until('every echo', () => heard.every((h) => h.numbers.length === 5));
    expect(ports.size).toBe(3);
    expect(r.stats.clients).toBe(3);
    expect(new Set(r.mappings.values())).toEqual(ports);
    heard.forEach((h, k) => expect(h.numbers.every((n) => Math.floor(n / 100) === k)).toBe(true));
    const clientPorts = clients.map((c) => c.address().port);
    for (const c of clientPorts) expect(ports.has(c)).toBe(false);
  });

  it('relays over IPv6 loopback', async () => {
    const server = createSocket('udp6');
    await new Promise<void>((r) => server.bind(0, '::1', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    const r = await relay({ listen: '[::1]:0', connect: `[::1]:${server.address().port}` });
    cleanup.push(() => r.close());
    expect(r.address.address).toBe('::1');
    const client = createSocket('udp6');
    await new Promise<void>((res) => client.bind(0, '::1', res));
    cleanup.push(() => new Promise<void>((res) => client.close(() => res())));
    const back = record(client);
    for (let i = 0; i < 5; i++) client.send(numbered(i), r.address.port, '::1');
    await until('the echoes', () => back.numbers.length === 5);
    expect(back.numbers).toEqual([0, 1, 2, 3, 4]);
  });

  it('a held datagram is a copy: the sender reusing its buffer does not change it', async () => {
    const server = await udp();
    const got = record(server);
    const r = await start({ delay: 20 }, server);
    const client = await udp();
    const buf = Buffer.from(numbered(7));
    client.send(buf, r.address.port, '127.0.0.1');
    client.send(numbered(8), r.address.port, '127.0.0.1');
    await settled(r, 2);
    await until('both', () => got.numbers.length === 2);
    expect(got.numbers).toEqual([7, 8]);
  });

  it('checks options when called: bad ones throw at once, before any socket exists', () => {
    const connect = '127.0.0.1:9';
    expect(() => relay({ connect, loss: 1.5 })).toThrow(RangeError);
    expect(() => relay({ connect, loss: -0.1 })).toThrow(RangeError);
    expect(() => relay({ connect, duplicate: 2 })).toThrow(RangeError);
    expect(() => relay({ connect, reorder: Number.NaN })).toThrow(RangeError);
    expect(() => relay({ connect, delay: -1 })).toThrow(RangeError);
    expect(() => relay({ connect, jitter: Infinity })).toThrow(RangeError);
    expect(() => relay({ connect, bandwidth: -5 })).toThrow(RangeError);
    expect(() => relay({ connect, queue: 0 })).toThrow(RangeError);
    expect(() => relay({ connect, burst: { enter: 1.1, exit: 0.5 } })).toThrow(RangeError);
    expect(() => relay({ connect, burst: { enter: 0.1 } as never })).toThrow(RangeError);
    expect(() => relay({ connect, blackhole: { at: -1, duration: 5 } })).toThrow(RangeError);
    expect(() => relay({ connect, up: { loss: 3 } })).toThrow(/up\.loss/);
    expect(() => relay({ connect, down: { duplicate: 3 } })).toThrow(/down\.duplicate/);
    expect(() => relay({ connect, seed: 1.5 })).toThrow(TypeError);
    expect(() => relay({ connect: 'nowhere' })).toThrow(TypeError);
    expect(() => relay({ connect: '127.0.0.1:0' })).toThrow(RangeError);
    expect(() => relay({} as never)).toThrow(TypeError);
  });

  it('decides as virtualLink does for the same path and seed: the same datagrams, copies, order and times', async () => {
    // a profile with every kind of decision: a drop-tail bottleneck the datagrams below overrun
    // (about 2 MB/s into 1 MB/s with a 40 kB queue), bursty loss, jitter, duplication, reordering;
    // a delay longer than the sending takes, so every delivery happens after the last send
    const path: PathOptions = { ...pathProfiles.mobile.path, delay: 200, duplicate: 0.05, reorder: 0.05 };
    const seed = 11;
    const prng = new Prng(5);
    const plan = Array.from({ length: 300 }, (_, i) => ({ n: i, size: 40 + prng.int(0, 1300), at: Math.floor(i * 0.35) }));

    // the virtual link, in virtual time: (number, time) of every delivery, and its counters
    const virtual: [number, number][] = [];
    let stats: PathStats | undefined;
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ flush }) => {
      const ts = asyncScheduler; // inside run(), asyncScheduler is the virtual one
      const input = new Subject<Uint8Array>();
      input.pipe(virtualLink({ ...path, seed, scheduler: ts, onLink: (l) => (stats = l.path.stats) })).subscribe((d) => virtual.push([numberOf(d), ts.now()]));
      for (const p of plan) ts.schedule(() => input.next(numbered(p.n, p.size)), p.at);
      flush();
    });

    // the relay on real sockets, its clock set by hand to each datagram's time as it is sent
    const clock = handClock();
    const server = await udp();
    const got: [number, number][] = [];
    server.on('message', (msg) => got.push([numberOf(msg), clock.t]));
    const r = await start({ ...path, seed, scheduler: clock }, server);
    const client = await udp();
    for (const p of plan) {
      clock.t = p.at;
      client.send(numbered(p.n, p.size), r.address.port, '127.0.0.1');
      await until(`datagram ${p.n} at the relay`, () => r.stats.up.received === p.n + 1);
    }
    // then step the clock through each delivery time of the virtual run: exactly the datagrams
    // due by then arrive, no more
    const times = [...new Set(virtual.map(([, t]) => t))].sort((a, b) => a - b);
    for (const t of times) {
      if (t < clock.t) continue;
      clock.t = t;
      const due = virtual.filter(([, at]) => at <= t).length;
      await until(`the ${due} copies due by ${t} ms`, () => got.length >= due);
    }
    await sleep(50);
    expect(stats!.dropped.queue).toBeGreaterThan(10);
    expect(stats!.dropped.burst + stats!.dropped.queue).toBeGreaterThan(0);
    expect(stats!.duplicated).toBeGreaterThan(0);
    expect(stats!.reordered).toBeGreaterThan(0);
    expect(virtual[0]![1]).toBeGreaterThan(plan.at(-1)!.at);
    expect(got).toEqual(virtual);
    expect(r.stats.up.dropped).toEqual({ ...stats!.dropped, blackhole: 0 });
    expect(r.stats.up.duplicated).toBe(stats!.duplicated);
    expect(r.stats.up.reordered).toBe(stats!.reordered);
    expect(r.stats.up.queueMax).toBe(stats!.queueMax);
    expect(r.stats.up.forwarded).toBe(stats!.delivered);
  });

  it('blackhole(ms) checks its argument', async () => {
    const r = await start({}, await udp());
    expect(() => r.blackhole(-1)).toThrow(RangeError);
    expect(() => r.blackhole(Number.NaN)).toThrow(RangeError);
  });
});

describe('rxkcp relay (the command)', () => {
  const cli = fileURLToPath(new URL('../cli/cli.ts', import.meta.url));
  const root = fileURLToPath(new URL('..', import.meta.url));

  function run(args: string[]) {
    const proc = spawn(process.execPath, ['--import', 'tsx', cli, 'relay', ...args], { cwd: root, stdio: 'pipe' });
    cleanup.push(() => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const lines = () => out.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { proc, exited, lines, out: () => out, err: () => err };
  }

  it('prints a ready line, relays, and at SIGTERM prints the counters as JSON and exits 0', async () => {
    const server = await udp();
    const got = record(server);
    const p = run(['--connect', `127.0.0.1:${server.address().port}`, '--loss', '0.25', '--duplicate', '0.1', '--seed', '11', '--json']);
    await until('the ready line', () => p.lines().length > 0, 30_000);
    const ready = p.lines()[0]!;
    expect(ready.ready).toBe(true);
    const port = Number(String(ready.addr).split(':')[1]);
    const client = await udp();
    for (let i = 0; i < 400; i++) {
      client.send(numbered(i), port, '127.0.0.1');
      if (i % 50 === 49) await sleep(1);
    }
    await sleep(300);
    p.proc.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const final = p.lines().find((l) => l.final === true) as { seed: number; stats: { up: { received: number; forwarded: number; duplicated: number; dropped: { loss: number } }; clients: number } };
    expect(final, p.err()).toBeDefined();
    expect(final.seed).toBe(11);
    expect(final.stats.up.received).toBe(400);
    expect(final.stats.up.forwarded).toBe(got.numbers.length);
    expect(final.stats.up.forwarded).toBe(400 - final.stats.up.dropped.loss + final.stats.up.duplicated);
    expect(final.stats.up.dropped.loss).toBeGreaterThan(40);
    expect(final.stats.up.duplicated).toBeGreaterThan(0);
    expect(final.stats.clients).toBe(1);
  });

  it('--profile NAME sets each direction to that path; the other flags replace its fields; an unknown name is a usage error', async () => {
    const o = relayOptions({ connect: '127.0.0.1:9', profile: 'mobile', loss: '0.02', queue: '5000' });
    expect(o).toMatchObject({ ...pathProfiles.mobile.path, loss: 0.02, queue: 5000 });
    expect(o.burst).toEqual(pathProfiles.mobile.path.burst);
    expect(() => relayOptions({ connect: '127.0.0.1:9', profile: 'moon' })).toThrow(/--profile must be one of datacenter/);
    const bad = run(['--connect', '127.0.0.1:9', '--profile', 'moon']);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toMatch(/--profile must be one of/);
  });

  it('--duration ends it with a readable table; a bad flag is a usage error', async () => {
    const p = run(['--connect', '127.0.0.1:9', '--up-loss', '0.5', '--duration', '300']);
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/"ready":true/);
    expect(p.out()).toMatch(/dropped: loss/);
    const bad = run(['--connect', '127.0.0.1:9', '--loss', '1.5']);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toMatch(/loss must be a probability/);
  });
});
