/**
 * Test harness for kcppeer, rxkcp's interop peer built against the real kcp-go 5.6.1
 * (`test/interop/kcppeer/main.go`): builds it with the system Go in GOPATH mode, starts its
 * listening modes (echo, sink) and runs its connecting modes (send, oneway), all through
 * `node:child_process`, and parses the JSON lines it prints. Also starts kcptun as a black box.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Where the Debian packages put the Go sources (kcp-go 5.6.1, reedsolomon, x/crypto, ...). */
export const GOPATH = '/usr/share/gocode';
/** kcppeer's Go sources. */
export const KCPPEER_SRC = join(here, 'kcppeer');
/** The built kcppeer binary (git-ignored). */
export const KCPPEER_BIN = join(here, 'bin', 'kcppeer');
/** The password the vectors in test/vectors use (`cipher_keys`); kcptun's own default differs. */
export const INTEROP_KEY = 'kcp-interop-secret';

/** kcptun's `--crypt` names, plus kcppeer's `null` (alias `off`): no BlockCrypt at all. */
export type GoCrypt =
  | 'aes'
  | 'aes-128'
  | 'aes-192'
  | 'salsa20'
  | 'blowfish'
  | 'twofish'
  | 'cast5'
  | '3des'
  | 'tea'
  | 'xtea'
  | 'xor'
  | 'sm4'
  | 'none'
  | 'null'
  | 'off';

/**
 * kcppeer's flags (same names as on its command line). Unset flags take kcppeer's defaults,
 * which are kcptun's: crypt aes, key "it's a secrect", FEC 10/3, mode fast, mtu 1350,
 * windows 1024/1024, sockbuf 4 MiB; stream and acknodelay off; no loss.
 */
export interface GoPeerFlags {
  crypt?: GoCrypt;
  key?: string;
  datashard?: number;
  parityshard?: number;
  mode?: 'normal' | 'fast' | 'fast2' | 'fast3' | 'manual';
  /** Only with mode 'manual'. */
  nodelay?: number;
  interval?: number;
  resend?: number;
  nc?: number;
  mtu?: number;
  sndwnd?: number;
  rcvwnd?: number;
  acknodelay?: boolean;
  stream?: boolean;
  sockbuf?: number;
  /** Fraction (0..1) of outgoing and of incoming datagrams the peer drops at random. */
  loss?: number;
  seed?: number;
}

/** Flags of the listening modes. */
export interface GoListenFlags extends GoPeerFlags {
  /** Default 127.0.0.1:0 (ephemeral port; the ready line reports the real one). */
  listen?: string;
  /** sink only: print a report line when a session has received this many bytes. */
  expect?: number;
  /** sink only: echo, not sink, the sessions with this conversation id. */
  'echo-conv'?: number;
}

/** Flags of the connecting modes. */
export interface GoConnectFlags extends GoPeerFlags {
  connect: string;
  /** Pattern bytes to send (default 4 MiB). */
  bytes?: number;
  /** Bytes per Write call (default 16384). */
  msg?: number;
  /** Conversation id; default random. */
  conv?: number;
  /** Fail when nothing moves for this long (ms; default 10 000). */
  stallTimeoutMs?: number;
}

/** kcp-go's DefaultSnmp, keyed by its Header() names (5.6.1: BytesSent ... FECShortShards). */
export type GoSnmp = Record<string, number>;

/** A `snapshot` or `final` line of a listening peer. */
export interface GoPeerReport {
  mode: 'echo' | 'sink';
  sessions: number;
  /** echo: bytes echoed by all sessions. */
  echoed?: number;
  /** sink: bytes received by all sessions. */
  received?: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  /** Present when loss injection is on. */
  loss_dropped_in?: number;
  loss_dropped_out?: number;
  stats: GoSnmp;
}

/** The result line of `send` / `oneway`, plus the exit code. */
export interface GoTransferResult {
  ok: boolean;
  error?: string;
  mode: 'send' | 'oneway';
  /** send only: echoed bytes checked against the pattern. */
  verified?: number;
  bytes: number;
  written: number;
  elapsed_ms: number;
  /** 10^6 bytes per second of verified (send) or acknowledged (oneway) bytes. */
  mb_per_s: number;
  conv: number;
  srtt_ms: number;
  rto_ms: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  loss_dropped_in?: number;
  loss_dropped_out?: number;
  stats: GoSnmp;
  exitCode: number | null;
}

