/**
 * The `rxkcp` command: an echo server, a sink, and a verifying sender, with kcptun's flag names.
 * The servers end sessions silent for 60 s and hold at most 4,096 (`--idle-timeout`,
 * `--max-sessions`; 0 turns either off).
 *
 *   rxkcp echo --listen 127.0.0.1:4000 --crypt aes --key secret
 *   rxkcp sink --listen 127.0.0.1:4000
 *   rxkcp send --connect 127.0.0.1:4000 --bytes 67108864 --json
 *   rxkcp relay --listen 127.0.0.1:4001 --connect 127.0.0.1:4000 --loss 0.02 --seed 7
 *   rxkcp tunnel server -l :29900 -t 127.0.0.1:22 --key secret   (kcptun's flags; see tunnel-cli.ts)
 * @module
 */
import { readFileSync } from 'node:fs';
import { cac } from 'cac';
import cliProgress from 'cli-progress';
import type { CryptName } from '../src/crypt/crypt.js';
import { KcpError } from '../src/errors.js';
import { CC_NAMES } from '../src/kcp/cc-names.js';
import { IKCP_RTO_MAX } from '../src/kcp/constants.js';
import type { CcName } from '../src/kcp/cc.js';
import { CRYPT_NAMES, MODES, type Mode } from '../operators/conversation/options.js';
import { dial } from '../operators/transport/dial.js';
import { echo } from '../operators/apps/echo.js';
import { defaultMaxHalfOpen, Listener } from '../operators/transport/listener.js';
import { listenWorkers, MAX_WORKERS } from '../operators/transport/workers.js';
import { cliWorkerModule, defaultWorkers } from './worker-defaults.js';
import type { CliWorkerData } from './cli-worker.js';
import { aggregateStats, type SessionOptions } from '../operators/transport/session.js';
import { toDuplex } from '../operators/adapters/stream.js';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';
import { relay, type Impairment, type RelayDirectionStats, type RelayOptions } from '../operators/apps/relay.js';
import { PATH_PROFILE_NAMES, pathProfile } from '../src/sim/profiles.js';
import { tunnelMain } from './tunnel-cli.js';

const CRYPTS = CRYPT_NAMES;

class UsageError extends Error {}

