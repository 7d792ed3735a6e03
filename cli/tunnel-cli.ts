/**
 * `rxkcp tunnel client|server`: kcptun's command lines, flag for flag.
 *
 *   rxkcp tunnel server -l :29900 -t 127.0.0.1:22 --key secret --crypt aes --mode fast3
 *   rxkcp tunnel client -l :12948 -r server:29900 --key secret --crypt aes --mode fast3
 *
 * Flags take one dash or two (`-mode fast3`, `--mode=fast3`), booleans only as `--nocomp` or
 * `--nocomp=false`, as Go's flag package; `-c file.json` reads kcptun's JSON config, whose keys
 * override the command line (a key it does not know is refused, as an unknown flag is);
 * `KCPTUN_KEY` sets the key. Flags, keys, defaults, meanings and the mode table are those of
 * kcptun's last release (smux v2 by default: `--smuxver 1` reaches kcptun 20210922 and older
 * servers). `--dscp` and `--pprof` are read and logged as not applied; `--tcp`, which changes the
 * wire, is refused.
 * @module
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { CFB_CRYPT_NAMES, type CryptName } from '../src/crypt/crypt.js';
import { resolveSmuxConfig, type SmuxConfig } from '../src/smux/mux.js';
import { CC_NAMES, DEFAULT_CC } from '../src/kcp/cc-names.js';
import type { CcName } from '../src/kcp/cc.js';
import { SNMP_FIELDS, Snmp } from '../src/stats.js';
import { MODES, type Mode } from '../operators/conversation/options.js';
import type { SessionOptions } from '../operators/transport/session.js';
import { hostPort, kcptunSession, parsePortRange, tunnelClient, tunnelServer, type TunnelHandle } from '../operators/apps/tunnel.js';
import { listenWorkers, MAX_WORKERS } from '../operators/transport/workers.js';
import type { TunnelWorkerData } from './cli-worker.js';
import { cliWorkerModule, defaultWorkers } from './worker-defaults.js';
import { QPP_MIN_PADS, QPP_MIN_SEED_LENGTH } from '../src/qpp/qpp.js';

type Kind = 'string' | 'int' | 'bool';
interface Flag {
  name: string;
  alias?: string;
  kind: Kind;
  value: string | number | boolean;
  usage: string;
  hidden?: boolean;
  env?: string;
  /** The key in a `-c` JSON file when it is not the flag's name (kcptun's struct tags). */
  json?: string;
}

