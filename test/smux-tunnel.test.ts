/**
 * rxkcp's tunnel: kcptun's command line as rxkcp reads it, and an rxkcp client and server joined
 * over real sockets on 127.0.0.1 (the interop suite puts kcptun on either end).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Snmp } from '../src/stats.js';
import { appendSnmpLog, goTimeFormat, notApplied, parseTunnelArgs, qppWarnings, sessionOptionsOf, smuxConfigOf, tunnelMain, TunnelUsageError, TUNNEL_ROLES, type TunnelConfig } from '../cli/tunnel-cli.js';
import { parsePortRange, tunnelClient, tunnelServer, type TunnelHandle, type TunnelOptions } from '../operators/apps/tunnel.js';
import { patternBytes, PatternVerifier } from '../operators/testing/pattern.js';

const parse = (role: 'client' | 'server', argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) =>
  parseTunnelArgs(role, argv, env, (p) => {
    if (!(p in files)) throw new Error(`ENOENT ${p}`);
    return files[p]!;
  }) as TunnelConfig;

describe("kcptun's command line", () => {
  it("has the defaults of kcptun's last release for each role", () => {
    const s = parse('server', []);
    expect(s).toMatchObject({ listen: ':29900', target: '127.0.0.1:12948', key: "it's a secrect", crypt: 'aes', mode: 'fast', mtu: 1350, ratelimit: 0, sndwnd: 1024, rcvwnd: 1024, datashard: 10, parityshard: 3, nocomp: false, sockbuf: 4194304, smuxver: 2, smuxbuf: 4194304, framesize: 8192, streambuf: 2097152, keepalive: 10, closewait: 30, snmpperiod: 60, QPP: false, QPPCount: 61, tcp: false, pprof: false });
    // mode fast sets the nodelay parameters
    expect([s.nodelay, s.interval, s.resend, s.nc]).toEqual([0, 30, 2, 1]);
    const c = parse('client', []);
    expect(c).toMatchObject({ localaddr: ':12948', remoteaddr: 'vps:29900', sndwnd: 128, rcvwnd: 512, conn: 1, autoexpire: 0, scavengettl: 600, smuxver: 2, closewait: 0, framesize: 8192, QPPCount: 61 });
    expect(smuxConfigOf(c)).toEqual({ version: 2, maxReceiveBuffer: 4194304, maxStreamBuffer: 2097152, maxFrameSize: 8192, keepAliveInterval: 10_000 });
  });

  it("reads flags as Go's flag package: one dash or two, =value, aliases, booleans only with =", () => {
    const c = parse('client', ['-l', '127.0.0.1:1', '--remoteaddr=h:2', '-mode', 'fast3', '-ds', '5', '--ps=0', '-nocomp', '--quiet=false', '-conn', '3', '--smuxver', '2']);
    expect(c).toMatchObject({ localaddr: '127.0.0.1:1', remoteaddr: 'h:2', mode: 'fast3', datashard: 5, parityshard: 0, nocomp: true, quiet: false, conn: 3, smuxver: 2 });
    expect([c.nodelay, c.interval, c.resend, c.nc]).toEqual([1, 10, 2, 1]);
    expect(() => parse('client', ['--nocomp', 'yes'])).toThrow(/unexpected argument yes/);
    expect(() => parse('client', ['--target', 'x'])).toThrow(/flag provided but not defined: -target/);
    expect(() => parse('server', ['--mtu', 'big'])).toThrow(/invalid value "big" for -mtu/);
    expect(() => parse('server', ['--mtu'])).toThrow(/needs an argument/);
    expect(parseTunnelArgs('server', ['-h'])).toBe('help');
  });

  it('manual mode keeps --nodelay/--interval/--resend/--nc; the mode table overrides them otherwise', () => {
    const m = parse('server', ['--mode', 'manual', '--nodelay', '1', '--interval', '20', '--resend', '3', '--nc', '1']);
    expect([m.nodelay, m.interval, m.resend, m.nc]).toEqual([1, 20, 3, 1]);
    const n = parse('server', ['--mode', 'normal', '--nodelay', '1', '--interval', '20']);
    expect([n.nodelay, n.interval, n.resend, n.nc]).toEqual([0, 40, 2, 1]);
    expect(() => parse('server', ['--mode', 'fast4'])).toThrow(/--mode must be/);
  });

  it('KCPTUN_KEY sets the key, a flag beats it, and the JSON config beats both', () => {
    expect(parse('server', [], { KCPTUN_KEY: 'env' }).key).toBe('env');
    expect(parse('server', ['--key', 'flag'], { KCPTUN_KEY: 'env' }).key).toBe('flag');
    const files = { '/c.json': JSON.stringify({ key: 'json', listen: ':2000', target: '127.0.0.1:9999', mode: 'fast2', nocomp: true, sndwnd: 2048 }) };
    const c = parse('server', ['-c', '/c.json', '--key', 'flag', '--sndwnd', '5'], {}, files);
    expect(c).toMatchObject({ key: 'json', listen: ':2000', target: '127.0.0.1:9999', mode: 'fast2', nocomp: true, sndwnd: 2048 });
    expect([c.nodelay, c.interval]).toEqual([1, 20]);
    expect(() => parse('server', ['-c', '/c.json'], {}, { '/c.json': '{"mtu": "1400"}' })).toThrow(/"mtu" must be an integer/);
    expect(() => parse('server', ['-c', '/missing.json'])).toThrow(TunnelUsageError);
  });

  it("reads the last release's JSON keys as Go's encoding/json does, and refuses a key it does not know, as an unknown flag", () => {
    const files = { '/c.json': JSON.stringify({ qpp: true, 'qpp-count': 67, closewait: 5, framesize: 4096, ratelimit: 1000000, smuxver: 1, SndWnd: 300 }) };
    expect(parse('server', ['-c', '/c.json'], {}, files)).toMatchObject({ QPP: true, QPPCount: 67, closewait: 5, framesize: 4096, ratelimit: 1000000, smuxver: 1, sndwnd: 300 });
    expect(sessionOptionsOf(parse('server', ['-c', '/c.json'], {}, files)).rateLimit).toBe(1000000);
    expect(sessionOptionsOf(parse('server', ['--ratelimit', '-5'])).rateLimit).toBeUndefined(); // kcptun: negative is 0, no limit
    expect(() => parse('client', ['-c', '/u.json'], {}, { '/u.json': '{"key": "k", "unknown": 1}' })).toThrow(/key provided but not defined: "unknown"/);
    expect(() => parse('client', ['-c', '/u.json'], {}, { '/u.json': '{"listen": ":1"}' })).toThrow(/key provided but not defined: "listen"/);
    expect(parse('client', ['--QPP', '--QPPCount', '7', '--closewait', '3', '--framesize', '1024'])).toMatchObject({ QPP: true, QPPCount: 7, closewait: 3, framesize: 1024 });
  });

  it('reads port ranges in -l (server) and -r (client), and refuses a bad one', () => {
    expect(parsePortRange('127.0.0.1:29900-29910')).toEqual({ host: '127.0.0.1', minPort: 29900, maxPort: 29910 });
    expect(parsePortRange(':3000-3001')).toEqual({ host: '0.0.0.0', minPort: 3000, maxPort: 3001 });
    expect(parsePortRange('[::1]:5-6')).toEqual({ host: '::1', minPort: 5, maxPort: 6 });
    expect(parsePortRange('h:7')).toEqual({ host: 'h', minPort: 7, maxPort: 7 });
    expect(parse('server', ['-l', ':4000-4010']).listen).toBe(':4000-4010');
    expect(parse('client', ['-r', 'vps:4000-4010']).remoteaddr).toBe('vps:4000-4010');
    expect(() => parse('server', ['-l', ':4010-4000'])).toThrow(/invalid port range/);
    expect(() => parse('client', ['-r', 'vps:0-5'])).toThrow(/invalid port range/);
    expect(() => parse('client', ['-r', 'vps:5-70000'])).toThrow(/--remoteaddr/);
  });

  it("prints kcptun's QPP warnings for a short key, too few pads or an even count", () => {
    expect(qppWarnings(parse('server', []))).toEqual([]);
    expect(qppWarnings(parse('server', ['--QPP', '--QPPCount', '4']))).toEqual([
      "QPP Warning: 'key' has size of 14 bytes, required 211 bytes at least",
      'QPP Warning: QPPCount 4, required 7 at least',
      'QPP Warning: QPPCount 4, choose a prime number for security',
    ]);
    expect(() => parse('server', ['--QPP', '--QPPCount', '0'])).toThrow(/--QPPCount must be 1..65535/);
  });

  it("reads kcptun's example configs", () => {
    for (const [role, file] of [
      ['client', '/usr/share/doc/kcptun/examples/local.json'],
      ['server', '/usr/share/doc/kcptun/examples/server.json'],
    ] as const) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // kcptun's documentation is not installed here
      }
      // unchanged: DSCP 46 is read and logged as not applied
      const c = parse(role, ['-c', file], {}, { [file]: text });
      expect(c).toMatchObject({ key: 'PASSWORD', crypt: 'aes-128', mode: 'fast3', mtu: 1400, nocomp: true, sockbuf: 16777217, smuxbuf: 16777217, dscp: 46 });
      expect(notApplied(c)).toEqual([expect.stringMatching(/^dscp 46: not applied/)]);
      expect(sessionOptionsOf(c)).toMatchObject({ crypt: 'aes-128', key: 'PASSWORD', mtu: 1400, dataShards: 10, parityShards: 3, nodelay: 1, interval: 10 });
      expect(smuxConfigOf(c)).toEqual({ version: 1, maxReceiveBuffer: 16777217, maxStreamBuffer: 2097152, maxFrameSize: 8192, keepAliveInterval: 10_000 });
    }
  });

  it('logs what Node cannot apply (dscp, pprof) and refuses what changes the wire (tcp) or smux would refuse', () => {
    expect(() => parse('client', ['--tcp'])).toThrow(/--tcp .* not supported/);
    expect(notApplied(parse('server', ['--dscp', '46', '--pprof']))).toEqual([expect.stringMatching(/^dscp 46: not applied/), expect.stringMatching(/^pprof: not applied/)]);
    expect(notApplied(parse('client', []))).toEqual([]);
    expect(() => parse('server', ['--dscp', '64'])).toThrow(/--dscp must be 0..63/);
    expect(() => smuxConfigOf(parse('server', ['--framesize', '70000']))).toThrow(/maxFrameSize/);
    expect(() => parse('server', ['--smuxver', '3'])).toThrow(/unsupported smux version: 3/);
    expect(() => smuxConfigOf(parse('server', ['--keepalive', '31']))).toThrow(/keep-alive timeout/);
    expect(() => smuxConfigOf(parse('server', ['--streambuf', String(8 << 20)]))).toThrow(/stream buffer/);
  });

  it('rxkcp tunnel --help lists both roles, one line each; each role\'s --help starts with what it does', async () => {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const err = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void out.push(String(s)));
    try {
      expect(await tunnelMain(['--help'])).toBe(0);
      const top = out.splice(0).join('\n');
      expect(top).toContain(`client   ${TUNNEL_ROLES.client}`);
      expect(top).toContain(`server   ${TUNNEL_ROLES.server}`);
      for (const role of ['client', 'server'] as const) {
        expect(await tunnelMain([role, '--help'])).toBe(0);
        expect(out.splice(0).join('\n').split('\n')[0]).toBe(`rxkcp tunnel ${role} — ${TUNNEL_ROLES[role]}`);
      }
      expect(await tunnelMain([])).toBe(2); // no role: the same list, on stderr
      expect(out.splice(0).join('\n')).toContain('ROLES:');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });

  it("maps an unknown --crypt to aes, as kcptun's default branch does", () => {
    expect(sessionOptionsOf(parse('server', ['--crypt', 'aes-256'])).crypt).toBe('aes');
    expect(sessionOptionsOf(parse('server', ['--crypt', 'salsa20'])).crypt).toBe('salsa20');
  });

  it("formats SNMP log names with Go's time layout and writes kcptun's CSV", () => {
    const d = new Date(2021, 8, 22, 7, 5, 3);
    expect(goTimeFormat('snmp-20060102.log', d)).toBe('snmp-20210922.log');
    expect(goTimeFormat('x-2006-01-02_15.04.05-Jan-Mon', d)).toBe('x-2021-09-22_07.05.03-Sep-Wed');
    const dir = mkdtempSync(join(tmpdir(), 'rxkcp-snmp-'));
    const snmp = new Snmp();
    snmp.BytesSent = 10;
    snmp.InPkts = 3;
    const file = appendSnmpLog(join(dir, 'snmp-20060102.log'), snmp, d);
    appendSnmpLog(join(dir, 'snmp-20060102.log'), snmp, d);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(file.endsWith('snmp-20210922.log')).toBe(true);
    expect(lines).toHaveLength(3); // header once
    expect(lines[0]!.split(',').slice(0, 3)).toEqual(['Unix', 'BytesSent', 'BytesReceived']);
    expect(lines[0]!.split(',').at(-1)).toBe('FECShortShards');
    expect(lines[1]!.split(',')).toHaveLength(25);
    expect(lines[1]!.split(',')[1]).toBe('10');
    expect(lines[1]!.split(',')[10]).toBe('3');
  });
});

// ---- an rxkcp client and server over real sockets ----

const handles: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const h of handles.splice(0).reverse()) await h.close(); // last opened, first closed
});

async function tcpServer(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  handles.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { server, port: (server.address() as AddressInfo).port };
}

async function pair(targetPort: number, o: TunnelOptions & { conn?: number; autoExpire?: number } = {}): Promise<{ server: TunnelHandle; client: TunnelHandle; logs: string[] }> {
  const logs: string[] = [];
  const session = { crypt: 'aes' as const, key: 'tunnel-test', dataShards: 10, parityShards: 3, mtu: 1350, nodelay: 1, interval: 10, resend: 2, nc: 1, ...o.session };
  const server = await tunnelServer({ ...o, session, listen: '127.0.0.1:0', target: `127.0.0.1:${targetPort}`, log: (l) => logs.push(`S ${l}`) });
  handles.push(server);
  const client = await tunnelClient({ ...o, session, listen: '127.0.0.1:0', remote: `127.0.0.1:${server.address.port}`, log: (l) => logs.push(`C ${l}`) });
  handles.push(client);
  return { server, client, logs };
}

function until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('rxkcp tunnel client ⇄ rxkcp tunnel server (127.0.0.1)', () => {
  it('half-close passes through: the TCP client sends and shuts down, the target answers after the FIN, both ends close', async () => {
    let targetSawEnd = false;
    const { port } = await tcpServer((s) => {
      let req = '';
      s.on('data', (d: Buffer) => (req += d.toString()));
      s.on('end', () => {
        targetSawEnd = true;
        s.end(`reply to ${req}`);
      });
    });
    const { client, server, logs } = await pair(port, { smux: { version: 2 } });
    const sock = connect(client.address.port, '127.0.0.1');
    let reply = '';
    let closed = false;
    sock.on('data', (d: Buffer) => (reply += d.toString()));
    sock.on('close', () => (closed = true));
    sock.end('hello');
    await until(() => closed, 'the client socket to close');
    expect(targetSawEnd).toBe(true);
    expect(reply).toBe('reply to hello');
    await until(() => server.stats().streams === 0 && client.stats().streams === 0, 'streams to close');
    expect(logs.filter((l) => l.includes('stream opened'))).toHaveLength(2);
    expect(logs.filter((l) => l.includes('stream closed'))).toHaveLength(2);
    expect(client.stats()).toMatchObject({ sessions: 1, streamsTotal: 1, tcpBytesIn: 5, tcpBytesOut: 14 });
  });

  it('30 connections at once, echoed byte-exact; conn=2 spreads them over two sessions', async () => {
    const { port } = await tcpServer((s) => s.pipe(s));
    const { client, server } = await pair(port, { conn: 2 });
    const n = 256 * 1024;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        new Promise<string | null>((resolve) => {
          const sock = connect(client.address.port, '127.0.0.1');
          const v = new PatternVerifier(i * 1000);
          sock.on('data', (d: Buffer) => {
            if (!v.push(d)) resolve(v.error);
            else if (v.offset === i * 1000 + n) sock.end();
          });
          sock.on('close', () => resolve(v.offset === i * 1000 + n ? null : `stream ${i}: ${v.offset - i * 1000} of ${n}`));
          sock.on('error', (e) => resolve(e.message));
          sock.write(patternBytes(i * 1000, n));
        })
      )
    );
    expect(results.filter((r) => r !== null)).toEqual([]);
    expect(client.stats().sessions).toBe(2);
    expect(server.stats().sessions).toBe(2);
    expect(server.stats().streamsTotal).toBe(30);
    await until(() => server.stats().streams === 0, 'server streams to close');
  });

  it("a target that refuses closes the stream: the TCP client sees its end, the failure is counted", async () => {
    // a server whose target is a port nobody listens on
    const dead = await tunnelServer({ listen: '127.0.0.1:0', target: '127.0.0.1:1', session: { crypt: 'none', key: 'x' } });
    handles.push(dead);
    const c2 = await tunnelClient({ listen: '127.0.0.1:0', remote: `127.0.0.1:${dead.address.port}`, session: { crypt: 'none', key: 'x' } });
    handles.push(c2);
    const sock = connect(c2.address.port, '127.0.0.1');
    sock.on('error', () => {});
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.resume();
    await until(() => closed, 'the connection to a dead target to be closed');
    expect(dead.stats().streamsFailed).toBe(1);
  });

  it("closing the client sends its streams' FINs: the server closes their target connections without waiting for keepalive", async () => {
    let targetClosed = 0;
    const { port } = await tcpServer((s) => {
      s.pipe(s);
      s.on('close', () => targetClosed++);
    });
    // a keepalive timeout far longer than the wait below: only a FIN can close the streams in time
    const { client, server } = await pair(port, { smux: { keepAliveInterval: 10_000, keepAliveTimeout: 600_000 } });
    const socks = [0, 1, 2].map(() => connect(client.address.port, '127.0.0.1'));
    await Promise.all(
      socks.map((sk) => {
        sk.on('error', () => {});
        sk.write('x');
        return new Promise((r) => sk.once('data', r));
      })
    );
    expect(server.stats().streams).toBe(3);
    await client.close();
    await until(() => server.stats().streams === 0 && targetClosed === 3, 'the server to see the FINs', 20_000);
  });

  it('autoexpire: a new session after expiry, the old one keeps its streams', async () => {
    const { port } = await tcpServer((s) => s.pipe(s));
    const { client, server } = await pair(port, { autoExpire: 1 });
    const first = connect(client.address.port, '127.0.0.1');
    first.write('a');
    await new Promise((r) => first.once('data', r));
    await new Promise((r) => setTimeout(r, 1200));
    const second = connect(client.address.port, '127.0.0.1');
    second.write('b');
    await new Promise((r) => second.once('data', r));
    expect(server.stats().sessions).toBe(2);
    first.write('c'); // the expired session still carries its stream
    const c = await new Promise<Buffer>((r) => first.once('data', r));
    expect(c.toString()).toBe('c');
    first.destroy();
    second.destroy();
  });
});

/** Echoes `n` pattern bytes through a tunnel client and returns what was wrong, or null. */
function echoThrough(clientPort: number, n: number, start = 0): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect(clientPort, '127.0.0.1');
    const v = new PatternVerifier(start);
    sock.on('data', (d: Buffer) => {
      if (!v.push(d)) resolve(v.error);
      else if (v.offset === start + n) sock.end();
    });
    sock.on('close', () => resolve(v.offset === start + n ? null : `${v.offset - start} of ${n} bytes`));
    sock.on('error', (e) => resolve(e.message));
    sock.write(patternBytes(start, n));
  });
}