/** A JSON line printed by kcppeer. */
export type GoPeerLine = Record<string, unknown>;

/** A running echo or sink peer. */
export interface GoPeer {
  /** The bound address, "127.0.0.1:PORT". */
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Every JSON line printed so far (ready, accepted, session reports, snapshots). */
  readonly lines: readonly GoPeerLine[];
  /** Asks for a snapshot of the counters. */
  stats(timeoutMs?: number): Promise<GoPeerReport>;
  /** The first line (already printed or still to come) that satisfies `predicate`. */
  waitForLine(predicate: (line: GoPeerLine) => boolean, timeoutMs?: number): Promise<GoPeerLine>;
  /** SIGTERM; resolves with the final counters once the process has exited. Idempotent. */
  stop(timeoutMs?: number): Promise<GoPeerReport>;
}

/** Whether `command` runs here (`command --version`-style probe with the given args). */
function runs(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

let haveGo: boolean | undefined;

/** True when Go and the kcp-go 5.6.1 sources are installed, so kcppeer can be built. */
export function haveGoPeer(): boolean {
  haveGo ??=
    existsSync(join(GOPATH, 'src/github.com/xtaci/kcp-go/sess.go')) && runs('go', ['version']);
  if (!haveGo && process.env.RXKCP_REQUIRE_GO) {
    throw new Error('RXKCP_REQUIRE_GO is set but Go or kcp-go is missing: interop cannot be skipped here');
  }
  return haveGo;
}

/** True when Debian's kcptun (kcptun-client, kcptun-server) is installed. */
export function haveKcptun(): boolean {
  const have = runs('kcptun-server', ['--version']) && runs('kcptun-client', ['--version']);
  if (!have && process.env.RXKCP_REQUIRE_GO) {
    throw new Error('RXKCP_REQUIRE_GO is set but kcptun is missing: interop cannot be skipped here');
  }
  return have;
}

/** The environment for `go build` in GOPATH mode against the Debian sources. */
export function goEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' };
  // Go needs somewhere to cache builds; CI users may have no HOME.
  if (!env.GOCACHE && !env.HOME && !env.XDG_CACHE_HOME) {
    env.GOCACHE = join(tmpdir(), 'rxkcp-go-build');
  }
  return env;
}

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.go')) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
  }
  return newest;
}

const building = new Map<string, Promise<string>>();

/**
 * Builds the Go program in `srcDir` (GOPATH mode, against the Debian sources) into `bin` unless
 * the binary is newer than every source file; resolves with the binary's path. Concurrent calls
 * share one build.
 */