/** kcptun's flags as its last release has them, in its order (client/main.go, server/main.go). */
const common = (role: 'client' | 'server'): Flag[] => [
  { name: 'key', kind: 'string', value: "it's a secrect", usage: 'pre-shared secret between client and server', env: 'KCPTUN_KEY' },
  { name: 'crypt', kind: 'string', value: 'aes', usage: 'aes, aes-128, aes-128-gcm, aes-192, salsa20, blowfish, twofish, cast5, 3des, tea, xtea, xor, sm4, none, null (rxkcp also: aes-256-gcm, chacha20-poly1305)' },
  { name: 'mode', kind: 'string', value: 'fast', usage: 'profiles: fast3, fast2, fast, normal, manual' },
  { name: 'QPP', kind: 'bool', value: false, usage: 'enable Quantum Permutation Pads(QPP)', json: 'qpp' },
  { name: 'QPPCount', kind: 'int', value: 61, usage: 'the prime number of pads to use for QPP: The more pads you use, the more secure the encryption. Each pad requires 256 bytes.', json: 'qpp-count' },
  ...(role === 'client'
    ? ([
        { name: 'conn', kind: 'int', value: 1, usage: 'set num of UDP connections to server' },
        { name: 'autoexpire', kind: 'int', value: 0, usage: 'set auto expiration time(in seconds) for a single UDP connection, 0 to disable' },
        { name: 'scavengettl', kind: 'int', value: 600, usage: 'set how long an expired connection can live (in seconds)' },
      ] as Flag[])
    : []),
  { name: 'mtu', kind: 'int', value: 1350, usage: 'set maximum transmission unit for UDP packets' },
  { name: 'ratelimit', kind: 'int', value: 0, usage: 'set maximum outgoing speed (in bytes per second) for a single KCP connection, 0 to disable. Also known as packet pacing.' },
  { name: 'sndwnd', kind: 'int', value: role === 'client' ? 128 : 1024, usage: 'set send window size(num of packets)' },
  { name: 'rcvwnd', kind: 'int', value: role === 'client' ? 512 : 1024, usage: 'set receive window size(num of packets)' },
  { name: 'datashard', alias: 'ds', kind: 'int', value: 10, usage: 'set reed-solomon erasure coding - datashard' },
  { name: 'parityshard', alias: 'ps', kind: 'int', value: 3, usage: 'set reed-solomon erasure coding - parityshard' },
  { name: 'dscp', kind: 'int', value: 0, usage: 'set DSCP(6bit) (rxkcp: logged as not applied, Node cannot set it)' },
  { name: 'nocomp', kind: 'bool', value: false, usage: 'disable compression' },
  { name: 'acknodelay', kind: 'bool', value: false, usage: 'flush ack immediately when a packet is received', hidden: true },
  { name: 'nodelay', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'interval', kind: 'int', value: 50, usage: '', hidden: true },
  { name: 'resend', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'nc', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'cc', kind: 'string', value: '', usage: `rxkcp: the sender's congestion control, ${CC_NAMES.join(', ')} (default ${DEFAULT_CC}; docs/congestion-control.md)` },
  { name: 'sockbuf', kind: 'int', value: 4194304, usage: 'per-socket buffer in bytes' },
  {
    name: 'smuxver',
    kind: 'int',
    value: 2,
    usage: role === 'client' ? 'specify smux version, available 1,2 (1 for kcptun 20210922 and older servers)' : 'specify smux version, available 1,2 (rxkcp: the highest it takes; each session speaks its client\'s)',
  },
  { name: 'smuxbuf', kind: 'int', value: 4194304, usage: 'the overall de-mux buffer in bytes' },
  { name: 'framesize', kind: 'int', value: 8192, usage: 'smux max frame size' },
  { name: 'streambuf', kind: 'int', value: 2097152, usage: 'per stream receive buffer in bytes, smux v2+' },
  { name: 'keepalive', kind: 'int', value: 10, usage: 'seconds between heartbeats' },
  { name: 'closewait', kind: 'int', value: role === 'client' ? 0 : 30, usage: 'the seconds to wait before tearing down a connection' },
  { name: 'snmplog', kind: 'string', value: '', usage: 'collect snmp to file, aware of timeformat in golang, like: ./snmp-20060102.log' },
  { name: 'snmpperiod', kind: 'int', value: 60, usage: 'snmp collect period, in seconds' },
  { name: 'log', kind: 'string', value: '', usage: 'specify a log file to output, default goes to stderr' },
  { name: 'quiet', kind: 'bool', value: false, usage: "to suppress the 'stream open/close' messages" },
  { name: 'tcp', kind: 'bool', value: false, usage: 'to emulate a TCP connection(linux) (not supported by rxkcp)' },
  { name: 'c', kind: 'string', value: '', usage: 'config from json file, which will override the command from shell' },
  { name: 'pprof', kind: 'bool', value: false, usage: 'start profiling server on :6060 (rxkcp: logged as not applied; use node --inspect or --cpu-prof)' },
];

export function tunnelFlags(role: 'client' | 'server'): Flag[] {
  const own: Flag[] =
    role === 'server'
      ? [
          { name: 'listen', alias: 'l', kind: 'string', value: ':29900', usage: 'kcp server listen address, eg: "IP:29900" for a single port, "IP:minport-maxport" for port range' },
          { name: 'target', alias: 't', kind: 'string', value: '127.0.0.1:12948', usage: 'target server address, or path/to/unix_socket' },
          { name: 'maxstreams', kind: 'int', value: 1024, usage: 'rxkcp: most streams one client session may have open; more are closed at once (logged)' },
          { name: 'maxconns', kind: 'int', value: 4096, usage: 'rxkcp: most TCP connections to the target at once; streams beyond are closed at once (logged)' },
          { name: 'workers', kind: 'int', value: -1, usage: 'rxkcp: worker threads, each with its own socket on the port (0: one thread; -1: every core for a single port, one thread for a range)' },
        ]
      : [
          { name: 'localaddr', alias: 'l', kind: 'string', value: ':12948', usage: 'local listen address, or path/to/unix_socket' },
          { name: 'remoteaddr', alias: 'r', kind: 'string', value: 'vps:29900', usage: 'kcp server address, eg: "IP:29900" a for single port, "IP:minport-maxport" for port range' },
        ];
  return [...own, ...common(role)];
}

