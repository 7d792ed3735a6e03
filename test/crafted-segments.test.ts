/**
 * Crafted fragment sequences: PUSH segments whose frg values do not form a message as any sender
 * would cut one (a first fragment whose last never comes, frg values that skip or repeat). Reading
 * them must never throw and never deliver anything but a run of fragments counting down to 0; the
 * conversation must go on carrying later valid messages.
 *
 * First in the core, then the way a user meets it: an `rxkcp echo` process and an `rxkcp send`
 * process (`--crypt none`: anyone can forge a datagram) fed the crafted datagrams over real UDP.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { patternBytes, PatternVerifier } from '../operators/testing/pattern.js';
import type { Session } from '../operators/transport/session.js';
import { toDuplex } from '../operators/adapters/stream.js';
import { cryptFromPassword } from '../src/crypt/crypt.js';
import { addCrcHeader } from '../src/crypt/packet.js';
import { IKCP_CMD_ACK, IKCP_CMD_PUSH, IKCP_CMD_WINS } from '../src/kcp/constants.js';
import { Kcp } from '../src/kcp/kcp.js';
import { decodeSegments, encodeSegment } from '../src/kcp/segment.js';
import { CollectSink, nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { cryptHeaderSize } from '../src/wire/constants.js';

const CONV = 0x0badf00d;
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));
const push = (conv: number, sn: number, frg: number, data: string, una = 0) =>
  encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg, wnd: 128, ts: 0, sn, una }, text(data));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};

/** Feeds PUSH segments with these frg values and payloads ("s<sn>") as sn 0, 1, ... */
function feed(k: Kcp, frgs: number[], first = 0, oneDatagram = false): void {
  const segs = frgs.map((f, i) => push(CONV, first + i, f, `s${first + i}`));
  if (oneDatagram) expect(k.input(concat(...segs), 0, nullSink)).toBe(0);
  else for (const s of segs) expect(k.input(s, 0, nullSink)).toBe(0);
}

/** Every message `recv` hands out now, as strings. */
function drain(k: Kcp): string[] {
  const got: string[] = [];
  for (let m = k.recv(); m !== null; m = k.recv()) got.push(str(m)!);
  return got;
}

describe('Kcp: a first fragment whose last never comes (frg 1, 1)', () => {
  for (const stream of [false, true]) {
    for (const oneDatagram of [false, true]) {
      it(`${stream ? 'stream' : 'message'} mode, ${oneDatagram ? 'one datagram' : 'two datagrams'}: recv, peekSize and recvAll return nothing and do not throw; later messages flow`, () => {
        const stats = new Snmp();
        const k = new Kcp(CONV, { stream }, stats);
        feed(k, [1, 1], 0, oneDatagram);
        expect(k.recv()).toBeNull();
        expect(k.recvAll()).toBeNull();
        expect(k.peekSize()).toBe(-1);
        // a well-formed two-fragment message, then a single one
        feed(k, [1, 0, 0], 2);
        expect(k.peekSize()).toBe('s2s3'.length);
        expect(stream ? [str(k.recvAll())] : drain(k)).toEqual(stream ? ['s2s3s4'] : ['s2s3', 's4']);
        expect(k.recv()).toBeNull();
        // the two segments that could never form a message were dropped and counted
        expect(stats.KCPInErrors).toBe(2);
        expect(k.rcvQueueLength).toBe(0);
        expect(k.rcvNxt).toBe(5);
      });
    }
  }
});