function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v === 'boolean' || v === '') throw new UsageError(`--${name} needs a value (an integer ${min}..${max})`);
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer ${min}..${max}, got ${String(v)}`);
  return n;
}

function ccName(v: unknown): CcName {
  const t = String(v);
  if (!(CC_NAMES as readonly string[]).includes(t)) throw new UsageError(`--cc must be one of ${CC_NAMES.join(', ')}; got ${t}`);
  return t as CcName;
}

/** kcptun's flags to session options (kcptun's defaults: aes, FEC 10/3, mode fast, mtu 1350). */
export function sessionOptions(f: Record<string, unknown>): SessionOptions {
  const crypt = String(f.crypt ?? 'aes');
  if (!CRYPTS.includes(crypt)) throw new UsageError(`--crypt must be one of ${CRYPTS.join(', ')}; got ${crypt}`);
  const mode = String(f.mode ?? 'fast');
  // a profile goes to the session as its mode (the API's table); manual gives the four numbers
  let timing: Pick<SessionOptions, 'mode' | 'nodelay' | 'interval' | 'resend' | 'nc'>;
  if (mode === 'manual') {
    timing = {
      nodelay: int('nodelay', f.nodelay ?? 0, 0, 2),
      interval: int('interval', f.interval ?? 50, 10, 5000),
      resend: int('resend', f.resend ?? 0, 0, 100),
      nc: int('nc', f.nc ?? 0, 0, 1),
    };
  } else if (mode in MODES) timing = { mode: mode as Mode };
  else throw new UsageError(`--mode must be ${Object.keys(MODES).join(', ')} or manual; got ${mode}`);
  return {
    crypt: crypt as CryptName,
    key: String(f.key ?? "it's a secrect"),
    dataShards: int('datashard', f.datashard ?? 10, 0, 255),
    parityShards: int('parityshard', f.parityshard ?? 3, 0, 255),
    mtu: int('mtu', f.mtu ?? 1350, 50, 1500),
    sndWnd: int('sndwnd', f.sndwnd ?? 1024, 1, 65535),
    rcvWnd: int('rcvwnd', f.rcvwnd ?? 1024, 1, 65535),
    ...timing,
    ackNoDelay: Boolean(f.acknodelay),
    stream: Boolean(f.stream),
    ...(f.cc === undefined ? {} : { cc: ccName(f.cc) }),
  };
}

/**
 * Limits of `echo` and `sink`, for a server exposed to the internet. A datagram from a new source
 * address creates a session (UDP has no handshake) and KCP sends nothing while idle, so without
 * them every session a flood (or a client that left without a word) creates lives as long as the
 * process, at about 16 KB each without FEC (bench:sessions; about 53 KB with FEC 10/3). kcptun's
 * clients send an smux keep-alive every 10 s, so 60 s of silence means the peer is gone; 4,096
 * sessions bound what a flood can hold to about 65 MB (220 MB with FEC) and leave room for far more clients than a kcptun server
 * has (each opens one session per --conn).
 */
export const SERVER_DEFAULTS = { idleTimeoutMs: 60_000, maxSessions: 4096, maxHalfOpen: defaultMaxHalfOpen, snZeroWaitMs: IKCP_RTO_MAX } as const;

/**
 * How often a server says, on stderr, that a limit was reached (sessions refused, half-open
 * sources evicted): one line per period at most, never one per datagram, so a flood cannot flood
 * the log.
 */
export const LIMIT_LOG_INTERVAL_MS = 10_000;

function withServerFlags<T extends { option(n: string, d: string, o?: { default?: unknown }): T }>(c: T): T {
  return c
    .option('--idle-timeout <ms>', 'end a session that sent nothing for this long (0: never)', { default: SERVER_DEFAULTS.idleTimeoutMs })
    .option('--max-sessions <n>', 'most sessions at once (with --workers, each holds its share); datagrams that would open more are dropped (0: no limit)', { default: SERVER_DEFAULTS.maxSessions })
    .option('--max-half-open <n>', 'most sources held waiting for their sn 0 (with --workers, each holds its share; the oldest are evicted first; never counted in --max-sessions)', { default: SERVER_DEFAULTS.maxHalfOpen })
    .option('--sn-zero-wait <ms>', 'how long a source that has not sent sn 0 is held waiting for it', { default: SERVER_DEFAULTS.snZeroWaitMs })
    .option('--stats-interval <ms>', 'also print the counters as a JSON line this often (0: only on exit)', { default: 0 })
    .option('--workers <n>', `worker threads, each with its own socket on the port (0: none, all in one thread; default ${defaultWorkers()} here)`);
}

function withSessionFlags<T extends { option(n: string, d: string, o?: { default?: unknown }): T }>(c: T): T {
  return c
    .option('--crypt <name>', `cipher: ${CRYPTS.join(', ')}`, { default: 'aes' })
    .option('--key <secret>', 'pre-shared secret (kcptun key derivation)', { default: "it's a secrect" })
    .option('--datashard <n>', 'FEC data shards (0: no FEC)', { default: 10 })
    .option('--parityshard <n>', 'FEC parity shards (0: no FEC)', { default: 3 })
    .option('--mode <mode>', 'normal, fast, fast2, fast3, manual', { default: 'fast' })
    .option('--nodelay <n>', 'manual mode')
    .option('--interval <ms>', 'manual mode')
    .option('--resend <n>', 'manual mode')
    .option('--nc <n>', 'manual mode')
    .option('--mtu <bytes>', 'largest UDP payload', { default: 1350 })
    .option('--sndwnd <n>', 'send window', { default: 1024 })
    .option('--rcvwnd <n>', 'receive window', { default: 1024 })
    .option('--acknodelay', 'flush ACKs at once')
    .option('--stream', 'stream mode')
    .option('--cc <name>', `congestion control: ${CC_NAMES.join(', ')} (docs/congestion-control.md)`);
}

/** What a server prints as its counters: totals, and with workers one entry per worker. */
interface ServerReport {
  sessions: number;
  halfOpen: number;
  received?: number;
  stats: Record<string, number>;
  workers?: { worker: number; sessions: number; half_open: number; received?: number; stats: Record<string, number> }[];
}

async function serve(kind: 'echo' | 'sink', flags: Record<string, unknown>): Promise<void> {
  const idleTimeout = int('idle-timeout', flags.idleTimeout ?? SERVER_DEFAULTS.idleTimeoutMs, 0, 2 ** 31 - 1);
  const maxSessions = int('max-sessions', flags.maxSessions ?? SERVER_DEFAULTS.maxSessions, 0, 2 ** 31 - 1);
  const statsInterval = int('stats-interval', flags.statsInterval ?? 0, 0, 2 ** 31 - 1);
  const maxHalfOpen = int('max-half-open', flags.maxHalfOpen ?? SERVER_DEFAULTS.maxHalfOpen, 1, 2 ** 31 - 1);
  const snZeroWait = int('sn-zero-wait', flags.snZeroWait ?? SERVER_DEFAULTS.snZeroWaitMs, 1, 2 ** 31 - 1);
  const workers = flags.workers === undefined ? defaultWorkers() : int('workers', flags.workers, 0, MAX_WORKERS);
  const limits = { idleTimeout: idleTimeout || undefined, maxSessions: maxSessions || undefined, maxHalfOpen, snZeroWait };
  const echoConv = flags.echoConv === undefined ? -1 : int('echo-conv', flags.echoConv, 0, 2 ** 32 - 1);
  const options = { listen: String(flags.listen ?? '127.0.0.1:29900'), ...sessionOptions(flags), ...limits };
  let address: { address: string; port: number };
  let sample: () => Promise<ServerReport>;
  let close: () => Promise<void>;
  if (workers > 0) {
    const server = await listenWorkers({ ...options, workers, handler: cliWorkerModule(), name: kind, workerData: { echoConv } satisfies CliWorkerData });
    server.events$.subscribe((e) => {
      if (e.type === 'exit') console.error(`rxkcp: worker ${e.worker} exited (code ${e.code}${e.error ? `: ${e.error.message}` : ''}); its sessions ended; starting another`);
    });
    address = server.address;
    sample = async () => {
      const st = await server.stats();
      const received = (c: Record<string, number>) => (kind === 'sink' ? (c.received ?? 0) : undefined);
      return {
        sessions: st.total.sessions,
        halfOpen: st.total.halfOpen,
        received: received(st.total.counters),
        stats: st.total.snmp,
        workers: st.workers.map((w) => ({ worker: w.worker, sessions: w.sessions, half_open: w.halfOpen, received: received(w.counters), stats: w.snmp })),
      };
    };
    close = () => server.close();
  } else {
    const listener = await Listener.listen(options);
    let received = 0;
    listener.sessions$.subscribe((s) => {
      if (kind === 'echo' || s.conv === echoConv) echo(s);
      else s.data$.subscribe({ next: (m) => (received += m.length), error: () => {} });
    });
    address = listener.address;
    sample = async () => ({ sessions: listener.size, halfOpen: listener.halfOpen, received: kind === 'sink' ? received : undefined, stats: aggregateStats().add(listener.stats).snapshot() });
    close = async () => listener.close();
  }
  const report = async (final = true) => {
    const r = await sample();
    const cpu = process.cpuUsage(); // every thread of the process
    console.log(JSON.stringify({ final, mode: kind, sessions: r.sessions, half_open: r.halfOpen, received: r.received, cpu_user_s: cpu.user / 1e6, cpu_sys_s: cpu.system / 1e6, stats: r.stats, workers: r.workers }));
    if (final && r.stats.InCsumErrors! > 0 && r.stats.InPkts === 0) console.error('rxkcp: only checksum errors so far: does the peer use the same --crypt and --key?');
  };
  if (statsInterval > 0) setInterval(() => void report(false), statsInterval);
  let logged = { refused: 0, evicted: 0 };
  setInterval(() => {
    void sample().then((r) => {
      const now = { refused: r.stats.SessionsRefused!, evicted: r.stats.HalfOpenEvicted! };
      const refused = now.refused - logged.refused;
      const evicted = now.evicted - logged.evicted;
      logged = now;
      if (refused === 0 && evicted === 0) return;
      console.error(
        `rxkcp: limits reached in the last ${LIMIT_LOG_INTERVAL_MS / 1000} s: ${refused} new sessions refused (--max-sessions ${maxSessions || 'none'}, ${r.sessions} held), ${evicted} half-open sources evicted (--max-half-open ${maxHalfOpen})`
      );
    });
  }, LIMIT_LOG_INTERVAL_MS).unref();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void report()
      .then(close)
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // ready only once a signal would be handled: a SIGTERM right after it still gets the final line
  // cpu_s: what starting Node and the listener cost, for a benchmark to leave out of its figures
  const started = process.cpuUsage();
  console.log(JSON.stringify({ ready: true, mode: kind, addr: `${address.address}:${address.port}`, workers, idle_timeout_ms: idleTimeout, max_sessions: maxSessions, max_half_open: maxHalfOpen, cpu_s: (started.user + started.system) / 1e6 }));
}

async function send(flags: Record<string, unknown>): Promise<number> {
  if (!flags.connect) throw new UsageError('send needs --connect HOST:PORT');
  const bytes = int('bytes', flags.bytes ?? 4 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER);
  const msg = int('msg', flags.msg ?? 16384, 1, 1 << 24);
  const stallMs = int('stall-timeout', flags.stallTimeout ?? 10000, 100, 3_600_000);
  const json = Boolean(flags.json);
  const oneway = flags.oneway ? { acked: 0 } : null;
  // SIGINT (Ctrl-C) or SIGTERM: stop, restore the terminal, print the summary, exit 128 + signal
  let interrupted: NodeJS.Signals | null = null;
  let onInterrupt = (): void => {};
  const interrupt = (signal: NodeJS.Signals) => () => {
    interrupted ??= signal;
    onInterrupt();
  };
  process.once('SIGINT', interrupt('SIGINT'));
  process.once('SIGTERM', interrupt('SIGTERM'));
  const session = await dial({ connect: String(flags.connect), ...sessionOptions(flags) });
  const stream = toDuplex(session);
  const verifier = new PatternVerifier();
  let stopStallCheck = (): void => {};
  const bar = !json && process.stdout.isTTY ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {value}/{total} bytes | {rate} MB/s' }, cliProgress.Presets.shades_classic) : null;
  bar?.start(bytes, 0, { rate: '0.0' });
  const t0 = performance.now();
  const cpuAtStart = process.cpuUsage(); // starting Node and dialling: cpu_start_s
  let lastProgress = t0;
  const result = await new Promise<{ ok: boolean; error?: string }>((resolve) => {
    onInterrupt = () => resolve({ ok: false, error: `interrupted by ${interrupted}` });
    if (interrupted) onInterrupt();
    const stall = setInterval(() => {
      if (performance.now() - lastProgress > stallMs) resolve({ ok: false, error: stalled(String(flags.connect), stallMs, session.stats) });
    }, 250);
    stopStallCheck = () => clearInterval(stall);
    stream.on('data', (chunk: Buffer) => {
      lastProgress = performance.now();
      if (!verifier.push(chunk)) return resolve({ ok: false, error: verifier.error! });
      bar?.update(Math.min(verifier.offset, bytes), { rate: (verifier.offset / 1e3 / (performance.now() - t0)).toFixed(1) });
      if (verifier.offset >= bytes) resolve({ ok: verifier.offset === bytes, error: verifier.offset > bytes ? 'more bytes came back than were sent' : undefined });
    });
    stream.on('error', (e: Error) => resolve({ ok: false, error: e instanceof KcpError ? `${e.code}: ${e.message}` : e.message }));
    (async () => {
      for (let off = 0; off < bytes; off += msg) {
        if (!stream.write(patternBytes(off, Math.min(msg, bytes - off)))) await new Promise((r) => stream.once('drain', r));
        if (oneway) (lastProgress = performance.now(), bar?.update(off + msg > bytes ? bytes : off + msg, { rate: ((off + msg) / 1e3 / (performance.now() - t0)).toFixed(1) }));
      }
      if (!oneway) return;
      // one-way: done when the peer has acknowledged every segment (as kcp-go's benchmark waits)
      let left = stream.writableLength + session.waitSnd();
      while (left > 0 && !session.closed) {
        await new Promise((r) => setTimeout(r, 1));
        const now = stream.writableLength + session.waitSnd();
        if (now < left) lastProgress = performance.now();
        left = now;
      }
      if (left === 0) (oneway.acked = bytes, resolve({ ok: true }));
    })().catch(() => {});
    void stall;
  }).finally(() => (stopStallCheck(), bar?.stop()));
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage();
  const out = {
    ok: result.ok,
    error: result.error,
    verified: oneway ? undefined : Math.min(verifier.offset, bytes),
    acknowledged: oneway ? oneway.acked : undefined,
    bytes,
    elapsed_ms: Math.round(elapsed),
    mb_per_s: Number(((oneway ? oneway.acked : verifier.offset) / 1e3 / elapsed).toFixed(2)),
    srtt_ms: session.conversation.kcp.rxSrtt,
    rto_ms: session.conversation.kcp.rxRto,
    cpu_user_s: cpu.user / 1e6,
    cpu_sys_s: cpu.system / 1e6,
    cpu_start_s: (cpuAtStart.user + cpuAtStart.system) / 1e6,
    stats: session.stats.snapshot(),
  };
  if (json) console.log(JSON.stringify(out));
  else console.log(`${out.ok ? 'ok' : 'FAILED'}: ${oneway ? `${out.acknowledged} of ${bytes} bytes acknowledged` : `${out.verified} of ${bytes} bytes verified`} in ${out.elapsed_ms} ms (${out.mb_per_s} MB/s)${out.error ? ` — ${out.error}` : ''}`);
  session.close();
  if (interrupted && !out.ok) return interrupted === 'SIGINT' ? 130 : 143;
  return out.ok ? 0 : 1;
}

/**
 * Why a send made no progress, from what came back: ICMP port-unreachable replies (counted in
 * InErrs) mean nothing listens there; datagrams that fail the checksum mean another --crypt or
 * --key; nothing at all is what a wrong key looks like from this side (the peer cannot open the
 * datagrams, so it never answers), as is a peer that is down or filtered.
 */
function stalled(addr: string, ms: number, st: { InPkts: number; InErrs: number; InCsumErrors: number }): string {
  if (st.InCsumErrors > 0) return `stalled with ${st.InCsumErrors} checksum errors: the peer's --crypt or --key differ from ours`;
  if (st.InPkts === 0 && st.InErrs > 0) return `nothing is listening at ${addr}: ${st.InErrs} ICMP port-unreachable replies and no answer in ${ms} ms`;
  if (st.InPkts === 0) return `no answer at all from ${addr} in ${ms} ms: its --crypt or --key differ (a wrong key shows as checksum errors on the peer, which then never answers), or it is down or filtered`;
  return `stalled: no progress for ${ms} ms: the peer stopped answering`;
}

