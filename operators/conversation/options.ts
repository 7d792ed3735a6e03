/**
 * The one place options are checked and the timing profiles live. `new Conversation`,
 * `Listener.listen` and `dial` all check their options here when they are called, so a bad value
 * throws there, naming the option and what it may be, instead of surfacing on the first datagram;
 * the `rxkcp` command and the session API share `MODES`.
 * @module
 */
import { AEAD_CRYPT_NAMES, CFB_CRYPT_NAMES } from '../../src/crypt/crypt.js';
import { mtuLimit } from '../../src/wire/constants.js';
import { CC_NAMES } from '../../src/kcp/cc-names.js';

/**
 * kcptun's timing profiles (`--mode`): kcp-go's NoDelay(nodelay, interval, resend, nc). kcp-go's
 * own default, with no mode, is nodelay 0, interval 100, resend 0, nc 0: conservative, about a
 * quarter of a MB/s on a fast link with the default windows; `fast3` is what kcptun users run.
 */
export const MODES = {
  normal: { nodelay: 0, interval: 40, resend: 2, nc: 1 },
  fast: { nodelay: 0, interval: 30, resend: 2, nc: 1 },
  fast2: { nodelay: 1, interval: 20, resend: 2, nc: 1 },
  fast3: { nodelay: 1, interval: 10, resend: 2, nc: 1 },
} as const;

export type Mode = keyof typeof MODES;

/** Every cipher name `crypt` takes (kcptun's, plus the AEADs and 'null' for no framing at all). */
export const CRYPT_NAMES: readonly string[] = [...CFB_CRYPT_NAMES, ...AEAD_CRYPT_NAMES, 'null'];

const u32 = 0xffffffff;
const i31 = 0x7fffffff;

type Check = (v: unknown) => string | null;

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v instanceof Uint8Array ? `a Uint8Array of ${v.length} bytes` : String(v));

function int(lo: number, hi: number, unit = ''): Check {
  return (v) => (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? null : `must be an integer ${lo}..${hi}${unit}`);
}

function positive(unit: string): Check {
  return (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : `must be a number > 0 (${unit})`);
}

const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');

function oneOf(names: readonly string[]): Check {
  return (v) => (typeof v === 'string' && names.includes(v) ? null : `must be one of ${names.join(', ')}`);
}

/** What each option may be. Options not listed here are checked where they are used. */
const RULES: Record<string, Check> = {
  // KCP (kcp-go's names and ranges; kcp-go clamps interval silently, this refuses it)
  sndWnd: int(1, 0xffff),
  rcvWnd: int(1, 0xffff),
  nodelay: int(0, 2),
  interval: int(10, 5000, ' (ms)'),
  resend: int(0, i31),
  nc: int(0, 1),
  deadLink: int(1, i31),
  stream: bool,
  ackNoDelay: bool,
  cc: (v) => (typeof v === 'function' || (typeof v === 'string' && (CC_NAMES as readonly string[]).includes(v)) ? null : `must be one of ${CC_NAMES.join(', ')} or a strategy factory`),
  // the conversation
  mtu: int(50, mtuLimit),
  writeDelay: bool,
  rateLimit: positive('bytes/s'),
  antiReplay: int(1, 1 << 22, ' (nonces)'),
  failOnDeadLink: bool,
  onOob: (v) => (typeof v === 'function' ? null : 'must be a function'),
  // sessions
  mode: oneOf(Object.keys(MODES)),
  crypt: oneOf(CRYPT_NAMES),
  key: (v) => (typeof v === 'string' || v instanceof Uint8Array ? null : "must be a string (kcptun's secret) or a Uint8Array (a raw key)"),
  dataShards: int(0, 255),
  parityShards: int(0, 255),
  sockbuf: int(1, i31, ' (bytes)'),
  idleTimeout: positive('ms'),
  keepalive: (v) => (v === false || typeof v === 'number' || (typeof v === 'object' && v !== null) ? null : 'must be false, a number of ms, or { interval, timeout } in ms'),
  // dial
  conv: int(0, u32),
  localPort: int(0, 65535),
  failFast: bool,
  connectTimeout: (v) => (v === false || (typeof v === 'number' && Number.isFinite(v) && v > 0) ? null : 'must be a number > 0 (ms), or false for none'),
};

/**
 * Checks every option of `options` this module knows (undefined means "not given"), throwing a
 * TypeError for a value of the wrong type and a RangeError for one out of range, as
 * `${where}: ${name} must be …, got …`.
 */
export function assertOptions(where: string, options: object | undefined): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object, got ${String(options)}`);
  for (const [name, value] of Object.entries(options)) {
    const check = RULES[name];
    if (check === undefined || value === undefined) continue;
    const problem = check(value);
    if (problem === null) continue;
    const message = `${where}: ${name} ${problem}, got ${show(value)}`;
    const wrongType = problem.startsWith('must be an integer') || problem.startsWith('must be a number') ? typeof value !== 'number' : problem.startsWith('must be one of') ? typeof value !== 'string' : true;
    throw wrongType ? new TypeError(message) : new RangeError(message);
  }
}

/**
 * The FEC geometry two shard counts give: null (no FEC) unless both are > 0; their sum is at most
 * 256. One given > 0 without the other is refused (FEC would silently stay off): give both, or the
 * other as 0 to turn FEC off, as kcptun's `--parityshard 0` does.
 */
export function assertShards(where: string, dataShards?: number, parityShards?: number): void {
  if ((dataShards ?? 0) > 0 && parityShards === undefined) {
    throw new TypeError(`${where}: dataShards ${dataShards} without parityShards: give both for FEC (kcptun's default is 10 and 3), or parityShards: 0 for no FEC`);
  }
  if ((parityShards ?? 0) > 0 && dataShards === undefined) {
    throw new TypeError(`${where}: parityShards ${parityShards} without dataShards: give both for FEC (kcptun's default is 10 and 3), or dataShards: 0 for no FEC`);
  }
  const d = dataShards ?? 0;
  const p = parityShards ?? 0;
  if (d > 0 && p > 0 && d + p > 256) {
    throw new RangeError(`${where}: dataShards + parityShards must be at most 256, got ${d + p}`);
  }
}

/** nodelay, interval, resend and nc: the mode's, each replaced by the one given explicitly. */
export function timingOf(o: { mode?: Mode; nodelay?: number; interval?: number; resend?: number; nc?: number }): {
  nodelay?: number;
  interval?: number;
  resend?: number;
  nc?: number;
} {
  const m = o.mode === undefined ? undefined : MODES[o.mode];
  return { nodelay: o.nodelay ?? m?.nodelay, interval: o.interval ?? m?.interval, resend: o.resend ?? m?.resend, nc: o.nc ?? m?.nc };
}