describe('Kcp: only runs of fragments counting down to 0 are delivered', () => {
  // frg values of sn 0, 1, ... and the messages recv hands out (payload of sn i is "s<i>")
  const cases: [number[], string[]][] = [
    [[1, 1, 0], ['s1s2']],
    [[3, 0], ['s1']],
    [[3, 0, 2, 1, 0], ['s1', 's2s3s4']],
    [[2, 0, 1], ['s1']], // s2 waits for its last fragment
    [[2, 2, 1, 0], ['s1s2s3']],
    [[0, 2, 1, 0], ['s0', 's1s2s3']],
    [[2, 1, 1, 0], ['s2s3']],
    [[1, 2, 0], ['s2']],
    [[5, 4, 3, 0], ['s3']],
    [[255, 0], ['s1']],
    [[0, 0, 0], ['s0', 's1', 's2']],
  ];
  for (const [frgs, want] of cases) {
    it(`frg ${frgs.join(',')} → ${want.join(' | ')}`, () => {
      const k = new Kcp(CONV);
      feed(k, frgs);
      expect(drain(k)).toEqual(want);
      expect(k.recvAll()).toBeNull();
      // the conversation goes on
      const next = frgs.length;
      if (k.peekSize() < 0 && k.rcvQueueLength > 0) {
        // a pending first fragment is completed only by the fragments it announces
        return;
      }
      feed(k, [0], next);
      expect(drain(k)).toEqual([`s${next}`]);
    });
  }

  it('a full receive window of fragments that cannot complete is dropped when read, and the window reopens', () => {
    const stats = new Snmp();
    const k = new Kcp(CONV, { rcvWnd: 8 }, stats);
    // 8 first fragments announcing 1 more each: the queue is full, the window closed
    feed(k, [1, 1, 1, 1, 1, 1, 1, 1]);
    // 4 more wait in rcv_buf behind the full queue
    feed(k, [1, 1, 0, 0], 8);
    expect(k.rcvQueueLength).toBe(8);
    k.flush(0, nullSink); // the ACKs go out, advertising a closed window
    expect(drain(k)).toEqual(['s9s10', 's11']);
    expect(k.rcvQueueLength).toBe(0);
    expect(k.rcvNxt).toBe(12);
    expect(stats.KCPInErrors).toBe(9);
    // the peer is told the window reopened
    const out = new CollectSink<Uint8Array>();
    k.flush(0, out);
    const segs = out.items.flatMap((d) => decodeSegments(d)!);
    expect(segs.filter((s) => s.header.cmd === IKCP_CMD_WINS).map((s) => s.header.wnd)).toEqual([8]);
  });
});

// ---- over real UDP, the way a user meets it ---------------------------------------------------