export function buildGoProgram(srcDir: string, bin: string): Promise<string> {
  if (existsSync(bin) && statSync(bin).mtimeMs >= newestSourceMtime(srcDir)) return Promise.resolve(bin);
  let b = building.get(bin);
  if (b) return b;
  b = new Promise<string>((resolve, reject) => {
    mkdirSync(dirname(bin), { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const go = spawn('go', ['build', '-o', tmp, '.'], {
      cwd: srcDir,
      env: goEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    go.stdout.on('data', (d: Buffer) => (output += d.toString()));
    go.stderr.on('data', (d: Buffer) => (output += d.toString()));
    go.on('error', reject);
    go.on('close', (code) => {
      if (code !== 0) return reject(new Error(`go build ${srcDir} failed (${code}):\n${output}`));
      renameSync(tmp, bin); // atomic: a half-written binary is never run
      resolve(bin);
    });
  }).finally(() => building.delete(bin));
  building.set(bin, b);
  return b;
}

/** How long a Go program run by `runGoProgram` may take (ms): the scripts run in real time, a few seconds. */
const GO_PROGRAM_TIMEOUT_MS = 60_000;

/**
 * Builds the Go program in `srcDir` into test/interop/bin/ (see `buildGoProgram`), runs it with
 * `args` and resolves with the one JSON value it prints on stdout. Rejects, naming the program,
 * when the build fails, the program exits with an error or a signal, or its output is not JSON.
 */
export async function runGoProgram<T>(srcDir: string, args: readonly string[] = []): Promise<T> {
  const bin = await buildGoProgram(srcDir, join(here, 'bin', basename(srcDir)));
  const what = [basename(srcDir), ...args].join(' ');
  const run = spawnSync(bin, args, { encoding: 'utf8', timeout: GO_PROGRAM_TIMEOUT_MS });
  if (run.error) throw new Error(`${what}: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`${what} exited with ${run.status ?? run.signal}:\n${run.stderr}`);
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`${what} printed no JSON on stdout:\n${run.stdout}${run.stderr}`);
  }
}

/** The Go program that runs the hand-driven kcp-go scripts (`kcpscripts/main.go`) for `runGoProgram`. */
export const KCPSCRIPTS_SRC = join(here, 'kcpscripts');

/** Builds kcppeer into test/interop/bin/ (see `buildGoProgram`). */
export function buildGoPeer(): Promise<string> {
  return buildGoProgram(KCPPEER_SRC, KCPPEER_BIN);
}

/**
 * Turns flags into kcppeer arguments:
 * `{ datashard: 10, stream: true, stallTimeoutMs: 500 }`
 * → `--datashard 10 --stream=true --stall-timeout 500ms`.
 */
export function goPeerArgs(flags: GoListenFlags | GoConnectFlags): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    if (name === 'stallTimeoutMs') {
      args.push('--stall-timeout', `${value}ms`);
    } else if (typeof value === 'boolean') {
      args.push(`--${name}=${value}`);
    } else {
      args.push(`--${name}`, String(value));
    }
  }
  return args;
}

/** Reads JSON lines from a child's stdout; non-JSON lines are ignored. */
class LineCollector {
  readonly lines: GoPeerLine[] = [];
  private waiters: Array<{
    predicate: (l: GoPeerLine) => boolean;
    resolve: (l: GoPeerLine) => void;
  }> = [];

  constructor(stream: NodeJS.ReadableStream) {
    createInterface({ input: stream }).on('line', (text) => {
      let line: GoPeerLine;
      try {
        line = JSON.parse(text) as GoPeerLine;
      } catch {
        return;
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(line)) return true;
        w.resolve(line);
        return false;
      });
    });
  }

  /**
   * The first line at index >= `from` satisfying `predicate`; rejects after `timeoutMs`, or
   * when `failed` rejects (the process ended).
   */
  wait(
    predicate: (l: GoPeerLine) => boolean,
    from: number,
    timeoutMs: number,
    failed: Promise<never>,
    what: string
  ): Promise<GoPeerLine> {
    const seen = this.lines.slice(from).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<GoPeerLine>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (l: GoPeerLine) => (clearTimeout(timer), resolve(l)),
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`kcppeer: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
      failed.catch((e: unknown) => (clearTimeout(timer), reject(e)));
    });
  }
}

/** Keeps the tail of a child's stderr for error messages. */
function collectStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => {
    text = (text + d.toString()).slice(-16_384);
  });
  return () => text.trim();
}

/**
 * Starts kcppeer in a listening mode and resolves once it has printed its ready line (rejects
 * after `readyTimeoutMs`, or if it exits first). The peer reads commands on stdin, so it also
 * exits if this process dies.
 */