export class TunnelUsageError extends Error {}

export type TunnelConfig = Record<string, string | number | boolean>;

/**
 * kcptun's configuration from a command line (after `tunnel client|server`), the environment and,
 * with `-c`, a JSON file; then the mode table. Throws `TunnelUsageError` on anything kcptun would
 * refuse, and on what rxkcp cannot do.
 */
export function parseTunnelArgs(role: 'client' | 'server', argv: string[], env: Record<string, string | undefined> = process.env, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): TunnelConfig | 'help' {
  const flags = tunnelFlags(role);
  const byName = new Map<string, Flag>();
  for (const f of flags) {
    byName.set(f.name, f);
    if (f.alias) byName.set(f.alias, f);
  }
  const config: TunnelConfig = {};
  for (const f of flags) config[f.name] = f.env && env[f.env] !== undefined ? env[f.env]! : f.value;
  const set = (f: Flag, raw: string | boolean, from: string) => {
    if (f.kind === 'bool') {
      if (typeof raw === 'boolean') config[f.name] = raw;
      else if (/^(1|t|true|TRUE|True)$/.test(raw)) config[f.name] = true;
      else if (/^(0|f|false|FALSE|False)$/.test(raw)) config[f.name] = false;
      else throw new TunnelUsageError(`invalid boolean value "${raw}" for ${from}`);
    } else if (f.kind === 'int') {
      const n = Number(raw);
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(n)) throw new TunnelUsageError(`invalid value "${String(raw)}" for ${from}`);
      config[f.name] = n;
    } else config[f.name] = String(raw);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help' || arg === '-help') return 'help';
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(arg);
    if (!m || arg === '-' || arg === '--') throw new TunnelUsageError(`unexpected argument ${arg}`);
    const f = byName.get(m[1]!);
    if (f === undefined) throw new TunnelUsageError(`flag provided but not defined: -${m[1]}`);
    if (m[2] !== undefined) set(f, m[2], `-${m[1]}`);
    else if (f.kind === 'bool') set(f, true, `-${m[1]}`);
    else {
      if (i + 1 >= argv.length) throw new TunnelUsageError(`flag needs an argument: -${m[1]}`);
      set(f, argv[++i]!, `-${m[1]}`);
    }
  }
  if (config.c !== '') {
    let json: unknown;
    try {
      json = JSON.parse(readFile(String(config.c)));
    } catch (e) {
      throw new TunnelUsageError(`config ${String(config.c)}: ${(e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TunnelUsageError(`config ${String(config.c)}: not a JSON object`);
    const keyed = flags.filter((x) => x.name !== 'c');
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      // Go's encoding/json: the exact key, else one that differs only in case
      const f = keyed.find((x) => (x.json ?? x.name) === k) ?? keyed.find((x) => (x.json ?? x.name).toLowerCase() === k.toLowerCase());
      if (f === undefined) throw new TunnelUsageError(`config ${String(config.c)}: key provided but not defined: "${k}"`);
      const ok = f.kind === 'string' ? typeof v === 'string' : f.kind === 'bool' ? typeof v === 'boolean' : typeof v === 'number' && Number.isInteger(v);
      if (!ok) throw new TunnelUsageError(`config ${String(config.c)}: "${k}" must be ${f.kind === 'int' ? 'an integer' : `a ${f.kind === 'bool' ? 'boolean' : 'string'}`}, got ${JSON.stringify(v)}`);
      config[f.name] = v as string | number | boolean;
    }
  }
  const mode = Object.hasOwn(MODES, String(config.mode)) ? MODES[String(config.mode) as Mode] : undefined;
  if (mode) ({ nodelay: config.nodelay, interval: config.interval, resend: config.resend, nc: config.nc } = mode);
  else if (config.mode !== 'manual') throw new TunnelUsageError(`--mode must be fast3, fast2, fast, normal or manual; got ${String(config.mode)}`);
  if (config.tcp === true) throw new TunnelUsageError('--tcp (TCP emulation over raw sockets, a different wire) is not supported by rxkcp; use UDP on both ends');
  if (Number(config.smuxver) > 2 || Number(config.smuxver) < 1) throw new TunnelUsageError(`unsupported smux version: ${String(config.smuxver)}`);
  check('dscp', config.dscp, 0, 63);
  if (config.QPP === true) check('QPPCount', config.QPPCount, 1, 65535);
  for (const k of ['listen', 'remoteaddr'] as const) {
    if (!(k in config)) continue;
    try {
      parsePortRange(String(config[k]));
    } catch (e) {
      throw new TunnelUsageError(`--${k}: ${(e as Error).message}`);
    }
  }
  return config;
}

/**
 * Settings rxkcp reads and cannot apply, as log lines: the tunnel runs without them, as kcptun
 * runs when it cannot set DSCP. (Settings that would change the wire, like --tcp, are refused.)
 */
export function notApplied(c: TunnelConfig): string[] {
  const lines: string[] = [];
  if (c.dscp !== 0) lines.push(`dscp ${String(c.dscp)}: not applied (Node cannot set the DSCP bits of a UDP socket); packets go out with the system's default`);
  if (c.pprof === true) lines.push('pprof: not applied (a Go profiler); use node --inspect or --cpu-prof');
  return lines;
}

/** kcptun's warnings about weak QPP settings (its client and server print them at start). */
export function qppWarnings(c: TunnelConfig): string[] {
  if (c.QPP !== true) return [];
  const out: string[] = [];
  const keyBytes = new TextEncoder().encode(String(c.key)).length;
  if (keyBytes < QPP_MIN_SEED_LENGTH) out.push(`QPP Warning: 'key' has size of ${keyBytes} bytes, required ${QPP_MIN_SEED_LENGTH} bytes at least`);
  const n = Number(c.QPPCount);
  if (n < QPP_MIN_PADS) out.push(`QPP Warning: QPPCount ${n}, required ${QPP_MIN_PADS} at least`);
  if (n % 2 === 0) out.push(`QPP Warning: QPPCount ${n}, choose a prime number for security`); // gcd(n, 8) != 1
  return out;
}

const CRYPTS: readonly string[] = [...CFB_CRYPT_NAMES, 'null', 'aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];

/** The crypt kcptun would use: it falls back to aes for a name it does not know. */
export function kcptunCrypt(name: string): CryptName {
  return (CRYPTS.includes(name) ? name : 'aes') as CryptName;
}

function check(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new TunnelUsageError(`--${name} must be ${min}..${max}, got ${String(v)}`);
  return n;
}

function ccOf(v: unknown): CcName {
  const t = String(v);
  if (!(CC_NAMES as readonly string[]).includes(t)) throw new TunnelUsageError(`--cc must be one of ${CC_NAMES.join(', ')}, got ${t}`);
  return t as CcName;
}

export function sessionOptionsOf(c: TunnelConfig): SessionOptions {
  return {
    crypt: kcptunCrypt(String(c.crypt)),
    key: String(c.key),
    dataShards: check('datashard', c.datashard, 0, 255),
    parityShards: check('parityshard', c.parityshard, 0, 255),
    mtu: check('mtu', c.mtu, 50, 1500),
    sndWnd: check('sndwnd', c.sndwnd, 1, 65535),
    rcvWnd: check('rcvwnd', c.rcvwnd, 1, 65535),
    nodelay: check('nodelay', c.nodelay, 0, 2),
    interval: Math.min(5000, Math.max(10, check('interval', c.interval, 0, 0x7fffffff))), // kcp-go clamps; the session API refuses
    resend: check('resend', c.resend, 0, 0x7fffffff),
    nc: check('nc', c.nc, 0, 1),
    ackNoDelay: c.acknodelay === true,
    ...(c.cc === '' ? {} : { cc: ccOf(c.cc) }),
    sockbuf: check('sockbuf', c.sockbuf, 1, 2 ** 31 - 1),
    // kcptun's server takes a negative rate as 0, "no limit"
    rateLimit: Number(c.ratelimit) > 0 ? check('ratelimit', c.ratelimit, 1, 2 ** 31 - 1) : undefined,
  };
}

export function smuxConfigOf(c: TunnelConfig): SmuxConfig {
  const config: SmuxConfig = {
    version: Number(c.smuxver) as 1 | 2,
    maxReceiveBuffer: Number(c.smuxbuf),
    maxStreamBuffer: Number(c.streambuf),
    maxFrameSize: Number(c.framesize),
    keepAliveInterval: Number(c.keepalive) * 1000,
  };
  try {
    resolveSmuxConfig(config);
  } catch (e) {
    throw new TunnelUsageError(`${(e as Error).message} (--smuxbuf ${String(c.smuxbuf)}, --streambuf ${String(c.streambuf)}, --framesize ${String(c.framesize)}, --keepalive ${String(c.keepalive)}: smux's keepalive timeout is 30 s)`);
  }
  return config;
}

/** Go's time layout (2006-01-02 15:04:05, Jan, Mon, ...) applied to `d`, as kcptun names its SNMP log files. */
export function goTimeFormat(layout: string, d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const h12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  // longest tokens first, as Go's layout scanner matches them
  const tokens: Array<[string, () => string]> = [
    ['January', () => months[d.getMonth()]!],
    ['Monday', () => days[d.getDay()]!],
    ['2006', () => String(d.getFullYear())],
    ['Jan', () => months[d.getMonth()]!.slice(0, 3)],
    ['Mon', () => days[d.getDay()]!.slice(0, 3)],
    ['MST', () => 'UTC'],
    ['002', () => String(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86_400_000) + 1).padStart(3, '0')],
    ['01', () => p2(d.getMonth() + 1)],
    ['02', () => p2(d.getDate())],
    ['03', () => p2(h12)],
    ['04', () => p2(d.getMinutes())],
    ['05', () => p2(d.getSeconds())],
    ['06', () => p2(d.getFullYear() % 100)],
    ['15', () => p2(d.getHours())],
    ['_2', () => String(d.getDate()).padStart(2, ' ')],
    ['PM', () => (d.getHours() < 12 ? 'AM' : 'PM')],
    ['pm', () => (d.getHours() < 12 ? 'am' : 'pm')],
    ['1', () => String(d.getMonth() + 1)],
    ['2', () => String(d.getDate())],
    ['3', () => String(h12)],
    ['4', () => String(d.getMinutes())],
    ['5', () => String(d.getSeconds())],
  ];
  let out = '';
  for (let i = 0; i < layout.length; ) {
    const t = tokens.find(([k]) => layout.startsWith(k, i));
    if (t) {
      out += t[1]();
      i += t[0].length;
    } else out += layout[i++];
  }
  return out;
}

/** kcp-go 5.6.1's SNMP header, the columns kcptun's --snmplog writes after "Unix". */
export const KCPTUN_SNMP_HEADER: readonly string[] = [
  ...SNMP_FIELDS.slice(0, SNMP_FIELDS.indexOf('RepeatSegs') + 1), // BytesSent … RepeatSegs, as rxkcp counts them
  'FECParityShards',
  'FECErrs',
  'FECRecovered',
  'FECShortShards', // kcp-go 5.6.1's own: rxkcp has no such counter and logs 0
];

/** One SNMP log line as kcptun appends it; the header first when the file is new or empty. */
export function appendSnmpLog(path: string, snmp: Snmp, now: Date): string {
  const file = join(dirname(path), goTimeFormat(basename(path), now));
  let size = 0;
  try {
    size = readFileSync(file).length;
  } catch {
    // a new file
  }
  const values = KCPTUN_SNMP_HEADER.map((k) => String(k in snmp ? (snmp as unknown as Record<string, number>)[k] : 0));
  const lines = (size === 0 ? `Unix,${KCPTUN_SNMP_HEADER.join(',')}\n` : '') + `${Math.floor(now.getTime() / 1000)},${values.join(',')}\n`;
  appendFileSync(file, lines);
  return file;
}

/** kcptun's log: each line stamped, appended to `file`, or to stderr without one. */
export function tunnelLog(file: string): (line: string) => void {
  return (line) => {
    const text = `${stamp(new Date())} ${line}\n`;
    if (file !== '') appendFileSync(file, text);
    else process.stderr.write(text);
  };
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** What each role does, one line: the top of its --help and its line in `rxkcp tunnel --help`. */
export const TUNNEL_ROLES = {
  client: 'accepts TCP connections and carries each one as a stream over KCP to a tunnel server (a kcptun client)',
  server: 'accepts KCP sessions from tunnel clients and connects each stream to the target (a kcptun server)',
} as const;

/** `rxkcp tunnel --help`: both roles. */
export function tunnelUsage(): string {
  return [
    'rxkcp tunnel — a TCP tunnel over KCP, compatible with kcptun (flags, JSON configs and wire)',
    '',
    'usage: rxkcp tunnel client|server [flags]',
    '',
    'ROLES:',
    `   client   ${TUNNEL_ROLES.client}`,
    `   server   ${TUNNEL_ROLES.server}`,
    '',
    'rxkcp tunnel client --help and rxkcp tunnel server --help list the flags. docs/tunnel.md has them all.',
  ].join('\n');
}

function usage(role: 'client' | 'server'): string {
  const lines = [
    `rxkcp tunnel ${role} — ${TUNNEL_ROLES[role]}`,
    '',
    `usage: rxkcp tunnel ${role} [flags]   (kcptun's flags; -c file.json reads kcptun's JSON config)`,
    '',
    'OPTIONS:',
  ];
  for (const f of tunnelFlags(role)) {
    if (f.hidden) continue;
    const names = f.alias ? `--${f.name} value, -${f.alias} value` : f.kind === 'bool' ? `--${f.name}` : `--${f.name} value`;
    const def = f.kind === 'bool' ? '' : ` (default: ${JSON.stringify(f.value)})`;
    lines.push(`   ${names.padEnd(34)} ${f.usage}${def}${f.env ? ` [$${f.env}]` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Runs `rxkcp tunnel <role> ...argv` until SIGINT/SIGTERM. Resolves with an exit status for
 * errors and help, or -1 once the tunnel runs.
 */
export async function tunnelMain(argv: string[]): Promise<number> {
  const role = argv[0];
  if (role === '-h' || role === '--help' || role === '-help' || role === 'help') {
    console.log(tunnelUsage());
    return 0;
  }
  if (role !== 'client' && role !== 'server') {
    console.error(tunnelUsage());
    return 2;
  }
  let config: TunnelConfig;
  let session: SessionOptions;
  let smux: SmuxConfig;
  try {
    const parsed = parseTunnelArgs(role, argv.slice(1));
    if (parsed === 'help') {
      console.log(usage(role));
      return 0;
    }
    config = parsed;
    session = sessionOptionsOf(config);
    smux = smuxConfigOf(config);
  } catch (e) {
    if (!(e instanceof TunnelUsageError)) throw e;
    console.error(`rxkcp tunnel ${role}: ${e.message}`);
    return 2;
  }
  const logFile = String(config.log);
  const log = tunnelLog(logFile);
  if (!CRYPTS.includes(String(config.crypt))) log(`unknown crypt ${String(config.crypt)}: using aes, as kcptun does`);
  for (const line of notApplied(config)) log(line);
  for (const line of qppWarnings(config)) log(line);
  const quiet = config.quiet === true;
  const common = {
    session,
    smux,
    compress: config.nocomp !== true,
    quiet,
    log,
    closeWait: check('closewait', config.closewait, 0, 2 ** 31 / 1000),
    qpp: config.QPP === true ? { seed: String(config.key), pads: Number(config.QPPCount) } : undefined,
  };
  log(`version: rxkcp`);
  let handle: TunnelHandle | undefined;
  /** The counters the log lines and --snmplog show: of every worker when there are workers. */
  let stats: () => Promise<{ sessions: number; streams: number; streamsTotal: number; snmp: Snmp }>;
  let addresses: ReadonlyArray<{ address: string; port: number }>;
  let close: () => Promise<void>;
  try {
    if (role === 'server') {
      const server = {
        ...common,
        target: String(config.target),
        maxStreams: check('maxstreams', config.maxstreams, 1, 2 ** 31 - 1),
        maxConns: check('maxconns', config.maxconns, 1, 2 ** 31 - 1),
      };
      const range = parsePortRange(String(config.listen));
      const single = range.minPort === range.maxPort;
      const workers = Number(config.workers) < 0 ? (single ? defaultWorkers() : 0) : check('workers', config.workers, 0, MAX_WORKERS);
      if (workers > 0 && !single) throw new TunnelUsageError('--workers needs a single port: a port range runs in one thread (--workers 0)');
      if (workers > 0) {
        const { log: _log, ...tunnel } = server;
        // maxConns bounds the whole server: each worker holds an even share, as listenWorkers shares maxSessions
        const data: TunnelWorkerData = { tunnel: { ...tunnel, maxConns: Math.ceil(server.maxConns / workers) }, logFile };
        const pool = await listenWorkers({ ...kcptunSession(server), listen: hostPort(range.host, range.minPort), workers, handler: cliWorkerModule(), name: 'tunnel', workerData: data });
        pool.events$.subscribe((e) => e.type === 'exit' && log(`worker ${e.worker} exited (code ${e.code}${e.error ? `: ${e.error.message}` : ''}): its sessions ended; starting another`));
        log(`workers: ${workers}`);
        stats = async () => {
          const st = await pool.stats();
          // what is open now, of the workers running; what was opened in all, of every worker there has been
          const now = (k: 'sessions' | 'streams') => st.workers.reduce((n, w) => n + (w.counters[k] ?? 0), 0);
          return { sessions: now('sessions'), streams: now('streams'), streamsTotal: st.total.counters.streamsTotal ?? 0, snmp: Object.assign(new Snmp(), st.total.snmp) };
        };
        addresses = [pool.address];
        close = () => pool.close();
      } else handle = await tunnelServer({ ...server, listen: String(config.listen) });
    } else {
      handle = await tunnelClient({
        ...common,
        listen: String(config.localaddr),
        remote: String(config.remoteaddr),
        conn: check('conn', config.conn, 1, 65535),
        autoExpire: check('autoexpire', config.autoexpire, 0, 2 ** 31),
        scavengeTtl: check('scavengettl', config.scavengettl, 0, 2 ** 31),
      });
    }
  } catch (e) {
    if (e instanceof TunnelUsageError) {
      console.error(`rxkcp tunnel ${role}: ${e.message}`);
      return 2;
    }
    log(`${(e as Error).message}`);
    return 1;
  }
  if (handle !== undefined) {
    const h = handle;
    stats = async () => h.stats();
    addresses = h.addresses;
    close = () => h.close();
  }
  log(role === 'server' ? `smux version: 1..${String(config.smuxver)}, each session its client's` : `smux version: ${String(config.smuxver)}`);
  for (const b of addresses!) log(`listening on: ${b.address.startsWith('/') ? b.address : `${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}`}`);
  if (role === 'server') log(`target: ${String(config.target)}`);
  if (role === 'server') log(`maxstreams: ${String(config.maxstreams)} maxconns: ${String(config.maxconns)}`);
  else log(`remote address: ${String(config.remoteaddr)}`);
  log(`encryption: ${kcptunCrypt(String(config.crypt))}`);
  log(`nodelay parameters: ${String(config.nodelay)} ${String(config.interval)} ${String(config.resend)} ${String(config.nc)}`);
  log(`sndwnd: ${String(config.sndwnd)} rcvwnd: ${String(config.rcvwnd)}`);
  log(`compression: ${config.nocomp !== true}`);
  log(`mtu: ${String(config.mtu)}`);
  log(`ratelimit: ${String(config.ratelimit)}`);
  log(`datashard: ${String(config.datashard)} parityshard: ${String(config.parityshard)}`);
  log(`acknodelay: ${String(config.acknodelay)}`);
  log(`sockbuf: ${String(config.sockbuf)}`);
  log(`smuxbuf: ${String(config.smuxbuf)}`);
  log(`framesize: ${String(config.framesize)}`);
  log(`streambuf: ${String(config.streambuf)}`);
  log(`keepalive: ${String(config.keepalive)}`);
  log(`closewait: ${String(config.closewait)}`);
  log(`QPP: ${String(config.QPP === true)} QPPCount: ${String(config.QPPCount)}`);
  if (role === 'client') log(`conn: ${String(config.conn)} autoexpire: ${String(config.autoexpire)} scavengettl: ${String(config.scavengettl)}`);
  log(`snmplog: ${String(config.snmplog)} snmpperiod: ${String(config.snmpperiod)}`);
  log(`quiet: ${String(quiet)}`);
  log('key derivation done');
  const snmplog = String(config.snmplog);
  const period = Number(config.snmpperiod);
  const timer = snmplog !== '' && period > 0 ? setInterval(() => void stats!().then((s) => appendSnmpLog(snmplog, s.snmp, new Date())), period * 1000) : null;
  const onUsr1 = () => void stats!().then((s) => log(`KCP SNMP:${JSON.stringify(s.snmp.snapshot())}`));
  process.on('SIGUSR1', onUsr1);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
    stats!()
      .then((s) => log(`${signal}: closing (${s.sessions} sessions, ${s.streams} streams open, ${s.streamsTotal} carried)`))
      .then(() => close!())
      .then(
        () => process.exit(0),
        () => process.exit(1)
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return -1;
}