const cli = fileURLToPath(new URL('../cli/cli.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const none = cryptFromPassword('none', "it's a secrect");
if (none.kind !== 'framed') throw new Error('none is a CFB-framed crypt');
/** A `--crypt none` datagram: nonce slot, CRC-32 of the body, the body in clear. */
const frame = (body: Uint8Array) => addCrcHeader(body, none.crc32);
const unframe = (dg: Uint8Array) => dg.subarray(cryptHeaderSize);

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** Runs `rxkcp <args>` from the sources; resolves with the process and its first stdout line. */
function rxkcp(args: string[]): { proc: ChildProcessWithoutNullStreams; firstLine: Promise<string>; stderr: () => string; stdout: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, stdio: 'pipe' });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  const firstLine = new Promise<string>((resolve, reject) => {
    proc.stdout.on('data', (c: string) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    proc.on('exit', (code) => reject(new Error(`rxkcp ${args[0]} exited (${code}) before printing: ${err}`)));
  });
  firstLine.catch(() => {});
  proc.stderr.on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  cleanup.push(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return { proc, firstLine, stderr: () => err, stdout: () => out, exited };
}

async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  cleanup.push(() => s.close());
  return s;
}

/** Waits for `cond`; fails at once when `failure` reports something. */
async function until(what: string, cond: () => boolean, failure: () => string | null = () => null, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    const f = failure();
    if (f !== null) throw new Error(`while waiting for ${what}: ${f}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw peer on a UDP socket: collects the KCP segments that reach it (crypt none). */
function rawPeer(sock: Socket) {
  const pushes = new Map<number, string>();
  let una = 0; // the highest una the other side has sent: every sn below it was taken in
  const from: { address: string; port: number; conv: number }[] = [];
  sock.on('message', (msg, rinfo) => {
    const segs = decodeSegments(unframe(new Uint8Array(msg))) ?? [];
    for (const s of segs) {
      if (from.length === 0) from.push({ address: rinfo.address, port: rinfo.port, conv: s.header.conv });
      if (s.header.cmd === IKCP_CMD_PUSH) pushes.set(s.header.sn, str(s.data)!);
      if (s.header.una > una) una = s.header.una;
    }
  });
  const send = (body: Uint8Array, port: number) => new Promise<void>((r) => sock.send(frame(body), port, '127.0.0.1', () => r()));
  return { pushes, from, send, tookIn: (n: number) => una >= n };
}

/** Writes `n` pattern bytes through a dialled session and checks they come back byte-exact. */
async function echoes(session: Session, n: number): Promise<void> {
  const stream = toDuplex(session);
  const verifier = new PatternVerifier();
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      if (!verifier.push(c)) reject(new Error(verifier.error!));
      else if (verifier.offset === n) resolve();
    });
    stream.on('error', reject);
    stream.write(patternBytes(0, n));
  });
  expect(verifier.offset).toBe(n);
  stream.destroy();
}

const noFec = ['--crypt', 'none', '--datashard', '0', '--parityshard', '0'];

describe('rxkcp echo fed a crafted pair of fragments over UDP', () => {
  for (const stream of [false, true]) {
    it(`${stream ? 'stream' : 'message'} mode: stays up, keeps the crafted session going, and echoes a normal client byte-exact`, async () => {
      const server = rxkcp(['echo', ...noFec, '--listen', '127.0.0.1:0', ...(stream ? ['--stream'] : [])]);
      const ready = JSON.parse(await server.firstLine) as { addr: string };
      const port = Number(ready.addr.split(':')[1]);

      const peer = rawPeer(await udpSocket());
      const alive = () => (server.proc.exitCode === null ? null : `rxkcp echo exited (${server.proc.exitCode}): ${server.stderr()}`);
      await peer.send(push(CONV, 0, 1, 'AA'), port);
      await peer.send(push(CONV, 1, 1, 'BB'), port);
      // the server took both in: it acknowledges them
      await until('ACKs of the crafted segments', () => peer.tookIn(2), alive);
      // then a well-formed message on the same conversation: only it comes back
      await peer.send(concat(push(CONV, 2, 1, 'he'), push(CONV, 3, 0, 'llo')), port);
      await until('the echo of the valid message', () => [...peer.pushes.values()].join('').length >= 5, alive);
      expect([...peer.pushes.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join('')).toBe('hello');
      expect(server.proc.exitCode, server.stderr()).toBeNull();

      const client = await dial({ connect: ready.addr, crypt: 'none', dataShards: 0, parityShards: 0, stream });
      cleanup.push(() => client.close());
      await echoes(client, 200_000);
      expect(server.proc.exitCode, server.stderr()).toBeNull();
      server.proc.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.stderr()).not.toMatch(/TypeError/);
    }, 60_000);
  }
});

describe('a dialled client fed a crafted pair of fragments by a malicious server', () => {
  it('rxkcp send survives: it ends with a stall report, not a crash', async () => {
    const evil = await udpSocket();
    const peer = rawPeer(evil);
    const port = evil.address().port;
    const client = rxkcp(['send', ...noFec, '--connect', `127.0.0.1:${port}`, '--bytes', '1000', '--stall-timeout', '1500', '--json']);
    await until('the client’s first datagram', () => peer.from.length > 0);
    const { conv, port: clientPort } = peer.from[0]!;
    await peer.send(push(conv, 0, 1, 'AA'), clientPort);
    await peer.send(push(conv, 1, 1, 'BB'), clientPort);
    await until('ACKs of the crafted segments', () => peer.tookIn(2), () => (client.proc.exitCode === null ? null : `rxkcp send exited (${client.proc.exitCode}): ${client.stdout()} ${client.stderr()}`));
    const code = await client.exited;
    const report = JSON.parse(client.stdout().trim().split('\n').pop()!) as { ok: boolean; error?: string; verified: number };
    expect(report.error, client.stderr()).toMatch(/^stalled/);
    expect(report.verified).toBe(0);
    expect(code).toBe(1);
    expect(client.stderr()).not.toMatch(/TypeError/);
  }, 60_000);

  for (const stream of [false, true]) {
    it(`${stream ? 'stream' : 'message'} mode, in process: the session neither throws nor errors, and a later valid message arrives whole`, async () => {
      const evil = await udpSocket();
      const peer = rawPeer(evil);
      const session = await dial({ connect: `127.0.0.1:${evil.address().port}`, crypt: 'none', dataShards: 0, parityShards: 0, stream, interval: 10 });
      cleanup.push(() => session.close());
      const got: string[] = [];
      let failed: unknown = null;
      session.data$.subscribe({ next: (m) => got.push(str(m)!), error: (e: unknown) => (failed = e) });
      session.write(text('ping'));
      await until('the client’s first datagram', () => peer.from.length > 0);
      const { conv, port } = peer.from[0]!;
      await peer.send(push(conv, 0, 1, 'AA'), port);
      await peer.send(push(conv, 1, 1, 'BB'), port);
      const broken = () => (failed === null ? null : `the session failed: ${String(failed)}`);
      await until('ACKs of the crafted segments', () => peer.tookIn(2), broken);
      await peer.send(concat(push(conv, 2, 1, 'he'), push(conv, 3, 0, 'llo')), port);
      await until('the valid message', () => got.join('').length >= 5, broken);
      expect(failed).toBeNull();
      expect(got).toEqual(['hello']);
      expect(session.closed).toBe(false);
      expect(session.stats.KCPInErrors).toBe(2);
    }, 30_000);
  }
});
