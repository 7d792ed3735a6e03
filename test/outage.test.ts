/**
 * Outages, restarts and late retransmissions on real loopback UDP. A session rides through a
 * blackhole as kcp-go's does (reaching the dead-link count is counted, not fatal, unless asked
 * for); a listener never holds a session that cannot deliver, and a straggler of a session that
 * just ended opens no second session that would deliver the same message again.
 */
import { createSocket, type Socket } from 'node:dgram';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { echo } from '../operators/apps/echo.js';
import { Listener, type ListenOptions } from '../operators/transport/listener.js';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';
import type { Session } from '../operators/transport/session.js';
import { setSocketBuffers } from '../operators/transport/udp.js';
import { KcpError } from '../src/errors.js';
import { IKCP_CMD_ACK, IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { writeU16, writeU32 } from '../src/wire/bytes.js';

const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 256, rcvWnd: 256, crypt: 'null' as const };
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `cond` holds (polled), or rejects after `ms` with `what`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function bindLoopback(s: Socket, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  });
}

/**
 * A UDP forwarder on loopback with a drop switch per direction: each client address gets its own
 * upstream socket, so the server sees one stable address per client.
 */
interface Forwarder {
  readonly port: number;
  /** Client → server datagrams pass while true. */
  up: boolean;
  /** Server → client datagrams pass while true. */
  down: boolean;
  dropped: number;
  close(): void;
}

async function forwarder(target: number): Promise<Forwarder> {
  const front = createSocket('udp4');
  await bindLoopback(front);
  setSocketBuffers(front); // as a listener's: clients on one clock send in bursts
  const uppers = new Map<string, Socket>();
  const f: Forwarder = {
    port: front.address().port,
    up: true,
    down: true,
    dropped: 0,
    close() {
      front.close();
      for (const u of uppers.values()) u.close();
    },
  };
  front.on('error', () => {});
  front.on('message', (msg, from) => {
    if (!f.up) return void f.dropped++;
    const key = `${from.address}:${from.port}`;
    let u = uppers.get(key);
    if (u === undefined) {
      const upper = createSocket('udp4');
      upper.on('error', () => {});
      upper.bind(0, '127.0.0.1'); // sends wait for the bind
      upper.on('message', (m) => {
        if (!f.down) return void f.dropped++;
        front.send(m, from.port, from.address);
      });
      uppers.set(key, upper);
      u = upper;
    }
    u.send(msg, target, '127.0.0.1');
  });
  return f;
}

async function echoListener(options: Partial<ListenOptions> & { listen: string }): Promise<{ l: Listener; accepted: Session[] }> {
  const l = await Listener.listen({ ...fast, ...options });
  cleanup.push(() => l.close());
  const accepted: Session[] = [];
  l.sessions$.subscribe((s) => {
    accepted.push(s);
    echo(s);
  });
  return { l, accepted };
}

/**
 * Writes `total` pattern bytes through `s` with back-pressure and verifies the echo; calls
 * `progress` with the bytes verified so far after each chunk. Resolves with the verifier.
 */
function patternEcho(s: Session, total: number, progress: (verified: number) => void = () => {}): Promise<PatternVerifier> {
  const v = new PatternVerifier();
  return new Promise((resolve, reject) => {
    s.data$.subscribe({
      next: (m) => {
        if (!v.push(m)) return reject(new Error(v.error!));
        progress(v.offset);
        if (v.offset >= total) resolve(v);
      },
      error: reject,
    });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(4096, total - sent);
        if (!s.write(patternBytes(sent, n))) return;
        sent += n;
      }
    };
    s.writable$.subscribe({ next: pump, error: () => {} });
    pump();
  });
}

/** A raw UDP socket on loopback that sends hand-made datagrams to `port`. */
async function rawPeer(port: number) {
  const s = createSocket('udp4');
  await bindLoopback(s);
  cleanup.push(() => void s.close());
  const received: Buffer[] = [];
  s.on('message', (m) => received.push(m));
  return {
    socket: s,
    received,
    send: (dg: Uint8Array) => new Promise<void>((r) => s.send(dg, port, '127.0.0.1', () => r())),
  };
}

/** One PUSH segment as a kcp-go peer sends it (crypt null, no FEC: the datagram is the segment). */
function push(conv: number, sn: number, payload: string, una = 0): Uint8Array {
  return encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 1, sn, una }, new TextEncoder().encode(payload));
}

/** A kcp-go FEC data shard around a KCP datagram: seqid u32, type 0xf1, size u16 (incl. itself), body. */
function dataShard(seqid: number, kcp: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + kcp.length);
  writeU32(out, 0, seqid);
  writeU16(out, 4, 0xf1);
  writeU16(out, 6, kcp.length + 2);
  out.set(kcp, 8);
  return out;
}