/** The relay's flags to options; ranges are checked by relay() itself. */
export function relayOptions(f: Record<string, unknown>): RelayOptions {
  if (!f.connect) throw new UsageError('relay needs --connect HOST:PORT (the server)');
  const n = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));
  if (f.profile !== undefined && !(PATH_PROFILE_NAMES as string[]).includes(String(f.profile))) {
    throw new UsageError(`--profile must be one of ${PATH_PROFILE_NAMES.join(', ')}; got ${String(f.profile)}`);
  }
  const profile = f.profile === undefined ? undefined : pathProfile(String(f.profile)).path;
  const both: Impairment = {
    loss: n(f.loss),
    duplicate: n(f.duplicate),
    reorder: n(f.reorder),
    reorderDelay: n(f.reorderDelay),
    delay: n(f.delay),
    jitter: n(f.jitter),
    bandwidth: n(f.bandwidth),
    queue: n(f.queue),
  };
  if (f.burstEnter !== undefined || f.burstExit !== undefined) both.burst = { enter: n(f.burstEnter)!, exit: n(f.burstExit)!, loss: n(f.burstLoss) };
  if (f.blackholeAt !== undefined || f.blackholeFor !== undefined) both.blackhole = { at: n(f.blackholeAt ?? 0)!, duration: n(f.blackholeFor)! };
  for (const k of Object.keys(both) as (keyof Impairment)[]) if (both[k] === undefined) delete both[k];
  return {
    ...profile,
    ...both,
    listen: String(f.listen ?? '127.0.0.1:0'),
    connect: String(f.connect),
    seed: n(f.seed ?? 1),
    up: f.upLoss !== undefined ? { loss: n(f.upLoss) } : undefined,
    down: f.downLoss !== undefined ? { loss: n(f.downLoss) } : undefined,
    mappingTimeout: n(f.mappingTimeout),
    maxMappings: n(f.maxMappings),
  };
}

