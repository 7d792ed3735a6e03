/**
 * rxkcp's tunnel: kcptun's command line as rxkcp reads it, and an rxkcp client and server joined
 * over real sockets on 127.0.0.1 (the interop suite puts kcptun on either end).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Snmp } from '../src/stats.js';
import { appendSnmpLog, goTimeFormat, parseTunnelArgs, sessionOptionsOf, smuxConfigOf, TunnelUsageError, type TunnelConfig } from '../cli/tunnel-cli.js';
import { tunnelClient, tunnelServer, type TunnelHandle, type TunnelOptions } from '../operators/io/tunnel.js';
import { patternBytes, PatternVerifier } from '../operators/io/pattern.js';

const parse = (role: 'client' | 'server', argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) =>
  parseTunnelArgs(role, argv, env, (p) => {
    if (!(p in files)) throw new Error(`ENOENT ${p}`);
    return files[p]!;
  }) as TunnelConfig;

describe("kcptun's command line", () => {
  it("has kcptun's defaults for each role", () => {
    const s = parse('server', []);
    expect(s).toMatchObject({ listen: ':29900', target: '127.0.0.1:12948', key: "it's a secrect", crypt: 'aes', mode: 'fast', mtu: 1350, sndwnd: 1024, rcvwnd: 1024, datashard: 10, parityshard: 3, nocomp: false, sockbuf: 4194304, smuxver: 1, smuxbuf: 4194304, streambuf: 2097152, keepalive: 10, snmpperiod: 60 });
    // mode fast sets the nodelay parameters
    expect([s.nodelay, s.interval, s.resend, s.nc]).toEqual([0, 30, 2, 1]);
    const c = parse('client', []);
    expect(c).toMatchObject({ localaddr: ':12948', remoteaddr: 'vps:29900', sndwnd: 128, rcvwnd: 512, conn: 1, autoexpire: 0, scavengettl: 600 });
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
    const files = { '/c.json': JSON.stringify({ key: 'json', listen: ':2000', target: '127.0.0.1:9999', mode: 'fast2', nocomp: true, sndwnd: 2048, unknown: 1 }) };
    const c = parse('server', ['-c', '/c.json', '--key', 'flag', '--sndwnd', '5'], {}, files);
    expect(c).toMatchObject({ key: 'json', listen: ':2000', target: '127.0.0.1:9999', mode: 'fast2', nocomp: true, sndwnd: 2048 });
    expect([c.nodelay, c.interval]).toEqual([1, 20]);
    expect(() => parse('server', ['-c', '/c.json'], {}, { '/c.json': '{"mtu": "1400"}' })).toThrow(/"mtu" must be an integer/);
    expect(() => parse('server', ['-c', '/missing.json'])).toThrow(TunnelUsageError);
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
      // the examples ask for DSCP 46, which rxkcp refuses; everything else is read
      expect(() => parse(role, ['-c', file], {}, { [file]: text })).toThrow(/--dscp is not supported/);
      const c = parse(role, ['-c', file], {}, { [file]: text.replace('"dscp": 46', '"dscp": 0') });
      expect(c).toMatchObject({ key: 'PASSWORD', crypt: 'aes-128', mode: 'fast3', mtu: 1400, nocomp: true, sockbuf: 16777217, smuxbuf: 16777217 });
      expect(sessionOptionsOf(c)).toMatchObject({ crypt: 'aes-128', password: 'PASSWORD', mtu: 1400, dataShards: 10, parityShards: 3, nodelay: 1, interval: 10 });
      expect(smuxConfigOf(c)).toEqual({ version: 1, maxReceiveBuffer: 16777217, maxStreamBuffer: 2097152, keepAliveInterval: 10_000 });
    }
  });

  it('refuses what rxkcp cannot do, and what smux would refuse, with a clear message', () => {
    expect(() => parse('client', ['--tcp'])).toThrow(/--tcp .* not supported/);
    expect(() => parse('server', ['--dscp', '46'])).toThrow(/--dscp is not supported/);
    expect(() => parse('server', ['--pprof'])).toThrow(/--pprof/);
    expect(() => parse('server', ['--smuxver', '3'])).toThrow(/unsupported smux version: 3/);
    expect(() => smuxConfigOf(parse('server', ['--keepalive', '31']))).toThrow(/keep-alive timeout/);
    expect(() => smuxConfigOf(parse('server', ['--streambuf', String(8 << 20)]))).toThrow(/stream buffer/);
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
  const session = { crypt: 'aes' as const, password: 'tunnel-test', dataShards: 10, parityShards: 3, mtu: 1350, nodelay: 1, interval: 10, resend: 2, nc: 1, ...o.session };
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
    const dead = await tunnelServer({ listen: '127.0.0.1:0', target: '127.0.0.1:1', session: { crypt: 'none', password: 'x' } });
    handles.push(dead);
    const c2 = await tunnelClient({ listen: '127.0.0.1:0', remote: `127.0.0.1:${dead.address.port}`, session: { crypt: 'none', password: 'x' } });
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