const text = (m: Uint8Array) => new TextDecoder().decode(m);

describe('outages: a session rides through what kcp-go rides through', () => {
  it('an rxkcp client and echo server finish byte-exact through a blackhole well past the dead-link count', async () => {
    const { l } = await echoListener({ listen: '127.0.0.1:0', deadLink: 5 });
    const fw = await forwarder(l.address.port);
    cleanup.push(() => fw.close());
    const c = await dial({ connect: `127.0.0.1:${fw.port}`, ...fast, deadLink: 5 });
    cleanup.push(() => c.close());
    const total = 1 << 20;
    let holed = false;
    const done = patternEcho(c, total, (verified) => {
      if (holed || verified < total / 4) return;
      holed = true;
      // both directions dark until the client has sent a segment its five times (how long that
      // takes follows its RTO, which a loaded machine stretches), then 500 ms more
      fw.up = fw.down = false;
      const started = Date.now();
      const watch = setInterval(() => {
        if (c.stats.DeadLinks === 0 && Date.now() - started < 20_000) return;
        clearInterval(watch);
        setTimeout(() => (fw.up = fw.down = true), 500);
      }, 20);
    });
    const v = await done;
    expect(holed).toBe(true);
    expect(v.offset).toBe(total);
    expect(fw.dropped).toBeGreaterThan(0);
    expect(c.closed).toBe(false);
    // the condition kcp-go marks in its state field is counted, and nothing ended on it
    expect(c.stats.DeadLinks).toBe(1);
    expect(c.closed).toBe(false);
    expect(l.size).toBe(1);
  }, 60_000);

  it('failOnDeadLink: true still ends a session whose peer vanished with DEAD_LINK', async () => {
    const sink = createSocket('udp4');
    await bindLoopback(sink); // receives, never answers
    cleanup.push(() => void sink.close());
    const s = await dial({ connect: `127.0.0.1:${sink.address().port}`, ...fast, deadLink: 5, failOnDeadLink: true });
    s.write(new Uint8Array(100));
    const err = await firstValueFrom(s.data$).catch((e: unknown) => e);
    expect((err as KcpError).code).toBe('DEAD_LINK');
    expect(s.stats.DeadLinks).toBe(1);
    expect(s.closed).toBe(true);
  });
});

describe('restarts: a listener holds no session that cannot deliver', () => {
  it('a restarted echo server refuses its lost session’s mid-stream segments (the peer has had echoes: una > 0)', async () => {
    const first = await echoListener({ listen: '127.0.0.1:0' });
    const port = first.l.address.port;
    const c = await dial({ connect: `127.0.0.1:${port}`, ...fast });
    cleanup.push(() => c.close());
    let killed = false;
    const transfer = patternEcho(c, 8 << 20, (verified) => {
      if (killed || verified < 256 << 10) return;
      killed = true;
      first.l.close(); // the server dies mid-transfer, its sessions with it
    });
    transfer.catch(() => {});
    await until(() => killed, 30_000, 'a quarter MiB echoed');
    await sleep(100);
    const second = await echoListener({ listen: `127.0.0.1:${port}` });
    await sleep(1500); // the client retransmits all along
    expect(second.accepted).toHaveLength(0);
    expect(second.l.size).toBe(0);
    expect(second.l.stats.StrayPkts).toBeGreaterThan(0);
  }, 60_000);

  it('a restarted sink refuses segments far past the first flight (the peer never had data back: una 0, sn ≥ 128)', async () => {
    const l1 = await Listener.listen({ ...fast, listen: '127.0.0.1:0' });
    cleanup.push(() => l1.close());
    let received = 0;
    l1.sessions$.subscribe((s) => s.data$.subscribe({ next: (m) => (received += m.length), error: () => {} }));
    const port = l1.address.port;
    const c = await dial({ connect: `127.0.0.1:${port}`, ...fast });
    cleanup.push(() => c.close());
    // keep the send window busy, well past sn 128
    let off = 0;
    const pump = () => {
      while (!c.closed && c.write(patternBytes(off, 1024))) off += 1024;
    };
    c.writable$.subscribe({ next: pump, error: () => {} });
    pump();
    await until(() => received >= 512 << 10, 30_000, 'half a MiB received');
    l1.close();
    await sleep(100);
    const l2 = await Listener.listen({ ...fast, listen: `127.0.0.1:${port}` });
    cleanup.push(() => l2.close());
    const accepted: Session[] = [];
    l2.sessions$.subscribe((s) => accepted.push(s));
    await sleep(1500); // the client retransmits all along
    expect(accepted).toHaveLength(0);
    expect(l2.size).toBe(0);
    expect(l2.stats.StrayPkts).toBeGreaterThan(0);
  }, 60_000);
});