function relayTable(s: { up: RelayDirectionStats; down: RelayDirectionStats }): string {
  const rows: [string, (d: RelayDirectionStats) => number][] = [
    ['received', (d) => d.received],
    ['forwarded', (d) => d.forwarded],
    ['duplicated', (d) => d.duplicated],
    ['reordered', (d) => d.reordered],
    ['dropped: loss', (d) => d.dropped.loss],
    ['dropped: burst', (d) => d.dropped.burst],
    ['dropped: blackhole', (d) => d.dropped.blackhole],
    ['dropped: queue', (d) => d.dropped.queue],
    ['dropped: total', (d) => d.dropped.total],
    ['bytes received', (d) => d.bytes],
    ['bytes forwarded', (d) => d.forwardedBytes],
    ['queue max (bytes)', (d) => Math.round(d.queueMax)],
  ];
  const head = `${''.padEnd(20)}${'up (to server)'.padStart(16)}${'down (to clients)'.padStart(20)}`;
  return [head, ...rows.map(([name, get]) => `${name.padEnd(20)}${String(get(s.up)).padStart(16)}${String(get(s.down)).padStart(20)}`)].join('\n');
}

async function relayCommand(flags: Record<string, unknown>): Promise<void> {
  const options = relayOptions(flags);
  const json = Boolean(flags.json);
  const duration = flags.duration === undefined ? undefined : int('duration', flags.duration, 1, 2 ** 31 - 1);
  const r = await relay(options);
  const addr = `${r.address.address}:${r.address.port}`;
  console.log(JSON.stringify({ ready: true, mode: 'relay', addr, connect: options.connect, seed: options.seed }));
  const t0 = performance.now();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    const snap = r.stats.snapshot();
    const elapsed_ms = Math.round(performance.now() - t0);
    if (json) console.log(JSON.stringify({ final: true, mode: 'relay', addr, connect: options.connect, seed: options.seed, elapsed_ms, stats: snap }));
    else console.log(`rxkcp relay ${addr} → ${options.connect}, seed ${options.seed}, ${(elapsed_ms / 1000).toFixed(1)} s, ${snap.clients} client address(es)\n${relayTable(snap)}`);
    void r.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (duration !== undefined) setTimeout(stop, duration);
}

