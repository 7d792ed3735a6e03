/**
 * `rxkcp tunnel client|server`: kcptun's command lines, flag for flag.
 *
 *   rxkcp tunnel server -l :29900 -t 127.0.0.1:22 --key secret --crypt aes --mode fast3
 *   rxkcp tunnel client -l :12948 -r server:29900 --key secret --crypt aes --mode fast3
 *
 * Flags take one dash or two (`-mode fast3`, `--mode=fast3`), booleans only as `--nocomp` or
 * `--nocomp=false`, as Go's flag package; `-c file.json` reads kcptun's JSON config, whose keys
 * override the command line; `KCPTUN_KEY` sets the key. Defaults, meanings and the mode table are
 * kcptun's (20210922). `--tcp`, `--dscp` and `--pprof` are refused: Node cannot do them.
 * @module
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { CFB_CRYPT_NAMES, type CryptName } from '../src/crypt/crypt.js';
import { resolveSmuxConfig, type SmuxConfig } from '../src/smux/mux.js';
import { CC_NAMES, DEFAULT_CC } from '../src/kcp/cc-names.js';
import type { CcName } from '../src/kcp/cc.js';
import { SNMP_FIELDS, type Snmp } from '../src/stats.js';
import { MODES, type Mode } from '../operators/options.js';
import type { SessionOptions } from '../operators/io/session.js';
import { tunnelClient, tunnelServer, type TunnelHandle } from '../operators/io/tunnel.js';

type Kind = 'string' | 'int' | 'bool';
interface Flag {
  name: string;
  alias?: string;
  kind: Kind;
  value: string | number | boolean;
  usage: string;
  hidden?: boolean;
  env?: string;
}

const common = (role: 'client' | 'server'): Flag[] => [
  { name: 'key', kind: 'string', value: "it's a secrect", usage: 'pre-shared secret between client and server', env: 'KCPTUN_KEY' },
  { name: 'crypt', kind: 'string', value: 'aes', usage: 'aes, aes-128, aes-192, salsa20, blowfish, twofish, cast5, 3des, tea, xtea, xor, sm4, none (rxkcp also: null, aes-128-gcm, aes-256-gcm, chacha20-poly1305)' },
  { name: 'mode', kind: 'string', value: 'fast', usage: 'profiles: fast3, fast2, fast, normal, manual' },
  ...(role === 'client'
    ? ([
        { name: 'conn', kind: 'int', value: 1, usage: 'set num of UDP connections to server' },
        { name: 'autoexpire', kind: 'int', value: 0, usage: 'set auto expiration time(in seconds) for a single UDP connection, 0 to disable' },
        { name: 'scavengettl', kind: 'int', value: 600, usage: 'set how long an expired connection can live (in seconds)' },
      ] as Flag[])
    : []),
  { name: 'mtu', kind: 'int', value: 1350, usage: 'set maximum transmission unit for UDP packets' },
  { name: 'sndwnd', kind: 'int', value: role === 'client' ? 128 : 1024, usage: 'set send window size(num of packets)' },
  { name: 'rcvwnd', kind: 'int', value: role === 'client' ? 512 : 1024, usage: 'set receive window size(num of packets)' },
  { name: 'datashard', alias: 'ds', kind: 'int', value: 10, usage: 'set reed-solomon erasure coding - datashard' },
  { name: 'parityshard', alias: 'ps', kind: 'int', value: 3, usage: 'set reed-solomon erasure coding - parityshard' },
  { name: 'dscp', kind: 'int', value: 0, usage: 'set DSCP(6bit) (not supported by rxkcp: must be 0)' },
  { name: 'nocomp', kind: 'bool', value: false, usage: 'disable compression' },
  { name: 'acknodelay', kind: 'bool', value: false, usage: 'flush ack immediately when a packet is received', hidden: true },
  { name: 'nodelay', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'interval', kind: 'int', value: 50, usage: '', hidden: true },
  { name: 'resend', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'nc', kind: 'int', value: 0, usage: '', hidden: true },
  { name: 'cc', kind: 'string', value: '', usage: `rxkcp: the sender's congestion control, ${CC_NAMES.join(', ')} (default ${DEFAULT_CC}; docs/congestion-control.md)` },
  { name: 'sockbuf', kind: 'int', value: 4194304, usage: 'per-socket buffer in bytes' },
  { name: 'smuxver', kind: 'int', value: 1, usage: 'specify smux version, available 1,2' },
  { name: 'smuxbuf', kind: 'int', value: 4194304, usage: 'the overall de-mux buffer in bytes' },
  { name: 'streambuf', kind: 'int', value: 2097152, usage: 'per stream receive buffer in bytes, smux v2+' },
  { name: 'keepalive', kind: 'int', value: 10, usage: 'seconds between heartbeats' },
  { name: 'snmplog', kind: 'string', value: '', usage: 'collect snmp to file, aware of timeformat in golang, like: ./snmp-20060102.log' },
  { name: 'snmpperiod', kind: 'int', value: 60, usage: 'snmp collect period, in seconds' },
  ...(role === 'server' ? ([{ name: 'pprof', kind: 'bool', value: false, usage: 'start profiling server on :6060 (not supported by rxkcp)' }] as Flag[]) : []),
  { name: 'log', kind: 'string', value: '', usage: 'specify a log file to output, default goes to stderr' },
  { name: 'quiet', kind: 'bool', value: false, usage: "to suppress the 'stream open/close' messages" },
  { name: 'tcp', kind: 'bool', value: false, usage: 'to emulate a TCP connection(linux) (not supported by rxkcp)' },
  { name: 'c', kind: 'string', value: '', usage: 'config from json file, which will override the command from shell' },
];

export function tunnelFlags(role: 'client' | 'server'): Flag[] {
  const own: Flag[] =
    role === 'server'
      ? [
          { name: 'listen', alias: 'l', kind: 'string', value: ':29900', usage: 'kcp server listen address' },
          { name: 'target', alias: 't', kind: 'string', value: '127.0.0.1:12948', usage: 'target server address, or path/to/unix_socket' },
        ]
      : [
          { name: 'localaddr', alias: 'l', kind: 'string', value: ':12948', usage: 'local listen address' },
          { name: 'remoteaddr', alias: 'r', kind: 'string', value: 'vps:29900', usage: 'kcp server address' },
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
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      const f = flags.find((x) => x.name === k && x.name !== 'c');
      if (f === undefined) continue; // kcptun ignores keys it does not know
      const ok = f.kind === 'string' ? typeof v === 'string' : f.kind === 'bool' ? typeof v === 'boolean' : typeof v === 'number' && Number.isInteger(v);
      if (!ok) throw new TunnelUsageError(`config ${String(config.c)}: "${k}" must be ${f.kind === 'int' ? 'an integer' : `a ${f.kind === 'bool' ? 'boolean' : 'string'}`}, got ${JSON.stringify(v)}`);
      config[k] = v as string | number | boolean;
    }
  }
  const mode = Object.hasOwn(MODES, String(config.mode)) ? MODES[String(config.mode) as Mode] : undefined;
  if (mode) ({ nodelay: config.nodelay, interval: config.interval, resend: config.resend, nc: config.nc } = mode);
  else if (config.mode !== 'manual') throw new TunnelUsageError(`--mode must be fast3, fast2, fast, normal or manual; got ${String(config.mode)}`);
  if (config.tcp === true) throw new TunnelUsageError('--tcp (TCP emulation over raw sockets) is not supported by rxkcp; use UDP');
  if (config.dscp !== 0) throw new TunnelUsageError('--dscp is not supported by rxkcp: Node cannot set the DSCP bits of a UDP socket; leave it at 0');
  if (config.pprof === true) throw new TunnelUsageError('--pprof is Go-specific; use node --inspect or --cpu-prof instead');
  if (Number(config.smuxver) > 2 || Number(config.smuxver) < 1) throw new TunnelUsageError(`unsupported smux version: ${String(config.smuxver)}`);
  return config;
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
    password: String(c.key),
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
  };
}

export function smuxConfigOf(c: TunnelConfig): SmuxConfig {
  const config: SmuxConfig = {
    version: Number(c.smuxver) as 1 | 2,
    maxReceiveBuffer: Number(c.smuxbuf),
    maxStreamBuffer: Number(c.streambuf),
    keepAliveInterval: Number(c.keepalive) * 1000,
  };
  try {
    resolveSmuxConfig(config);
  } catch (e) {
    throw new TunnelUsageError(`${(e as Error).message} (--smuxbuf ${String(c.smuxbuf)}, --streambuf ${String(c.streambuf)}, --keepalive ${String(c.keepalive)}: smux's keepalive timeout is 30 s)`);
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

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function usage(role: 'client' | 'server'): string {
  const lines = [`rxkcp tunnel ${role} — kcptun ${role} (with SMUX), compatible with kcptun 20210922`, '', 'OPTIONS:'];
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
  if (role !== 'client' && role !== 'server') {
    console.error('usage: rxkcp tunnel client|server [flags]   (rxkcp tunnel client --help)');
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
  const log = (line: string) => {
    const text = `${stamp(new Date())} ${line}\n`;
    if (logFile !== '') appendFileSync(logFile, text);
    else process.stderr.write(text);
  };
  if (!CRYPTS.includes(String(config.crypt))) log(`unknown crypt ${String(config.crypt)}: using aes, as kcptun does`);
  const quiet = config.quiet === true;
  const common = { session, smux, compress: config.nocomp !== true, quiet, log };
  log(`version: rxkcp`);
  let handle: TunnelHandle;
  try {
    if (role === 'server') {
      handle = await tunnelServer({ ...common, listen: String(config.listen), target: String(config.target) });
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
    log(`${(e as Error).message}`);
    return 1;
  }
  const a = handle.address;
  log(`smux version: ${String(config.smuxver)}`);
  log(`listening on: ${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`);
  if (role === 'server') log(`target: ${String(config.target)}`);
  else log(`remote address: ${String(config.remoteaddr)}`);
  log(`encryption: ${kcptunCrypt(String(config.crypt))}`);
  log(`nodelay parameters: ${String(config.nodelay)} ${String(config.interval)} ${String(config.resend)} ${String(config.nc)}`);
  log(`sndwnd: ${String(config.sndwnd)} rcvwnd: ${String(config.rcvwnd)}`);
  log(`compression: ${config.nocomp !== true}`);
  log(`mtu: ${String(config.mtu)}`);
  log(`datashard: ${String(config.datashard)} parityshard: ${String(config.parityshard)}`);
  log(`acknodelay: ${String(config.acknodelay)}`);
  log(`sockbuf: ${String(config.sockbuf)}`);
  log(`smuxbuf: ${String(config.smuxbuf)}`);
  log(`streambuf: ${String(config.streambuf)}`);
  log(`keepalive: ${String(config.keepalive)}`);
  if (role === 'client') log(`conn: ${String(config.conn)} autoexpire: ${String(config.autoexpire)} scavengettl: ${String(config.scavengettl)}`);
  log(`snmplog: ${String(config.snmplog)} snmpperiod: ${String(config.snmpperiod)}`);
  log(`quiet: ${String(quiet)}`);
  log('key derivation done');
  const snmplog = String(config.snmplog);
  const period = Number(config.snmpperiod);
  const timer = snmplog !== '' && period > 0 ? setInterval(() => appendSnmpLog(snmplog, handle.stats().snmp, new Date()), period * 1000) : null;
  const onUsr1 = () => log(`KCP SNMP:${JSON.stringify(handle.stats().snmp.snapshot())}`);
  process.on('SIGUSR1', onUsr1);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (timer) clearInterval(timer);
    const s = handle.stats();
    log(`${signal}: closing (${s.sessions} sessions, ${s.streams} streams open, ${s.streamsTotal} carried)`);
    handle.close().then(
      () => process.exit(0),
      () => process.exit(1)
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return -1;
}
