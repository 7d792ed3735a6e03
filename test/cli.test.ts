/**
 * The `rxkcp` command as users run it: the built `node dist/cli.js` as its own process (CI builds
 * before `npm test`; locally run `npm run build` first), talking to sockets on 127.0.0.1 only.
 * Flags it does not know, bad values and unknown commands are refused with exit code 2 and a
 * message; an interrupted `send` restores the terminal and prints its summary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dial } from '../operators/transport/dial.js';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';
import { reusePortAvailable } from '../operators/transport/workers.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const plain = ['--crypt', 'none', '--datashard', '0', '--parityshard', '0'];

const children: ChildProcess[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of sockets.splice(0)) s.close();
});

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (128 + n for a signal), or 'still running' after `ms`. */
  exit: (ms?: number) => Promise<number | 'still running'>;
}

function start(command: string, args: string[]): Run {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 9))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit: (ms = 15_000) => Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]),
  };
}

const rxkcp = (...args: string[]) => start(process.execPath, [cli, ...args]);

/** A UDP socket on 127.0.0.1 that counts what it receives and never answers. */
async function silentPeer(): Promise<{ port: number; received: () => number }> {
  const s = createSocket('udp4');
  let n = 0;
  s.on('message', () => n++);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  sockets.push(s);
  return { port: s.address().port, received: () => n };
}

async function closedPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON line in: ${text}`);
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('rxkcp refuses what it does not understand', () => {
  it('an unknown flag (--lissten): exit 2 and a message naming it, instead of listening on the default', async () => {
    const r = rxkcp('echo', '--lissten', '127.0.0.1:0');
    expect(await r.exit(5000)).toBe(2);
    expect(r.stderr()).toMatch(/--lissten/);
    expect(r.stdout()).not.toMatch(/"ready"/);
  });

  it('an unknown command: exit 2 and a message naming it', async () => {
    const r = rxkcp('ecko', '--listen', '127.0.0.1:0');
    expect(await r.exit()).toBe(2);
    expect(r.stderr()).toMatch(/unknown command.*ecko/i);
  });

  it('no command: exit 2 and a message', async () => {
    const r = rxkcp();
    expect(await r.exit()).toBe(2);
    expect(r.stderr()).toMatch(/command/i);
  });

  for (const [what, args, message] of [
    ['--bytes -5', ['--bytes', '-5'], /--bytes must be an integer 1\.\..*got -5/],
    ['--bytes=-5', ['--bytes=-5'], /--bytes must be an integer 1\.\..*got -5/],
    ['--bytes without a value', ['--bytes'], /--bytes/],
    ['--bytes abc', ['--bytes', 'abc'], /--bytes must be an integer 1\.\..*got abc/],
    ['--msg 0', ['--msg', '0'], /--msg must be an integer 1\.\./],
  ] as const) {
    it(`send ${what}: exit 2 naming the flag, nothing sent`, async () => {
      const peer = await silentPeer();
      const r = rxkcp('send', '--connect', `127.0.0.1:${peer.port}`, ...args, '--json');
      expect(await r.exit()).toBe(2);
      expect(r.stderr()).toMatch(message);
      expect(peer.received()).toBe(0);
    });
  }

  it('--version prints the package version and exits 0', async () => {
    const r = rxkcp('--version');
    expect(await r.exit()).toBe(0);
    expect(r.stdout()).toContain(version);
  });

  it('--help still prints the help and exits 0', async () => {
    const r = rxkcp('--help');
    expect(await r.exit()).toBe(0);
    expect(r.stdout()).toMatch(/echo/);
  });

  it("each command's --help starts with what the command does", async () => {
    const commands = [
      ['echo', 'echo every byte of every session'],
      ['sink', 'discard and count what arrives'],
      ['send', 'send N pattern bytes to an echo server'],
      ['relay', 'a seeded network emulator'],
    ] as const;
    const runs = commands.map(([command]) => rxkcp(command, '--help'));
    for (const [i, [command, what]] of commands.entries()) {
      expect(await runs[i]!.exit()).toBe(0);
      expect(runs[i]!.stdout().split('\n')[0]).toContain(`rxkcp ${command}: ${what}`);
    }
  });
});

describe('rxkcp send interrupted', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} during a send prints the JSON summary (ok: false) and exits ${code}`, async () => {
      const peer = await silentPeer();
      const r = rxkcp('send', '--connect', `127.0.0.1:${peer.port}`, ...plain, '--stall-timeout', '60000', '--json');
      await until(() => peer.received() > 0, 'the first datagram');
      r.child.kill(signal);
      expect(await r.exit()).toBe(code);
      const out = lastJson(r.stdout());
      expect(out.ok).toBe(false);
      expect(String(out.error)).toMatch(new RegExp(`interrupted.*${signal}`));
      expect(out.verified).toBe(0);
      expect(typeof out.elapsed_ms).toBe('number');
      expect((out.stats as Record<string, number>).OutPkts).toBeGreaterThan(0);
    });
  }

  it('Ctrl-C in a terminal turns line wrap back on after the progress bar and prints the summary', async () => {
    const peer = await silentPeer();
    // a pseudo-terminal: `script` runs the command on one; a 0x03 typed into it is Ctrl-C
    const command = [process.execPath, cli, 'send', '--connect', `127.0.0.1:${peer.port}`, ...plain, '--stall-timeout', '60000'].map((a) => `'${a}'`).join(' ');
    const r = start('script', ['-qfec', command, '/dev/null']);
    await until(() => peer.received() > 0 && r.stdout().includes('\x1b[?7l'), 'the progress bar');
    r.child.stdin!.write('\x03');
    expect(await r.exit()).toBe(130);
    const out = r.stdout();
    expect(out.lastIndexOf('\x1b[?7h')).toBeGreaterThan(out.lastIndexOf('\x1b[?7l')); // line wrap restored
    expect(out).toMatch(/FAILED: 0 of \d+ bytes verified .*interrupted/);
  });
});

