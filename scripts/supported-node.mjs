#!/usr/bin/env node
/**
 * Runs a command under a supported Node. `npm start` and `npm test` go through here:
 *
 *   node scripts/supported-node.mjs vitest run [args...]
 *
 * On Node >= 22.12 the command runs as it is. On an older Node (20 is end-of-life; rxkcp's worker
 * listeners need dgram's `reusePort`, which came in 22.12) the pinned Node 24 LTS is fetched once
 * from the npm registry (the `node-<platform>-<arch>` package, the official binary) into `.node/`
 * in this clone, and the command runs with it first on PATH. `RXKCP_FETCH_NODE=0` refuses instead,
 * with a one-line message. Written for any Node from 14 on, so that an old one gets that message
 * and not a syntax error.
 *
 *   node scripts/supported-node.mjs --fetch 24   installs the pinned Node 24 (or 22) into .node/
 *                                                and prints its bin directory (what .ci/run uses)
 */
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The oldest Node rxkcp supports: dgram `reusePort` (worker listeners) came in 22.12. */
const MIN = [22, 12];
/** The Node versions CI tests and this script fetches, by major: the current LTS releases. */
const PINNED = { 24: '24.22.3', 22: '22.23.5' };
/** What an old Node runs under. */
const DEFAULT_MAJOR = 24;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  process.stderr.write(`rxkcp: ${message}\n`);
  process.exit(1);
}

function supported(version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return major > MIN[0] || (major === MIN[0] && minor >= MIN[1]);
}

/** The npm package holding the official Node binary for this machine. */
function binaryPackage() {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win' }[process.platform];
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
  return os && arch ? `node-${os}-${arch}` : undefined;
}

/** Installs the pinned Node of `major` into .node/<version> (once) and returns its bin directory. */
function fetchNode(major) {
  const version = PINNED[major];
  if (!version) fail(`no pinned Node ${major}; the pinned ones are ${Object.values(PINNED).join(', ')}`);
  const pkg = binaryPackage();
  if (!pkg) fail(`Node ${process.versions.node} is older than ${MIN.join('.')}, and there is no Node package for ${process.platform}-${process.arch} to fetch: install Node 22.12+ or 24`);
  const prefix = join(root, '.node', version);
  const bin = join(prefix, 'node_modules', pkg, 'bin');
  if (existsSync(join(bin, process.platform === 'win32' ? 'node.exe' : 'node'))) return bin;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `${pkg}@${version}`], { stdio: ['ignore', 'ignore', 'inherit'], shell: process.platform === 'win32' });
  if (r.status !== 0 || !existsSync(bin)) fail(`could not fetch Node ${version} (${pkg}) from the npm registry: install Node 22.12+ or 24 yourself`);
  return bin;
}

const args = process.argv.slice(2);
if (args[0] === '--fetch') {
  process.stdout.write(`${fetchNode(Number(args[1] ?? DEFAULT_MAJOR))}\n`);
  process.exit(0);
}
if (args.length === 0) fail('usage: node scripts/supported-node.mjs COMMAND [ARGS...]');

const env = { ...process.env };
if (!supported(process.versions.node)) {
  if (process.env.RXKCP_FETCH_NODE === '0') fail(`Node ${process.versions.node} is too old: rxkcp needs Node ${MIN.join('.')} or later (24 LTS recommended); unset RXKCP_FETCH_NODE to have npm fetch Node ${PINNED[DEFAULT_MAJOR]} into .node/`);
  const bin = fetchNode(DEFAULT_MAJOR);
  process.stderr.write(`rxkcp: Node ${process.versions.node} is older than ${MIN.join('.')}: running under Node ${PINNED[DEFAULT_MAJOR]} from .node/\n`);
  env.PATH = `${bin}${delimiter}${env.PATH ?? ''}`;
}
const child = spawn(args[0], args.slice(1), { stdio: 'inherit', env, shell: process.platform === 'win32' });
// Ctrl-C reaches the child from the terminal itself; a signal sent to this process alone is passed on
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (e) => fail(`${args[0]}: ${e.message}`));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