/** A listener (closed after the test) whose sessions it keeps in `accepted` and whose messages go to `got`. */
async function collectingListener(): Promise<{ l: Listener; got: string[]; accepted: Session[] }> {
  const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0' });
  cleanup.push(() => l.close());
  const got: string[] = [];
  const accepted: Session[] = [];
  l.sessions$.subscribe((s) => {
    accepted.push(s);
    s.data$.subscribe((m) => got.push(text(m)));
  });
  return { l, got, accepted };
}

describe('first datagrams: what may open a session', () => {
  it('a fresh peer whose sn-0 datagram was lost is held half-open, unanswered, and gets its session when sn 0 arrives', async () => {
    const { l, got, accepted } = await collectingListener();
    const p = await rawPeer(l.address.port);
    await p.send(push(7, 1, 'second'));
    await until(() => l.halfOpen === 1, 5000, 'the half-open entry');
    await p.send(push(7, 0, 'first')); // the peer's retransmission of sn 0
    await until(() => got.length === 1, 5000, 'the first message');
    expect(l.halfOpen).toBe(0);
    await p.send(push(7, 1, 'second')); // sn 1 was never acknowledged: the peer retransmits it
    await until(() => got.length === 2, 5000, 'both messages');
    expect(got).toEqual(['first', 'second']);
    expect(accepted).toHaveLength(1);
    expect(l.stats.StrayPkts).toBe(0);
    expect(l.stats.HalfOpenOpens).toBe(1);
  });

  it('a source that sent a segment past sn 0 and never sends sn 0 is dropped at its deadline, never offered', async () => {
    const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0', snZeroWait: 300 });
    cleanup.push(() => l.close());
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    const p = await rawPeer(l.address.port);
    await p.send(push(7, 5, 'mid-window'));
    await sleep(100);
    expect(accepted).toHaveLength(0); // held back: it cannot deliver yet
    await sleep(400);
    await p.send(push(7, 5, 'mid-window')); // the peer retransmits; sn 0 never came
    await until(() => l.halfOpen === 0, 5000, 'the half-open entry to be dropped');
    await p.send(push(7, 5, 'mid-window'));
    await sleep(100);
    expect(accepted).toHaveLength(0);
    expect(l.size).toBe(0);
    expect(l.stats.HalfOpenTimeouts).toBeGreaterThanOrEqual(1);
  });

  it('a datagram that is mid-stream (sn ≥ 128, una > 0, or an ACK first) opens no session', async () => {
    const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0' });
    cleanup.push(() => l.close());
    const accepted: Session[] = [];
    l.sessions$.subscribe((s) => accepted.push(s));
    // three peers (a listener keys sessions by address)
    await (await rawPeer(l.address.port)).send(push(7, 5000, 'far'));
    await (await rawPeer(l.address.port)).send(push(8, 3, 'has data back', 40));
    await (await rawPeer(l.address.port)).send(encodeSegment({ conv: 9, cmd: IKCP_CMD_ACK, frg: 0, wnd: 128, ts: 1, sn: 0, una: 0 }));
    const fresh = await rawPeer(l.address.port);
    await fresh.send(push(10, 0, 'fresh'));
    await until(() => accepted.length > 0, 5000, 'the fresh peer’s session');
    await sleep(50);
    expect(accepted.map((s) => s.conv)).toEqual([10]);
    expect(l.size).toBe(1);
    expect(l.stats.StrayPkts).toBe(3);
  });

  it('FEC: a data shard whose KCP segment (at offset 8) is mid-stream opens no session; one at sn 0 does', async () => {
    const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0', dataShards: 2, parityShards: 1 });
    cleanup.push(() => l.close());
    const got: string[] = [];
    l.sessions$.subscribe((s) => s.data$.subscribe((m) => got.push(text(m))));
    const p = await rawPeer(l.address.port);
    await p.send(dataShard(900, push(7, 900, 'far')));
    const p2 = await rawPeer(l.address.port);
    await p2.send(dataShard(0, push(8, 0, 'hello')));
    await until(() => got.length === 1, 5000, 'the message');
    expect(got).toEqual(['hello']);
    expect(l.sessions.map((s) => s.conv)).toEqual([8]);
    expect(l.stats.StrayPkts).toBe(1);
  });

  /** A listener whose sessions' messages go to `got`, and a raw peer whose one message ('once', conv 7) arrived. */
  async function oneMessageSession() {
    const { l, got, accepted } = await collectingListener();
    const p = await rawPeer(l.address.port);
    await p.send(push(7, 0, 'once'));
    await until(() => got.length === 1, 5000, 'the message');
    return { l, got, accepted, p };
  }

  it('a late sn-0 retransmission of a session that ended opens no second session', async () => {
    const { l, got, accepted, p } = await oneMessageSession();
    accepted[0]!.close({ linger: false }); // ended for good (as an idle timeout ends it: no linger)
    await p.send(push(7, 0, 'once')); // the peer never got the ACK and sends again
    const other = await rawPeer(l.address.port);
    await other.send(push(9, 0, 'other'));
    await until(() => got.includes('other'), 5000, 'another peer’s message');
    await sleep(50);
    expect(got).toEqual(['once', 'other']);
    expect(accepted.map((s) => s.conv)).toEqual([7, 9]);
    expect(l.stats.LatePkts).toBe(1);
  });

  it('a session closed while its peer still retransmits lingers: the retransmission is acknowledged, not delivered again', async () => {
    const { l, got, accepted, p } = await oneMessageSession();
    accepted[0]!.close(); // the application is done with it, its ACK may have been lost
    expect(accepted[0]!.closed).toBe(true);
    const acksBefore = p.received.length;
    await p.send(push(7, 0, 'once')); // the peer sends again
    await until(() => p.received.length > acksBefore, 5000, 'an ACK from the lingering session');
    await sleep(50);
    expect(got).toEqual(['once']);
    expect(accepted).toHaveLength(1);
    expect(l.stats.LatePkts).toBe(0);
  });

  it('a late sn 0 of an ended conv does not reset the session that replaced it', async () => {
    const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0' });
    cleanup.push(() => l.close());
    const got: string[] = [];
    const errors: string[] = [];
    l.sessions$.subscribe((s) => {
      s.data$.subscribe({ next: (m) => got.push(`${s.conv}:${text(m)}`), error: (e: KcpError) => errors.push(`${s.conv}:${e.code}`) });
      s.ended$.subscribe((e) => errors.push(`${s.conv}:${e.reason}`));
    });
    const p = await rawPeer(l.address.port);
    await p.send(push(7, 0, 'old'));
    await until(() => got.length === 1, 5000, 'conv 7');
    await p.send(push(8, 0, 'new')); // the peer restarted: kcp-go's conv reset
    await until(() => got.length === 2, 5000, 'conv 8');
    expect(errors).toEqual(['7:reset']); // an end, not an error
    await p.send(push(7, 0, 'old')); // a straggler of the old conv
    const other = await rawPeer(l.address.port);
    await other.send(push(11, 0, 'sync'));
    await until(() => got.includes('11:sync'), 5000, 'another peer’s message');
    await sleep(50);
    expect(got).toEqual(['7:old', '8:new', '11:sync']);
    expect(l.stats.LatePkts).toBe(1);
    expect(errors).toEqual(['7:reset']);
    expect(l.sessions.map((s) => s.conv)).toEqual([8, 11]);
  });
});

