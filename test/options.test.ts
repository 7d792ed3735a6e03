/**
 * Session options as users pass them: every option is checked when `Listener.listen`, `dial` or
 * `new Conversation` is called, before a socket is bound, with an error naming the option and what
 * it may be; a dial that fails leaves no socket behind; `mode` gives the CLI's timing profiles;
 * `key` takes kcptun's secret string or raw bytes.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { firstValueFrom } from 'rxjs';
import { portFree } from './helpers/sockets.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Conversation } from '../operators/conversation/conversation.js';
import { MODES } from '../operators/conversation/options.js';
import { sessionOptions } from '../cli/cli.js';
import { dial, type DialOptions } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import type { Session } from '../operators/transport/session.js';
import { parseHostPort } from '../operators/transport/udp.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** A port on 127.0.0.1 nothing is bound to now. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}


type Bad = [what: string, options: Record<string, unknown>, type: typeof RangeError | typeof TypeError, message: RegExp];

/** Bad options both `listen` and `dial` take, with the error each must give. */
const BAD: Bad[] = [
  ['sndWnd 0', { sndWnd: 0 }, RangeError, /sndWnd must be an integer 1\.\.65535, got 0/],
  ['rcvWnd 70000', { rcvWnd: 70000 }, RangeError, /rcvWnd must be an integer 1\.\.65535, got 70000/],
  ['sndWnd 1.5', { sndWnd: 1.5 }, RangeError, /sndWnd must be an integer 1\.\.65535, got 1\.5/],
  ['mtu 20', { mtu: 20 }, RangeError, /mtu must be an integer 50\.\.1500, got 20/],
  ['mtu 1600', { mtu: 1600 }, RangeError, /mtu must be an integer 50\.\.1500, got 1600/],
  ['dataShards 300', { dataShards: 300, parityShards: 3 }, RangeError, /dataShards must be an integer 0\.\.255, got 300/],
  ['parityShards -1', { dataShards: 10, parityShards: -1 }, RangeError, /parityShards must be an integer 0\.\.255, got -1/],
  ['200 + 100 shards', { dataShards: 200, parityShards: 100 }, RangeError, /dataShards \+ parityShards must be at most 256, got 300/],
  ['interval 0', { interval: 0 }, RangeError, /interval must be an integer 10\.\.5000 \(ms\), got 0/],
  ['interval 6000', { interval: 6000 }, RangeError, /interval must be an integer 10\.\.5000 \(ms\), got 6000/],
  ['nodelay 5', { nodelay: 5 }, RangeError, /nodelay must be an integer 0\.\.2, got 5/],
  ['resend -1', { resend: -1 }, RangeError, /resend must be an integer 0\.\./],
  ['nc 2', { nc: 2 }, RangeError, /nc must be an integer 0\.\.1, got 2/],
  ['deadLink 0', { deadLink: 0 }, RangeError, /deadLink must be an integer 1\.\./],
  ['stream "yes"', { stream: 'yes' }, TypeError, /stream must be a boolean, got "yes"/],
  ['crypt bogus', { crypt: 'bogus' }, RangeError, /crypt must be one of aes, .*, got "bogus"/],
  ['crypt aes without a key', { crypt: 'aes' }, TypeError, /crypt aes needs a key/],
  ['key 42', { crypt: 'aes', key: 42 }, TypeError, /key must be a string \(kcptun's secret\) or a Uint8Array \(a raw key\), got 42/],
  ['password (a session without crypt would otherwise run unencrypted)', { password: 'b' }, TypeError, /there is no password option: kcptun's secret is key/],
  ['raw key of the wrong length', { crypt: 'aes-128', key: new Uint8Array(5) }, RangeError, /aes-128.*16/],
  ['mode turbo', { mode: 'turbo' }, RangeError, /mode must be one of normal, fast, fast2, fast3, got "turbo"/],
  ['idleTimeout 0', { idleTimeout: 0 }, RangeError, /idleTimeout must be a number > 0 \(ms\), got 0/],
  ['rateLimit -1', { rateLimit: -1 }, RangeError, /rateLimit must be a number > 0 \(bytes\/s\), got -1/],
  ['sockbuf 0', { sockbuf: 0 }, RangeError, /sockbuf must be an integer 1\.\./],
  ['antiReplay with CFB', { crypt: 'aes', key: 'k', antiReplay: 64 }, RangeError, /antiReplay needs an AEAD cipher/],
  ['mtu leaving no room for KCP', { crypt: 'aes-128-gcm', key: 'k', mtu: 60, dataShards: 10, parityShards: 3 }, RangeError, /mtu 60 leaves no room/],
];

describe('bad options are refused when the call is made, before a socket is bound', () => {
  for (const [what, bad, type, message] of BAD) {
    it(`${what}: listen and dial throw ${type.name} naming it, and bind nothing`, async () => {
      const port = await freePort();
      const listening = Listener.listen({ listen: `127.0.0.1:${port}`, ...bad } as never);
      const err1 = await listening.then((l) => (l.close(), 'listen resolved'), (e: unknown) => e);
      expect(err1).toBeInstanceOf(type);
      expect((err1 as Error).message).toMatch(message);
      expect((err1 as Error).message).toMatch(/^listen: /);
      expect(await portFree(port)).toBe(true);

      const local = await freePort();
      const dialling = dial({ connect: '127.0.0.1:9', localPort: local, ...bad } as DialOptions);
      const err2 = await dialling.then((s) => (s.close(), 'dial resolved'), (e: unknown) => e);
      expect(err2).toBeInstanceOf(type);
      expect((err2 as Error).message).toMatch(message);
      expect((err2 as Error).message).toMatch(/^dial: /);
      expect(await portFree(local)).toBe(true);
    });
  }

  for (const [what, bad, message] of [
    ['connectTimeout 0', { connectTimeout: 0 }, /connectTimeout must be a number > 0 \(ms\), or false for none, got 0/],
    ['conv -1', { conv: -1 }, /conv must be an integer 0\.\.4294967295, got -1/],
    ['localPort 70000', { localPort: 70000 }, /localPort must be an integer 0\.\.65535, got 70000/],
  ] as const) {
    it(`dial: ${what} is refused`, async () => {
      await expect(dial({ connect: '127.0.0.1:9', ...bad } as DialOptions)).rejects.toThrow(message);
    });
  }

  it('new Conversation checks the same options with the same words (one validator)', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kcp: { nodelay: 5 } }, /^conversation: nodelay must be an integer 0\.\.2, got 5$/],
      [{ kcp: { interval: 0 } }, /^conversation: interval must be an integer 10\.\.5000 \(ms\), got 0$/],
      [{ kcp: { sndWnd: 0 } }, /^conversation: sndWnd must be an integer 1\.\.65535, got 0$/],
      [{ kcp: { nc: 2 } }, /^conversation: nc must be an integer 0\.\.1, got 2$/],
      [{ mtu: 20 }, /^conversation: mtu must be an integer 50\.\.1500, got 20$/],
      [{ rateLimit: 0 }, /^conversation: rateLimit must be a number > 0 \(bytes\/s\), got 0$/],
      [{ writeDelay: 1 }, /^conversation: writeDelay must be a boolean, got 1$/],
    ];
    for (const [bad, message] of cases) {
      expect(() => new Conversation({ conv: 1, ...bad } as never)).toThrow(message);
    }
  });

  it('a process whose dials failed (bad options, a local port in use) exits by itself', async () => {
    const dialTs = fileURLToPath(new URL('../operators/transport/dial.ts', import.meta.url));
    const code = `
      const { dial } = await import(${JSON.stringify(dialTs)});
      const { createSocket } = await import('node:dgram');
      for (const bad of [{ sndWnd: 0 }, { mtu: 20 }, { dataShards: 300, parityShards: 3 }]) {
        await dial({ connect: '127.0.0.1:9', ...bad }).then(() => console.log('resolved'), (e) => console.log(e.constructor.name));
      }
      const holder = createSocket('udp4');
      await new Promise((r) => holder.bind(0, '127.0.0.1', r));
      await dial({ connect: '127.0.0.1:9', localPort: holder.address().port }).then(() => console.log('resolved'), (e) => console.log(e.code));
      holder.close();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => child.exitCode === null && child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exit = await new Promise<number | string>((resolve) => {
      const t = setTimeout(() => resolve('still running after 15 s'), 15_000);
      child.on('exit', (c) => (clearTimeout(t), resolve(c ?? -1)));
    });
    expect(out.trim().split('\n')).toEqual(['RangeError', 'RangeError', 'RangeError', 'EADDRINUSE']);
    expect(exit).toBe(0);
  }, 30_000);
});

describe('mode: the timing profiles of the rxkcp command', () => {
  const timing = (s: Session) => {
    const k = s.conversation.kcp as unknown as { nodelay: number; interval: number; fastresend: number; nocwnd: number };
    return [k.nodelay, k.interval, k.fastresend, k.nocwnd];
  };

  async function pair(options: Record<string, unknown>): Promise<Session> {
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...options });
    cleanup.push(() => l.close());
    const s = await dial({ connect: `127.0.0.1:${l.address.port}`, ...options });
    cleanup.push(() => s.close());
    const server = firstValueFrom(l.sessions$);
    s.write(new Uint8Array(1));
    const srv = await server;
    expect(timing(srv)).toEqual(timing(s));
    return s;
  }

  it('the API and the CLI share one table: normal, fast, fast2, fast3 as kcptun has them', async () => {
    expect(MODES).toEqual({
      normal: { nodelay: 0, interval: 40, resend: 2, nc: 1 },
      fast: { nodelay: 0, interval: 30, resend: 2, nc: 1 },
      fast2: { nodelay: 1, interval: 20, resend: 2, nc: 1 },
      fast3: { nodelay: 1, interval: 10, resend: 2, nc: 1 },
    });
    for (const [mode, m] of Object.entries(MODES)) {
      const s = await pair({ mode });
      expect(timing(s)).toEqual([m.nodelay, m.interval, m.resend, m.nc]);
      const cli = sessionOptions({ mode });
      expect(cli.mode).toBe(mode);
    }
  });

  it('explicit nodelay, interval, resend and nc override the mode', async () => {
    expect(timing(await pair({ mode: 'fast3', interval: 25, resend: 0 }))).toEqual([1, 25, 0, 1]);
    expect(timing(await pair({ mode: 'normal', nodelay: 1, nc: 0 }))).toEqual([1, 40, 2, 0]);
  });

  it("without a mode the timing is kcp-go's default (nodelay 0, interval 100, resend 0, nc 0)", async () => {
    expect(timing(await pair({}))).toEqual([0, 100, 0, 0]);
  });
});

describe('key: a kcptun secret string or raw key bytes', () => {
  async function echoes(server: Record<string, unknown>, client: Record<string, unknown>): Promise<boolean> {
    const l = await Listener.listen({ listen: '127.0.0.1:0', mode: 'fast3', ...server });
    cleanup.push(() => l.close());
    l.sessions$.subscribe((s) => s.data$.subscribe((m) => s.write(m)));
    const s = await dial({ connect: `127.0.0.1:${l.address.port}`, mode: 'fast3', connectTimeout: 2000, ...client });
    cleanup.push(() => s.close());
    const reply = firstValueFrom(s.data$).then(
      (m) => m.length === 3,
      () => false
    );
    s.write(new Uint8Array([1, 2, 3]));
    return reply;
  }

  it('a string key is the secret kcptun derives the key from: the same secret talks, another does not', async () => {
    expect(await echoes({ crypt: 'aes', key: 'secret' }, { crypt: 'aes', key: 'secret' })).toBe(true);
    expect(await echoes({ crypt: 'salsa20', key: 'secret' }, { crypt: 'salsa20', key: 'secret' })).toBe(true);
    expect(await echoes({ crypt: 'aes', key: 'secret' }, { crypt: 'aes', key: 'other' })).toBe(false);
  });

  it('a Uint8Array key is the raw key; a key without crypt means aes', async () => {
    const raw = new Uint8Array(32).fill(7);
    expect(await echoes({ key: raw }, { crypt: 'aes', key: raw })).toBe(true);
    expect(await echoes({ key: 'secret' }, { crypt: 'aes', key: 'secret' })).toBe(true);
  });

  it('the CLI passes --key as the string key', () => {
    const o = sessionOptions({ key: 'abc' });
    expect(o.key).toBe('abc');
    expect(Object.keys(o)).not.toContain('password');
  });
});

describe('addresses', () => {
  it("takes kcptun's :PORT (every interface) as 0.0.0.0", () => {
    expect(parseHostPort(':29900')).toEqual({ host: '0.0.0.0', port: 29900 });
  });
});
