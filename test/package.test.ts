/**
 * The published package as a user meets it: `npm pack` of a copy of the working tree without
 * dist/ (so `prepack` must build it), the tarball installed with rxjs into a fresh application,
 * and from there every entry point loaded both ways, a KcpError raised inside `rxkcp/io` (a dial
 * with failFast to a closed port on 127.0.0.1) recognised by every entry point's KcpError, a
 * conversation pair run through `rxkcp/testing`'s virtual network in virtual time, and the
 * `rxkcp` command answering --help. The copy keeps the shared dist/ of the tree untouched.
 *
 * npm installs rxkcp's dependencies and rxjs from its cache first (`--prefer-offline`); `npm ci`
 * has put them there.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reusePortAvailable } from '../operators/transport/workers.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

let work = '';
let tarball = '';
let app = '';

async function npm(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('npm', args, { cwd, maxBuffer: 64 << 20, env: { ...process.env, npm_config_update_notifier: 'false' } });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rxkcp-package-'));
  // the working tree as git sees it (tracked and new files, nothing ignored: no dist/, no node_modules/)
  const src = join(work, 'src');
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, maxBuffer: 64 << 20 });
  for (const file of stdout.split('\0')) {
    if (file === '' || file === 'node_modules' || !existsSync(join(root, file))) continue; // a tracked file deleted in the tree
    mkdirSync(dirname(join(src, file)), { recursive: true });
    cpSync(join(root, file), join(src, file));
  }
  symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'), 'dir');
  const packDir = join(work, 'pack');
  mkdirSync(packDir);
  await npm(src, ['pack', '--pack-destination', packDir]); // its prepack builds dist/ in the copy
  const packed = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = join(packDir, packed[0]!);

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rxkcp-package-test-app', private: true, version: '1.0.0' }));
  const rxjs = (JSON.parse(readFileSync(join(root, 'node_modules/rxjs/package.json'), 'utf8')) as { version: string }).version;
  await npm(app, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball, `rxjs@${rxjs}`]);
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * The body both module systems run: loads every entry, then dials a closed UDP port on 127.0.0.1
 * with failFast, so the session ends with the KcpError made inside rxkcp/io; prints one JSON line.
 */
const BODY = `
const entries = { 'rxkcp': main, 'rxkcp/core': core, 'rxkcp/node': node, 'rxkcp/io': io, 'rxkcp/testing': testing };
const { createSocket } = dgram;
const probe = createSocket('udp4');
await new Promise((resolve) => probe.bind(0, '127.0.0.1', resolve));
const port = probe.address().port;
await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
const session = await io.dial({ connect: '127.0.0.1:' + port, crypt: 'none', dataShards: 0, parityShards: 0, failFast: true });
const ended = new Promise((resolve) => session.data$.subscribe({ error: resolve, complete: () => resolve(null) }));
session.send(new Uint8Array([1, 2, 3])).catch(() => {});
const timer = setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(2); }, 20000);
const err = await ended;
clearTimeout(timer);
session.close();
console.log(JSON.stringify({
  // which entry points export each of these names
  // names exported by more than one entry point (runtime values; types are checked by the API report)
  shared: [...new Set(Object.values(entries).flatMap((m) => Object.keys(m).filter((n) => n !== 'default' && n !== '__esModule')))].filter((n) => Object.values(entries).filter((m) => n in m).length > 1),
  exportedBy: Object.fromEntries(['KcpError', 'Prng', 'KcpPair', 'LossyLink', 'virtualNetwork'].map((n) => [n, Object.keys(entries).filter((k) => n in entries[k])])),
  code: err && err.code,
  name: err && err.name,
  instanceOfCore: err instanceof core.KcpError,
  api: { Conversation: typeof main.Conversation, Kcp: typeof core.Kcp, dial: typeof io.dial, Listener: typeof io.Listener, nodeExports: Object.keys(node).length },
  testing: {
    withVirtualTime: typeof testing.withVirtualTime,
    // a conversation pair in virtual time over a lossy virtual network, as the README shows it
    virtual: testing.withVirtualTime(({ clock, scheduler, advance, now }) => {
      const a = new main.Conversation({ conv: 9, clock, crypt: core.createCrypt('none', new Uint8Array(0)) });
      const b = new main.Conversation({ conv: 9, clock, crypt: core.createCrypt('none', new Uint8Array(0)) });
      const net = testing.virtualNetwork(a, b, { ab: { seed: 3, loss: 0.2, delay: 20 }, ba: { seed: 4, delay: 20 }, scheduler });
      const v = new testing.PatternVerifier();
      b.data$.subscribe((m) => v.push(m));
      a.send(testing.patternBytes(0, 20000)).catch(() => {});
      advance(30000);
      a.close({ linger: false }); b.close({ linger: false }); net.unsubscribe();
      return { received: v.offset, error: v.error, now: now() };
    }),
  },
}));
process.exit(0);
`;
const ESM = `import * as main from 'rxkcp'; import * as core from 'rxkcp/core'; import * as node from 'rxkcp/node'; import * as io from 'rxkcp/io'; import * as testing from 'rxkcp/testing'; import dgram from 'node:dgram';\n${BODY}`;
const CJS = `const main = require('rxkcp'), core = require('rxkcp/core'), node = require('rxkcp/node'), io = require('rxkcp/io'), testing = require('rxkcp/testing'), dgram = require('node:dgram');\n(async () => {\n${BODY}\n})().catch((e) => { console.error(e); process.exit(1); });`;