describe('idle timeouts while peers still retransmit', () => {
  it('1,000 one-message sessions whose ACKs are lost: each message is delivered exactly once', async () => {
    const l = await Listener.listen({ ...fast, listen: '127.0.0.1:0', idleTimeout: 250 });
    cleanup.push(() => l.close());
    const deliveries = new Map<string, number>();
    let opened = 0;
    let ended = 0;
    l.sessions$.subscribe((s) => {
      opened++;
      s.ended$.subscribe(() => ended++);
      s.data$.subscribe({ next: (m) => deliveries.set(text(m), (deliveries.get(text(m)) ?? 0) + 1), error: () => {} });
    });
    const fw = await forwarder(l.address.port);
    cleanup.push(() => fw.close());
    fw.down = false; // no ACK ever reaches a client: each keeps retransmitting its one message
    const clients: Session[] = [];
    cleanup.push(() => clients.forEach((c) => c.close()));
    const n = 1000;
    for (let i = 0; i < n; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => dial({ connect: `127.0.0.1:${fw.port}`, ...fast, interval: 20 })));
      batch.forEach((c, k) => c.write(new TextEncoder().encode(`message ${i + k}`)));
      clients.push(...batch);
    }
    await until(() => deliveries.size === n, 30_000, 'every message once');
    // the clients' retransmission gaps (200, 300, 400 ms, ...) now outgrow the 250 ms idle timeout
    await until(() => ended >= n, 30_000, 'every session to time out');
    await sleep(1500);
    const total = [...deliveries.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(n);
    expect(opened).toBe(n);
    expect(l.stats.LatePkts).toBeGreaterThan(0);
  }, 90_000);
});