describe('rxkcp send says why it stalled', () => {
  it('nothing listening (ICMP port unreachable) and a wrong key get different messages', async () => {
    const port = await closedPort();
    const nobody = rxkcp('send', '--connect', `127.0.0.1:${port}`, '--stall-timeout', '1000', '--json');
    expect(await nobody.exit()).toBe(1);
    const a = lastJson(nobody.stdout());
    expect(a.ok).toBe(false);
    expect(String(a.error)).toMatch(/nothing is listening/);
    expect((a.stats as Record<string, number>).InErrs).toBeGreaterThan(0);

    const server = rxkcp('echo', '--listen', '127.0.0.1:0', '--key', 'right');
    await until(() => server.stdout().includes('"ready"'), 'the echo server');
    const addr = String(lastJson(server.stdout()).addr);
    const wrong = rxkcp('send', '--connect', addr, '--key', 'wrong', '--stall-timeout', '1000', '--json');
    expect(await wrong.exit()).toBe(1);
    const b = lastJson(wrong.stdout());
    expect(b.ok).toBe(false);
    expect(String(b.error)).not.toMatch(/nothing is listening/);
    expect(String(b.error)).toMatch(/--key/);
    expect(b.error).not.toBe(a.error);
    server.child.kill('SIGTERM');
    expect(await server.exit()).toBe(0);
  });
});

describe('rxkcp sink --echo-conv', () => {
  it('echoes the sessions with that conversation id and sinks (and counts) the others', async () => {
    const server = rxkcp('sink', '--listen', '127.0.0.1:0', '--echo-conv', '77', ...plain);
    await until(() => server.stdout().includes('"ready"'), 'the sink');
    const addr = String(lastJson(server.stdout()).addr);
    const probe = await dial({ connect: addr, conv: 77, crypt: 'none', dataShards: 0, parityShards: 0 });
    const v = new PatternVerifier();
    probe.data$.subscribe((m) => v.push(m));
    probe.write(patternBytes(0, 5000));
    await until(() => v.offset >= 5000, 'the echo');
    expect(v.error).toBeNull();
    expect(v.offset).toBe(5000);
    const bulk = rxkcp('send', '--connect', addr, '--oneway', '--bytes', '100000', '--json', ...plain);
    expect(await bulk.exit()).toBe(0);
    expect(lastJson(bulk.stdout()).ok).toBe(true);
    probe.close({ linger: false });
    server.child.kill('SIGTERM');
    expect(await server.exit()).toBe(0);
    const final = lastJson(server.stdout());
    expect(final.sessions).toBe(2);
    expect(final.received).toBe(100_000); // the echoed probe is not counted
    expect(v.offset).toBe(5000); // the bulk session was not echoed to anyone
    const bad = rxkcp('sink', '--listen', '127.0.0.1:0', '--echo-conv', 'x');
    expect(await bad.exit()).toBe(2);
    expect(bad.stderr()).toMatch(/--echo-conv must be an integer/);
  });
});