async function runIn(file: string, text: string): Promise<Record<string, unknown>> {
  writeFileSync(join(app, file), text);
  try {
    const { stdout } = await run(process.execPath, [file], { cwd: app, timeout: 60_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`node ${file}: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

const expected = {
  shared: [],
  exportedBy: { KcpError: ['rxkcp/core'], Prng: ['rxkcp/testing'], KcpPair: ['rxkcp/testing'], LossyLink: ['rxkcp/testing'], virtualNetwork: ['rxkcp/testing'] },
  code: 'UNREACHABLE',
  name: 'KcpError',
  instanceOfCore: true,
  api: { Conversation: 'function', Kcp: 'function', dial: 'function', Listener: 'function' },
  testing: { withVirtualTime: 'function', virtual: { received: 20000, error: null, now: 30000 } },
};

describe('the packed rxkcp installed in a fresh application', () => {
  it('ships built JavaScript, CommonJS and ESM declarations and the LICENSE, without source maps or sources', async () => {
    const files = await listTarball();
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/README.md');
    for (const f of ['index', 'core', 'node', 'io', 'testing']) {
      expect(files).toContain(`package/dist/${f}.js`);
      expect(files).toContain(`package/dist/${f}.cjs`);
    }
    expect(files).toContain('package/dist/cli.js');
    expect(files).toContain('package/dist/cli-worker.js');
    expect(files).toContain('package/dist/worker.js');
    expect(files).toContain('package/dist/operators/index.d.ts');
    expect(files).toContain('package/dist/operators/index.d.cts');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => /\.(ts|cts|mts)$/.test(f) && !/\.d\.(ts|cts|mts)$/.test(f))).toEqual([]);
    const license = readFileSync(join(app, 'node_modules/rxkcp/LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License/);
    expect(license).toContain('Copyright (c) rxkcp contributors');
  });

  it('ESM: every entry point imports, each name comes from one of them, and a KcpError from rxkcp/io is an instance of rxkcp/core’s KcpError', async () => {
    const out = await runIn('check.mjs', ESM);
    expect(out).toMatchObject(expected);
    expect((out.api as { nodeExports: number }).nodeExports).toBeGreaterThan(1);
  }, 90_000);

  it('CommonJS: every entry point requires, each name comes from one of them, and a KcpError from rxkcp/io is an instance of rxkcp/core’s KcpError', async () => {
    const out = await runIn('check.cjs', CJS);
    expect(out).toMatchObject(expected);
    expect((out.api as { nodeExports: number }).nodeExports).toBeGreaterThan(1);
  }, 90_000);

  it('the rxkcp command runs --help', async () => {
    const bin = join(app, 'node_modules/.bin/rxkcp');
    const { stdout } = await run(bin, ['--help'], { cwd: app, timeout: 60_000 });
    expect(stdout).toMatch(/rxkcp/);
    expect(stdout).toMatch(/echo/);
    expect(stdout).toMatch(/send/);
  }, 90_000);
});

/**
 * A worker listener from the installed package: its worker entry (dist/worker.js) and a handler
 * module of the application's own, two workers, four clients echoed; one JSON line.
 */
const WORKERS_HANDLER = `import { echo } from 'rxkcp/io';
export default function (session, context) { context.counters.sessions = (context.counters.sessions ?? 0) + 1; echo(session); }
`;
const WORKERS_BODY = (handler: string) => `
const server = await io.listenWorkers({ listen: '127.0.0.1:0', workers: 2, handler: ${handler}, crypt: 'aes', key: 'package' });
const lengths = await Promise.all([1, 2, 3, 4].map(async (i) => {
  const s = await io.dial({ connect: '127.0.0.1:' + server.address.port, crypt: 'aes', key: 'package' });
  const back = new Promise((resolve) => s.data$.subscribe((m) => resolve(m.length)));
  await s.send(new Uint8Array(100 * i));
  const n = await back;
  s.close();
  return n;
}));
const st = await server.stats();
await server.close();
console.log(JSON.stringify({ lengths, workers: st.workers.length, sessions: st.total.counters.sessions }));
process.exit(0);
`;

describe.runIf(reusePortAvailable())('listenWorkers from the installed package', () => {
  const want = { lengths: [100, 200, 300, 400], workers: 2, sessions: 4 };
  it('ESM: workers load dist/worker.js and the application\'s handler module', async () => {
    writeFileSync(join(app, 'handler.mjs'), WORKERS_HANDLER);
    expect(await runIn('workers.mjs', `import * as io from 'rxkcp/io';\n${WORKERS_BODY("new URL('./handler.mjs', import.meta.url)")}`)).toEqual(want);
  }, 90_000);

  it('CommonJS: the same from require(), the handler given as a path', async () => {
    writeFileSync(join(app, 'handler.mjs'), WORKERS_HANDLER);
    expect(await runIn('workers.cjs', `const io = require('rxkcp/io'), path = require('node:path');\n(async () => {\n${WORKERS_BODY("path.join(__dirname, 'handler.mjs')")}\n})().catch((e) => { console.error(e); process.exit(1); });`)).toEqual(want);
  }, 90_000);
});

async function listTarball(): Promise<string[]> {
  const { stdout } = await run('tar', ['tzf', tarball], { maxBuffer: 16 << 20 });
  return stdout.split('\n').filter((l) => l !== '');
}

