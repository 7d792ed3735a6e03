/**
 * `rxkcp echo` as a server exposed to the internet: without limits every silent session (one
 * message, or one forged datagram from a new source port) lived as long as the process. The
 * server runs here as its own process (through tsx), on 127.0.0.1, and is watched through the
 * JSON lines it prints: `--stats-interval` and the final line on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import type { Session } from '../operators/transport/session.js';
import { addCrcHeader, encryptDatagram } from '../src/crypt/packet.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { createNodeCrypt } from '../src/node/crypt.js';

const cli = fileURLToPath(new URL('../cli/cli.ts', import.meta.url));
/** The flood and the clients speak plain KCP inside kcp-go's 'none' framing (nonce + CRC). */
const plain = ['--crypt', 'none', '--datashard', '0', '--parityshard', '0'];

interface Line {
  ready?: boolean;
  final?: boolean;
  sessions?: number;
  idle_timeout_ms?: number;
  max_sessions?: number;
  addr?: string;
  stats?: Record<string, number>;
}

interface Server {
  child: ChildProcess;
  port: number;
  ready: Line;
  lines: Line[];
  /** Resolves with the first line from index `since` on (printed already or to come) that `pred` accepts. */
  waitFor(what: string, pred: (l: Line) => boolean, since: number, ms?: number): Promise<Line>;
  /** SIGTERM; resolves with the final line. */
  stop(): Promise<Line>;
}

const children: ChildProcess[] = [];
const sockets: Socket[] = [];
const sessions: Session[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
  for (const s of sockets.splice(0)) s.close();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function startEcho(flags: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'echo', '--listen', '127.0.0.1:0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Line[] = [];
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  let closed = false;
  child.on('close', () => ((closed = true), notify()));
  let stderr = '';
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (text.startsWith('{')) lines.push(JSON.parse(text) as Line);
    }
    notify();
  });
  const waitFor = (what: string, pred: (l: Line) => boolean, since: number, ms = 15_000): Promise<Line> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; last line: ${JSON.stringify(lines.at(-1))}; stderr: ${stderr}`)), ms);
      const check = () => {
        const l = lines.slice(since).find(pred);
        if (l) (clearTimeout(timer), resolve(l));
        else if (closed) (clearTimeout(timer), reject(new Error(`server exited (${child.exitCode}) before ${what}: ${stderr}`)));
        else waiters.push(check);
      };
      check();
    });
  return waitFor('the ready line', (l) => l.ready === true, 0, 60_000).then((ready) => ({
    child,
    port: Number(/:(\d+)$/.exec(ready.addr!)![1]),
    ready,
    lines,
    waitFor,
    stop: () => {
      child.kill('SIGTERM');
      return waitFor('the final line', (l) => l.final === true, 0);
    },
  }));
}

/** One valid first datagram of conv `conv` in 'none' framing: PUSH sn 0 with 16 bytes. */
function firstDatagram(conv: number): Uint8Array {
  const crypt = createNodeCrypt('none', new Uint8Array(0));
  if (crypt.kind !== 'framed') throw new Error('none is framed like a CFB cipher');
  const dg = addCrcHeader(encodeSegment({ conv, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0 }, new Uint8Array(16).fill(conv & 0xff)), crypt.crc32);
  encryptDatagram(dg, crypt.block, crypt.random);
  return dg;
}

const statsLine = (l: Line) => l.stats !== undefined && l.final !== true;

describe('rxkcp echo session limits', () => {
  it('by default holds at most 4096 sessions and drops one silent for 60 s (its ready line says so); 0 turns either off', async () => {
    const defaults = await startEcho([]);
    expect(defaults.ready).toMatchObject({ idle_timeout_ms: 60_000, max_sessions: 4096 });
    await defaults.stop();
    const off = await startEcho(['--idle-timeout', '0', '--max-sessions', '0']);
    expect(off.ready).toMatchObject({ idle_timeout_ms: 0, max_sessions: 0 });
    await off.stop();
    const set = await startEcho(['--idle-timeout', '2500', '--max-sessions', '12']);
    expect(set.ready).toMatchObject({ idle_timeout_ms: 2500, max_sessions: 12 });
    await set.stop();
  });

  it('--idle-timeout ends sessions that fall silent and keeps the one that goes on talking', async () => {
    const server = await startEcho([...plain, '--idle-timeout', '1000', '--stats-interval', '100']);
    const start = server.lines.length;
    const opts = { connect: `127.0.0.1:${server.port}`, crypt: 'none', nodelay: 1, interval: 10, resend: 2, nc: 1 } as const;
    for (let i = 0; i < 3; i++) {
      const s = await dial(opts);
      sessions.push(s);
      s.write(new TextEncoder().encode(`hello ${i}`));
      expect(new TextDecoder().decode(await firstValueFrom(s.data$))).toBe(`hello ${i}`);
    }
    const talker = sessions[2]!;
    let echoed = 0;
    talker.data$.subscribe(() => echoed++);
    const talking = setInterval(() => talker.write(new Uint8Array(10)), 200);
    try {
      await server.waitFor('three sessions', (l) => statsLine(l) && l.sessions === 3, start);
      const third = server.lines.length;
      const two = await server.waitFor('the two silent sessions to expire', (l) => statsLine(l) && l.sessions === 1, third);
      expect(two.stats!.IdleTimeouts).toBe(2);
      const mark = server.lines.length;
      await new Promise((r) => setTimeout(r, 1500)); // longer than the timeout, talking all along
      const during = server.lines.slice(mark).filter(statsLine);
      expect(during.length).toBeGreaterThan(3);
      expect(during.every((l) => l.sessions === 1)).toBe(true);
      expect(echoed).toBeGreaterThan(3);
    } finally {
      clearInterval(talking);
    }
    await server.waitFor('the talker, now silent, to expire', (l) => statsLine(l) && l.sessions === 0, server.lines.length);
    const final = await server.stop();
    expect(final.sessions).toBe(0);
    expect(final.stats!.IdleTimeouts).toBe(3);
    expect(final.stats!.PassiveOpens).toBe(3);
  });

  it('a flood of first datagrams from 2,000 source ports leaves at most --max-sessions sessions, counts the refusals, and all expire', async () => {
    const flood = 2000;
    const max = 500;
    const server = await startEcho([...plain, '--max-sessions', String(max), '--idle-timeout', '3000', '--stats-interval', '100']);
    for (let i = 0; i < flood; i++) {
      const s = createSocket('udp4');
      s.on('message', () => {}); // the server's ACKs
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
    for (let i = 0; i < flood; i += 250) {
      await Promise.all(sockets.slice(i, i + 250).map((s, j) => new Promise<void>((r) => s.send(firstDatagram(1 + i + j), server.port, '127.0.0.1', () => r()))));
    }
    const taken = await server.waitFor('every datagram to be taken in', (l) => statsLine(l) && l.stats!.PassiveOpens + l.stats!.SessionsRefused === flood, 0);
    expect(taken.sessions).toBe(max);
    expect(taken.stats!.PassiveOpens).toBe(max);
    expect(taken.stats!.SessionsRefused).toBe(flood - max);
    const gone = await server.waitFor('every session to expire', (l) => statsLine(l) && l.sessions === 0, server.lines.indexOf(taken));
    expect(gone.stats!.IdleTimeouts).toBe(max);
    expect(Math.max(...server.lines.filter(statsLine).map((l) => l.sessions!))).toBeLessThanOrEqual(max);
    const final = await server.stop();
    expect(final.sessions).toBe(0);
    expect(final.stats!.SessionsRefused).toBe(flood - max);
  });
});