describe('rxkcp echo and sink --workers', () => {
  const supported = reusePortAvailable(process.versions.node);

  it.skipIf(!supported)('echo --workers 2: every client verified, the final line sums both workers and lists each; SIGTERM stops them all', async () => {
    const server = rxkcp('echo', '--listen', '127.0.0.1:0', '--workers', '2', ...plain);
    await until(() => server.stdout().includes('"ready"'), 'the echo server');
    const ready = lastJson(server.stdout());
    expect(ready.workers).toBe(2);
    const clients = Array.from({ length: 6 }, () => rxkcp('send', '--connect', String(ready.addr), '--bytes', '200000', '--json', ...plain));
    for (const c of clients) expect(await c.exit(60_000)).toBe(0);
    for (const c of clients) expect(lastJson(c.stdout())).toMatchObject({ ok: true, verified: 200000 });
    server.child.kill('SIGTERM');
    expect(await server.exit()).toBe(0);
    const final = lastJson(server.stdout());
    const stats = final.stats as Record<string, number>;
    const workers = final.workers as { worker: number; sessions: number; stats: Record<string, number> }[];
    expect(final.final).toBe(true);
    expect(workers.map((w) => w.worker)).toEqual([0, 1]);
    expect(stats.PassiveOpens).toBe(6);
    expect(stats.BytesReceived).toBe(6 * 200000);
    expect(stats.BytesSent).toBe(6 * 200000);
    expect(stats.StrayPkts).toBe(0);
    for (const f of ['PassiveOpens', 'BytesReceived', 'InPkts', 'OutPkts'] as const) expect(workers.reduce((n, w) => n + w.stats[f]!, 0)).toBe(stats[f]);
    expect(final.sessions).toBe(workers.reduce((n, w) => n + w.sessions, 0));
  });

  it.skipIf(!supported || !('registerHooks' in module))('a worker thread of the command loads the library once: its worker entry shares the chunks of the handlers it imports', async () => {
    // every module a worker thread loads from dist/, as a load hook in each thread sees them
    const dir = mkdtempSync(join(tmpdir(), 'rxkcp-trace-'));
    const trace = join(dir, 'trace.mjs');
    writeFileSync(
      trace,
      `import { registerHooks } from 'node:module';\nimport { isMainThread } from 'node:worker_threads';\n` +
        `if (!isMainThread) registerHooks({ load(url, context, next) { if (url.includes('/dist/')) process.stderr.write('loaded ' + url + '\\n'); return next(url, context); } });\n`
    );
    try {
      const server = start(process.execPath, ['--import', pathToFileURL(trace).href, cli, 'echo', '--listen', '127.0.0.1:0', '--workers', '1', ...plain]);
      await until(() => server.stdout().includes('"ready"'), 'the echo server');
      server.child.kill('SIGTERM');
      expect(await server.exit()).toBe(0);
      const dist = dirname(cli);
      const loaded = [...new Set([...server.stderr().matchAll(/^loaded (\S+)$/gm)].map((m) => fileURLToPath(m[1]!)))].filter((f) => dirname(f) === dist);
      const listeners = loaded.filter((f) => /^var Listener = class /m.test(readFileSync(f, 'utf8')));
      expect(listeners.map((f) => basename(f))).toHaveLength(1);
      expect(loaded.map((f) => basename(f))).toEqual(expect.arrayContaining(['cli-worker-entry.js', 'cli-worker.js']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!supported)('sink --workers 2 sums what every worker received, in --stats-interval lines too', async () => {
    const server = rxkcp('sink', '--listen', '127.0.0.1:0', '--workers', '2', '--stats-interval', '200', ...plain);
    await until(() => server.stdout().includes('"ready"'), 'the sink');
    const addr = String(lastJson(server.stdout()).addr);
    const clients = Array.from({ length: 4 }, () => rxkcp('send', '--connect', addr, '--bytes', '300000', '--oneway', '--json', ...plain));
    for (const c of clients) expect(await c.exit(60_000)).toBe(0);
    await until(() => (lastJson(server.stdout()).received as number) === 4 * 300000, 'a stats line with every byte', 20_000);
    expect(lastJson(server.stdout()).final).toBe(false);
    server.child.kill('SIGINT');
    expect(await server.exit()).toBe(0);
    const final = lastJson(server.stdout());
    expect(final).toMatchObject({ final: true, received: 4 * 300000 });
    expect((final.workers as { received: number }[]).reduce((n, w) => n + w.received, 0)).toBe(4 * 300000);
  });

  it('--workers where dgram has no reusePort (the platform read as darwin): exit 2 and a message saying so, not one socket', async () => {
    const darwin = `data:text/javascript,${encodeURIComponent("Object.defineProperty(process, 'platform', { value: 'darwin' });")}`;
    const r = start(process.execPath, ['--import', darwin, cli, 'echo', '--listen', '127.0.0.1:0', '--workers', '2']);
    expect(await r.exit()).toBe(2);
    expect(r.stderr()).toMatch(/reusePort/);
  });
});