export async function main(argv = process.argv): Promise<number> {
  // kcptun's own flag syntax (-l, -mode fast3, -c config.json): parsed by tunnel-cli, not cac
  if (argv[2] === 'tunnel') return tunnelMain(argv.slice(3));
  const cli = cac('rxkcp');
  cli.command('tunnel <client|server>', "a kcptun-compatible TCP tunnel with kcptun's flags (rxkcp tunnel --help)");
  withServerFlags(withSessionFlags(cli.command('echo', 'echo every byte of every session').option('--listen <addr>', 'HOST:PORT to listen on (:PORT: every IPv4 interface)', { default: '127.0.0.1:29900' })));
  withServerFlags(
    withSessionFlags(
      cli
        .command('sink', 'discard and count what arrives')
        .option('--listen <addr>', 'HOST:PORT to listen on (:PORT: every IPv4 interface)', { default: '127.0.0.1:29900' })
        .option('--echo-conv <conv>', 'echo, not sink, the sessions with this conversation id (a latency probe beside a bulk transfer)')
    )
  );
  withSessionFlags(
    cli
      .command('send', 'send N pattern bytes to an echo server and verify them (--oneway: to a sink, until all are acknowledged)')
      .option('--connect <addr>', 'HOST:PORT of the echo server')
      .option('--bytes <n>', 'bytes to send', { default: 4 * 1024 * 1024 })
      .option('--msg <n>', 'bytes per write', { default: 16384 })
      .option('--stall-timeout <ms>', 'give up after no progress this long', { default: 10000 })
      .option('--oneway', 'do not wait for an echo: done when the peer has acknowledged every byte')
      .option('--json', 'print one JSON line')
  );
  cli
    .command('relay', 'a seeded network emulator between clients and a server: loss, bursts, duplication, reordering, delay, bandwidth, blackholes')
    .option('--listen <addr>', 'HOST:PORT the clients send to', { default: '127.0.0.1:0' })
    .option('--connect <addr>', 'HOST:PORT of the server')
    .option('--profile <name>', `a named path, each direction (docs/paths.md): ${PATH_PROFILE_NAMES.join(', ')}; the flags below replace its fields`)
    .option('--loss <p>', 'independent loss probability 0..1, each direction')
    .option('--up-loss <p>', 'loss client → server (replaces --loss there)')
    .option('--down-loss <p>', 'loss server → client (replaces --loss there)')
    .option('--burst-enter <p>', 'Gilbert–Elliott bursts: P(good → bad) per datagram')
    .option('--burst-exit <p>', 'Gilbert–Elliott bursts: P(bad → good) per datagram')
    .option('--burst-loss <p>', 'loss in the bad state (default 1)')
    .option('--duplicate <p>', 'probability a datagram is sent twice')
    .option('--reorder <p>', 'probability a datagram is held back so later ones overtake it')
    .option('--reorder-delay <ms>', 'how long a reordered datagram is held (default 10)')
    .option('--delay <ms>', 'one-way delay')
    .option('--jitter <ms>', 'extra delay, uniform 0..ms')
    .option('--bandwidth <bytes/s>', 'rate cap per direction')
    .option('--queue <bytes>', 'bytes that may wait for the capped link (drop-tail); more are dropped (default 1 MiB)')
    .option('--blackhole-at <ms>', 'drop everything from this long after start ...')
    .option('--blackhole-for <ms>', '... for this long')
    .option('--seed <n>', 'seed of every decision', { default: 1 })
    .option('--mapping-timeout <ms>', 'forget a client address nothing crossed for this long, as a NAT does (default 120000)')
    .option('--max-mappings <n>', 'most client addresses at once, one upstream socket each; the least recently used goes first (default 4096)')
    .option('--duration <ms>', 'stop after this long (else at SIGINT/SIGTERM) and print the counters')
    .option('--json', 'print the counters as one JSON line');
  cli.option('-v, --version', 'print the version');
  // a command's --help starts with what the command does (cac lists it only in the top-level help)
  cli.help((sections) => {
    const what = cli.matchedCommand?.description;
    if (what) sections.splice(0, 1, { body: `rxkcp ${cli.matchedCommand!.name}: ${what}` });
    return sections;
  });
  try {
    const parsed = cli.parse(joinNegativeValues(argv), { run: false });
    const name = cli.matchedCommandName;
    if (parsed.options.help) return 0;
    if (parsed.options.version) {
      console.log(`rxkcp ${packageVersion()}`);
      return 0;
    }
    const command = cli.matchedCommand;
    if (command === undefined) {
      const commands = cli.commands.map((c) => c.name).join(', ');
      throw new UsageError(parsed.args[0] === undefined ? `a command is needed: ${commands} (rxkcp --help)` : `unknown command ${String(parsed.args[0])}; the commands are ${commands} (rxkcp --help)`);
    }
    // what cac's run would check: no unknown flag (a typo must not fall back to a default), every
    // flag that takes a value has one, no stray arguments
    command.checkUnknownOptions();
    command.checkOptionValue();
    command.checkUnusedArgs();
    if (name === 'echo' || name === 'sink') {
      await serve(name, parsed.options);
      return -1; // keeps running
    }
    if (name === 'send') return await send(parsed.options);
    if (name === 'relay') {
      await relayCommand(parsed.options);
      return -1; // keeps running
    }
    cli.outputHelp();
    return 2;
  } catch (e) {
    const message = (e as Error).message.replace(/`/g, '');
    console.error(`rxkcp: ${message}`);
    return 2;
  }
}

/** `--bytes -5` as `--bytes=-5`: the flag parser would take `-5` for a flag and `--bytes` for true. */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (i >= 2 && a.startsWith('--') && !a.includes('=') && next !== undefined && /^-\d/.test(next)) out.push(`${a}=${next}`), i++;
    else out.push(a);
  }
  return out;
}

/** The version in rxkcp's package.json (one level up from dist/cli.js and from cli/cli.ts alike). */
function packageVersion(): string {
  for (const rel of ['../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rxkcp' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next place
    }
  }
  return 'unknown';
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/rxkcp') || process.argv[1]?.endsWith('cli.js')) {
  main().then((code) => {
    if (code >= 0) process.exit(code);
  });
}
