/**
 * Worker listeners on real sockets: clients from many ports spread over the workers, each session
 * served by one worker from its first datagram to its last, byte-exact echo through every worker,
 * a worker that exits mid-transfer (its sessions end, the others go on, its replacement serves new
 * sessions), and `close()` while sessions are active. They need dgram `reusePort` (Linux, Node
 * 22.12+): on an older Node they skip, saying so (CI fails on a skipped test).
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter } from 'rxjs';
import { dial } from '../operators/transport/dial.js';
import type { Session } from '../operators/transport/session.js';
import { listenWorkers, reusePortAvailable, type WorkerEvent, type WorkerListener } from '../operators/transport/workers.js';
import { KcpError } from '../src/errors.js';

const supported = reusePortAvailable();
const need = `dgram reusePort (Linux, Node >= 22.12); this is ${process.platform}, Node ${process.versions.node}: run npm test, which runs a supported Node`;
const handler = new URL('./helpers/workers-handler.ts', import.meta.url);
const options = { listen: '127.0.0.1:0', crypt: 'aes', key: 'workers', mode: 'fast3', idleTimeout: 30_000 } as const;
const sessionOptions = { crypt: 'aes', key: 'workers', mode: 'fast3' } as const;

const open: { listener?: WorkerListener; sessions: Session[] } = { sessions: [] };
afterEach(async () => {
  for (const s of open.sessions) s.close();
  open.sessions = [];
  await open.listener?.close();
  open.listener = undefined;
});

async function start(workers: number): Promise<WorkerListener> {
  open.listener = await listenWorkers({ ...options, workers, handler });
  return open.listener;
}

/** A client: a dialled session (its own socket, so its own port) that collects what comes back. */
class Client {
  received: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly session: Session) {
    session.data$.subscribe({
      next: (m) => {
        this.received.push(m);
        for (const w of this.waiters.splice(0)) w();
      },
      error: () => {},
    });
  }

  static async dial(port: number): Promise<Client> {
    const session = await dial({ connect: `127.0.0.1:${port}`, ...sessionOptions });
    open.sessions.push(session);
    return new Client(session);
  }

  get bytes(): number {
    return this.received.reduce((n, m) => n + m.length, 0);
  }

  /** Resolves once `n` bytes have come back in all (or rejects after `ms`). */
  async until(n: number, ms = 20_000): Promise<Uint8Array> {
    const deadline = Date.now() + ms;
    while (this.bytes < n) {
      if (Date.now() > deadline) throw new Error(`got ${this.bytes} of ${n} bytes back in ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return concat(this.received);
  }

  /** Which worker serves this session (the test handler answers `whoami`). */
  async whoami(): Promise<number> {
    const before = this.bytes;
    await this.session.send(new TextEncoder().encode('whoami'));
    const all = await this.until(before + 'worker N'.length);
    const answer = new TextDecoder().decode(all.subarray(before));
    expect(answer).toMatch(/^worker \d$/);
    return Number(answer.slice(7));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, m) => n + m.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

/** Bytes no two clients share: client `c`'s byte `i`. */
function pattern(c: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + c * 13 + (i >> 8)) & 0xff;
  return out;
}

/** Sends `n` pattern bytes in 4 KiB messages and checks they all come back, byte for byte, after what came before. */
async function echoes(client: Client, c: number, n: number): Promise<void> {
  const before = client.bytes;
  const data = pattern(c, n);
  for (let o = 0; o < n; o += 4096) await client.session.send(data.subarray(o, o + 4096));
  const all = await client.until(before + n);
  expect(all.length).toBe(before + n);
  expect(Buffer.from(all.subarray(before)).equals(Buffer.from(data))).toBe(true);
}

async function dialMany(port: number, n: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: n }, () => Client.dial(port)));
}

if (!supported) console.warn(`test/workers.test.ts: the worker-listener tests skip: they need ${need}`);

describe.skipIf(!supported)('worker listeners on real sockets', () => {
  it('spreads clients from many ports over the workers, each session on one worker from first datagram to last, echo byte-exact through every worker', async () => {
    const l = await start(2);
    const clients = await dialMany(l.address.port, 24);
    const first = await Promise.all(clients.map((c) => c.whoami()));
    expect(new Set(first)).toEqual(new Set([0, 1])); // 24 clients on one of 2 workers: chance 2^-23
    await Promise.all(clients.map((c, i) => echoes(c, i, 64 * 1024)));
    const last = await Promise.all(clients.map((c) => c.whoami()));
    expect(last).toEqual(first);
    const st = await l.stats();
    expect(st.workers.map((w) => w.worker)).toEqual([0, 1]);
    for (const w of st.workers) {
      expect(w.counters.sessions).toBe(first.filter((x) => x === w.worker).length);
      expect(w.sessions).toBe(w.counters.sessions);
    }
    // every session opened once, on its worker, and nothing strayed or was reset
    expect(st.total.counters.sessions).toBe(24);
    expect(st.total.snmp.PassiveOpens).toBe(24);
    expect(st.total.sessions).toBe(24);
    expect(st.total.snmp.StrayPkts).toBe(0);
    expect(st.total.snmp.LatePkts).toBe(0);
    expect(st.total.snmp.SessionsRefused).toBe(0);
    expect(st.total.snmp.InCsumErrors).toBe(0);
    expect(st.total.counters.bytes).toBe(24 * (64 * 1024 + 2 * 'whoami'.length));
    expect(st.total.snmp.BytesReceived).toBe(st.total.counters.bytes);
  });

  it('replaces a worker that exits mid-transfer: its sessions end, the other worker goes on, the replacement serves new sessions', async () => {
    const l = await start(2);
    const events: WorkerEvent[] = [];
    l.events$.subscribe((e) => events.push(e));
    const clients = await dialMany(l.address.port, 16);
    const on = await Promise.all(clients.map((c) => c.whoami()));
    // worker 0 holds the first socket bound: when it goes, the kernel rehashes worker 1's clients
    const victim = 0;
    const doomed = clients.filter((_, i) => on[i] === victim);
    const survivors = clients.filter((_, i) => on[i] !== victim);
    expect(doomed.length).toBeGreaterThan(0);
    expect(survivors.length).toBeGreaterThan(0);
    // every client is mid-transfer when the worker goes (the first of its clients ends it)
    const [killer, ...cut] = doomed;
    expect(cut.length).toBeGreaterThan(0);
    const transfers = survivors.map((c) => echoes(c, clients.indexOf(c), 256 * 1024));
    const doomedBefore = cut.map((c) => c.bytes);
    for (const c of cut) void c.session.send(pattern(1, 1024 * 1024)).catch(() => {});
    const replaced = firstValueFrom(l.events$.pipe(filter((e) => e.type === 'online' && e.worker === victim)));
    void killer!.session.send(new TextEncoder().encode('die'));
    await replaced;
    const exit = events.find((e) => e.type === 'exit');
    expect(exit).toMatchObject({ type: 'exit', worker: victim, code: 3 });
    await Promise.all(transfers);
    // the survivors go on, on their worker, through and after the replacement
    await Promise.all(survivors.map((c) => echoes(c, clients.indexOf(c), 64 * 1024)));
    expect(await Promise.all(survivors.map((c) => c.whoami()))).toEqual(survivors.map(() => 1 - victim));
    // the sessions of the worker that exited are gone, cut mid-transfer: nothing more comes back
    const got = cut.map((c) => c.bytes);
    expect(got.some((n, i) => n < doomedBefore[i]! + 1024 * 1024)).toBe(true);
    for (const c of cut) void c.session.send(new TextEncoder().encode('whoami')).catch(() => {});
    await new Promise((r) => setTimeout(r, 1000));
    expect(cut.map((c) => c.bytes)).toEqual(got);
    // new sessions reach the replacement
    let served = false;
    for (let i = 0; i < 8 && !served; i++) {
      const fresh = await dialMany(l.address.port, 8);
      const where = await Promise.all(fresh.map((c) => c.whoami()));
      const mine = fresh.filter((_, j) => where[j] === victim);
      for (const c of mine) await echoes(c, 99, 32 * 1024);
      served = mine.length > 0;
    }
    expect(served).toBe(true);
    const st = await l.stats();
    expect(st.workers.map((w) => w.worker)).toEqual([0, 1]);
    expect(st.workers[victim]!.threadId).not.toBe(exit!.threadId);
  });

  it('the summed counters keep what a worker that exited had counted, to its last datagram', async () => {
    const l = await start(2);
    const clients = await dialMany(l.address.port, 16);
    const on = await Promise.all(clients.map((c) => c.whoami()));
    const victim = 0;
    const doomed = clients.filter((_, i) => on[i] === victim);
    expect(doomed.length).toBeGreaterThan(0);
    expect(doomed.length).toBeLessThan(clients.length);
    await Promise.all(clients.map((c, i) => echoes(c, i, 16 * 1024)));
    const replaced = firstValueFrom(l.events$.pipe(filter((e) => e.type === 'online' && e.worker === victim)));
    void doomed[0]!.session.send(new TextEncoder().encode('die')); // counted, then the worker exits
    await replaced;
    const st = await l.stats();
    // every byte every client sent reached a worker and was counted there: the victim's too
    const sent = clients.length * ('whoami'.length + 16 * 1024) + 'die'.length;
    expect(st.total.counters.bytes).toBe(sent);
    expect(st.total.snmp.BytesReceived).toBe(sent);
    expect(st.total.counters.sessions).toBe(clients.length);
    expect(st.total.snmp.PassiveOpens).toBe(clients.length);
    // its sessions ended with it: what is held now is the other worker's alone
    expect(st.total.sessions).toBe(clients.length - doomed.length);
    expect(st.total.snmp.CurrEstab).toBe(clients.length - doomed.length);
    // ...and the replacement's own counters start from nothing
    expect(st.workers[victim]!.snmp.BytesReceived).toBe(0);
  });

  it('a handler that throws from its subscriber ends its own worker only: reported with the error, replaced, the other worker goes on', async () => {
    const l = await start(2);
    const events: WorkerEvent[] = [];
    l.events$.subscribe((e) => events.push(e));
    const clients = await dialMany(l.address.port, 12);
    const on = await Promise.all(clients.map((c) => c.whoami()));
    const victim = on[0]!;
    const survivors = clients.filter((_, i) => on[i] !== victim);
    expect(survivors.length).toBeGreaterThan(0);
    const survivorThread = (await l.stats()).workers[1 - victim]!.threadId;
    const replaced = firstValueFrom(l.events$.pipe(filter((e) => e.type === 'online' && e.worker === victim)));
    void clients[0]!.session.send(new TextEncoder().encode('throw'));
    await replaced;
    const exit = events.find((e) => e.type === 'exit');
    expect(exit).toMatchObject({ type: 'exit', worker: victim, code: 1 });
    expect(exit?.type === 'exit' ? exit.error?.message : undefined).toBe(`the handler threw in worker ${victim}`);
    expect(events.filter((e) => e.type === 'exit')).toHaveLength(1);
    await Promise.all(survivors.map((c) => echoes(c, clients.indexOf(c), 32 * 1024)));
    const st = await l.stats();
    expect(st.workers[1 - victim]!.threadId).toBe(survivorThread);
    expect(st.total.counters.bytes).toBe(clients.length * 'whoami'.length + 'throw'.length + survivors.length * 32 * 1024);
  });

  it('close() while sessions are active ends every worker and frees the port', async () => {
    const l = await start(2);
    const clients = await dialMany(l.address.port, 8);
    await Promise.all(clients.map((c) => c.whoami()));
    for (const [i, c] of clients.entries()) void c.session.send(pattern(i, 256 * 1024)).catch(() => {}); // in flight as close() comes
    const completed = new Promise<void>((resolve) => l.events$.subscribe({ complete: resolve }));
    await l.close();
    await completed;
    const st = await l.stats();
    expect(st).toMatchObject({ workers: [], total: { sessions: 0 } });
    // each worker's last report, as it closed, stays in the sum
    expect(st.total.counters.sessions).toBe(clients.length);
    expect(st.total.snmp.PassiveOpens).toBe(clients.length);
    expect(st.total.snmp.CurrEstab).toBe(0);
    // nobody holds the port: a plain socket (no reusePort) binds it
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(l.address.port, '127.0.0.1', resolve);
    });
    probe.close();
  });

  it('refuses options a thread cannot take, and a handler module without the export, when listening', async () => {
    await expect(listenWorkers({ ...options, workers: 0, handler })).rejects.toThrow(RangeError);
    await expect(listenWorkers({ ...options, workers: 1, handler, layers: {} } as never)).rejects.toThrow(/cannot cross to a worker thread/);
    await expect(listenWorkers({ ...options, workers: 1, handler, name: 'nothing' })).rejects.toThrow(/has no export nothing/);
  });
});

describe('reusePortAvailable', () => {
  it('is true on Linux from Node 22.12 and 23.1, false before and elsewhere', () => {
    expect(reusePortAvailable('20.20.2', 'linux')).toBe(false);
    expect(reusePortAvailable('22.11.0', 'linux')).toBe(false);
    expect(reusePortAvailable('22.12.0', 'linux')).toBe(true);
    expect(reusePortAvailable('23.0.0', 'linux')).toBe(false);
    expect(reusePortAvailable('23.1.0', 'linux')).toBe(true);
    expect(reusePortAvailable('24.22.3', 'linux')).toBe(true);
    expect(reusePortAvailable('24.22.3', 'darwin')).toBe(false);
    expect(reusePortAvailable('24.22.3', 'win32')).toBe(false);
  });

  it('without it (here: the platform read as darwin), listenWorkers says so at once with KcpError UNSUPPORTED, never a silent single socket', async () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
    try {
      const e = await listenWorkers({ ...options, workers: 2, handler }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KcpError);
      expect((e as KcpError).code).toBe('UNSUPPORTED');
      expect((e as KcpError).message).toMatch(/reusePort.*darwin/);
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
  });
});