/** A tunnel server on `count` consecutive UDP ports (a range has to be fixed ports: tries random bases until one is free). */
async function serverOnRange(count: number, o: Omit<Parameters<typeof tunnelServer>[0], 'listen'>): Promise<{ server: TunnelHandle; min: number }> {
  for (let attempt = 0; ; attempt++) {
    const min = 20_000 + Math.floor(Math.random() * 40_000);
    try {
      const server = await tunnelServer({ ...o, listen: `127.0.0.1:${min}-${min + count - 1}` });
      handles.push(server);
      return { server, min };
    } catch (e) {
      if (attempt >= 20 || !/EADDRINUSE/.test(String(e))) throw e;
    }
  }
}

describe("rxkcp tunnel: both smux generations and the last release's settings", () => {
  const session = { crypt: 'aes' as const, key: 'tunnel-test', nodelay: 1, interval: 10, resend: 2, nc: 1 };

  it('one server takes a v1 client and a v2 client at once, each session in its own version', async () => {
    const { port } = await tcpServer((s) => s.pipe(s));
    const logs: string[] = [];
    const server = await tunnelServer({ session, smux: { version: 2 }, listen: '127.0.0.1:0', target: `127.0.0.1:${port}`, log: (l) => logs.push(l) });
    handles.push(server);
    const clients = await Promise.all(
      ([1, 2] as const).map((version) => tunnelClient({ session, smux: { version }, listen: '127.0.0.1:0', remote: `127.0.0.1:${server.address.port}` }))
    );
    handles.push(...clients);
    const results = await Promise.all(clients.map((c, i) => echoThrough(c.address.port, 300_000, i * 7)));
    expect(results).toEqual([null, null]);
    expect(server.stats().sessions).toBe(2);
    // v2 flow control ran on one session only: UPDs came from the v2 client alone
    expect(clients[0]!.stats().smux.updsOut).toBe(0);
    expect(clients[1]!.stats().smux.updsOut).toBeGreaterThan(0);
    expect(server.stats().smux.updsIn).toBe(clients[1]!.stats().smux.updsOut);
  });

  it('a final-release-style config: smux v2, framesize, ratelimit, closewait, QPP and port ranges on both ends', async () => {
    let targetSawEnd = false;
    const { port } = await tcpServer((s) => {
      s.pipe(s);
      s.on('end', () => (targetSawEnd = true));
    });
    const qpp = { seed: 'a-final-release-style-key', pads: 61 };
    const common = { smux: { version: 2 as const, maxFrameSize: 8192 }, closeWait: 1, qpp };
    const serverLog: string[] = [];
    const { server, min } = await serverOnRange(3, { ...common, session: { ...session, rateLimit: 50_000_000 }, target: `127.0.0.1:${port}`, log: (l) => serverLog.push(l) });
    expect(server.addresses.map((a) => a.port)).toEqual([min, min + 1, min + 2]);
    const client = await tunnelClient({ ...common, session: { ...session, rateLimit: 50_000_000 }, conn: 3, listen: '127.0.0.1:0', remote: `127.0.0.1:${min}-${min + 2}` });
    handles.push(client);
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => echoThrough(client.address.port, 200_000, i * 1000)));
    expect(results).toEqual([null, null, null, null, null, null]);
    expect(client.stats().sessions).toBe(3);
    expect(server.stats().sessions).toBe(3);
    // the client's three sessions went to the range's three ports, one each
    const ports = serverLog.filter((l) => l.startsWith('smux version:')).map((l) => Number(/on connection: :(\d+)/.exec(l)![1]));
    expect(ports.sort()).toEqual([min, min + 1, min + 2]);
    // the client's FIN reached the target, after closewait
    await until(() => targetSawEnd, 'the FIN to pass after closewait');
  });

  it('QPP changes the bytes on the stream: a server with QPP and a client without it deliver garbage', async () => {
    const got: Buffer[] = [];
    const { port } = await tcpServer((s) => {
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end());
    });
    const server = await tunnelServer({ session, qpp: { seed: 'k', pads: 7 }, listen: '127.0.0.1:0', target: `127.0.0.1:${port}` });
    handles.push(server);
    const client = await tunnelClient({ session, listen: '127.0.0.1:0', remote: `127.0.0.1:${server.address.port}` });
    handles.push(client);
    const sock = connect(client.address.port, '127.0.0.1');
    sock.on('error', () => {});
    const sent = patternBytes(0, 4096);
    sock.write(sent);
    await until(() => got.reduce((n, b) => n + b.length, 0) >= 4096, 'the bytes to reach the target');
    const arrived = Buffer.concat(got);
    expect(arrived.length).toBe(4096);
    expect(arrived.equals(Buffer.from(sent))).toBe(false);
    sock.destroy();
  });
});

describe('rxkcp tunnel client on a Unix socket', () => {
  it('a client -l of a path (not HOST:PORT) listens on a Unix socket, as kcptun\'s last release does', async () => {
    const { port } = await tcpServer((s) => s.pipe(s));
    const session = { crypt: 'none' as const, key: 'unix' };
    const server = await tunnelServer({ session, listen: '127.0.0.1:0', target: `127.0.0.1:${port}` });
    handles.push(server);
    const path = join(mkdtempSync(join(tmpdir(), 'rxkcp-unix-')), 'tunnel.sock');
    const client = await tunnelClient({ session, listen: path, remote: `127.0.0.1:${server.address.port}` });
    handles.push(client);
    expect(client.address).toEqual({ address: path, port: 0 });
    const sock = connect(path);
    sock.write('over a unix socket');
    const got = await new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
    expect(got).toBe('over a unix socket');
    sock.destroy();
  });
});