export async function startGoPeer(
  mode: 'echo' | 'sink',
  flags: GoListenFlags = {},
  options: { readyTimeoutMs?: number } = {}
): Promise<GoPeer> {
  const bin = await buildGoPeer();
  const child = spawn(bin, [mode, ...goPeerArgs(flags), '--control-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr = collectStderr(child);
  child.stdin.on('error', () => {}); // a command written as the peer exits must not crash us
  const out = new LineCollector(child.stdout);
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
  });
  const spawnError = new Promise<never>((_, reject) => child.on('error', reject));
  // Rejects if the process ends or cannot start; awaiting the wanted line races against it.
  const failed: Promise<never> = Promise.race([
    spawnError,
    exited.then((code) => {
      throw new Error(`kcppeer ${mode} exited (${code}): ${stderr()}`);
    }),
  ]);
  failed.catch(() => {}); // observed by each wait; never an unhandled rejection on its own

  let ready: GoPeerLine;
  try {
    const timeoutMs = options.readyTimeoutMs ?? 10_000;
    ready = await out.wait((l) => l.ready === true, 0, timeoutMs, failed, 'the ready line');
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const addr = String(ready.addr);
  const colon = addr.lastIndexOf(':');
  let stopping: Promise<GoPeerReport> | undefined;

  return {
    addr,
    host: addr.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(addr.slice(colon + 1)),
    process: child,
    lines: out.lines,
    stats(timeoutMs = 10_000) {
      const from = out.lines.length;
      child.stdin.write('stats\n');
      return out
        .wait((l) => l.snapshot === true, from, timeoutMs, failed, 'a stats snapshot')
        .then((l) => l as unknown as GoPeerReport);
    },
    waitForLine(predicate, timeoutMs = 30_000) {
      return out.wait(predicate, 0, timeoutMs, failed, 'a matching line');
    },
    stop(timeoutMs = 10_000) {
      stopping ??= (async () => {
        const gone = exited.then((code): never => {
          throw new Error(`kcppeer ${mode} exited (${code}) without a final line: ${stderr()}`);
        });
        const final = out.wait((l) => l.final === true, 0, timeoutMs, gone, 'the final line');
        child.kill('SIGTERM');
        try {
          const line = await final;
          await exited;
          return line as unknown as GoPeerReport;
        } catch (e) {
          child.kill('SIGKILL');
          throw e;
        }
      })();
      return stopping;
    },
  };
}

/** Runs a connecting mode to completion and resolves with its JSON result line. */
function runTransfer(
  mode: 'send' | 'oneway',
  flags: GoConnectFlags,
  timeoutMs: number
): Promise<GoTransferResult> {
  return buildGoPeer().then(
    (bin) =>
      new Promise<GoTransferResult>((resolve, reject) => {
        const child = spawn(bin, [mode, ...goPeerArgs(flags), '--json'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const stderr = collectStderr(child);
        const out = new LineCollector(child.stdout);
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (e) => (clearTimeout(timer), reject(e)));
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          const result = out.lines.find((l) => typeof l.ok === 'boolean');
          if (!result) {
            const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code}`;
            return reject(new Error(`kcppeer ${mode}: no result (${why}): ${stderr()}`));
          }
          resolve({ ...(result as unknown as GoTransferResult), exitCode: code });
        });
      })
  );
}

/**
 * `kcppeer send`: dials `flags.connect`, writes `flags.bytes` pattern bytes, reads the echo back
 * and verifies every byte. Resolves with the result even when it failed (`ok: false`, `error`);
 * rejects only when no result line was printed (bad flags, crash, killed after `timeoutMs`).
 */
export function runGoSend(
  flags: GoConnectFlags,
  options: { timeoutMs?: number } = {}
): Promise<GoTransferResult> {
  return runTransfer('send', flags, options.timeoutMs ?? 120_000);
}

/**
 * `kcppeer oneway`: writes `flags.bytes` pattern bytes to a sink and resolves once every segment
 * has been acknowledged (elapsed_ms and mb_per_s cover write start to last ACK).
 */
export function runGoOneway(
  flags: GoConnectFlags,
  options: { timeoutMs?: number } = {}
): Promise<GoTransferResult> {
  return runTransfer('oneway', flags, options.timeoutMs ?? 120_000);
}

/** A running kcptun-client or kcptun-server. */
export interface KcptunProcess {
  readonly process: ChildProcess;
  /** Its log so far (kcptun logs to stderr). */
  log(): string;
  /** SIGTERM, then waits for the exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's kcptun-server or kcptun-client with the given long flags (kcptun's names:
 * `{ listen, target, key, crypt, mode, datashard, ... }` for the server, `{ localaddr,
 * remoteaddr, ... }` for the client) and resolves once it has derived its key, i.e. is about
 * to serve. kcptun carries smux (and snappy unless `nocomp`) inside KCP, so its peer must be
 * kcptun too; it is useful as a black box that shows kcp-go + kcptun work on this machine.
 */
export function startKcptun(
  role: 'server' | 'client',
  flags: Record<string, string | number | boolean>,
  options: { readyTimeoutMs?: number } = {}
): Promise<KcptunProcess> {
  const args: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (value === false) continue;
    args.push(`--${name}`);
    if (value !== true) args.push(String(value));
  }
  const child = spawn(`kcptun-${role}`, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = collectStderr(child);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let stopping: Promise<void> | undefined;
  const handle: KcptunProcess = {
    process: child,
    log,
    stop() {
      stopping ??= (child.exitCode === null && child.signalCode === null
        ? (child.kill('SIGTERM'), exited)
        : Promise.resolve()
      ).then(() => undefined);
      return stopping;
    },
  };
  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  return new Promise<KcptunProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcptun-${role}: not ready after ${timeoutMs} ms:\n${log()}`));
    }, timeoutMs);
    child.on('error', (e) => (clearTimeout(timer), reject(e)));
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`kcptun-${role} exited (${code}):\n${log()}`));
    });
    child.stderr?.on('data', () => {
      if (log().includes('key derivation done')) {
        clearTimeout(timer);
        resolve(handle);
      }
    });
  });
}
