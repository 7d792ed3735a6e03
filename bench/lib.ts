/**
 * Shared helpers for rxkcp's benchmarks: timing loops, JSON-line output, and running kcp-go's own
 * Go benchmarks from Debian's source in the same run so results are reported as ratios.
 *
 * Output: one JSON object per line, `{"name","value","unit"}`, plus `"go"` and `"ratio"` when a
 * kcp-go figure was measured beside it. `ratio` is always "rxkcp speed / kcp-go speed", so 1.0 is
 * parity and higher is better, whatever the unit.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** `git` in the repository, or null when that fails (no git, not a checkout). */
function git(...args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

/**
 * What a benchmark ran on, as one line: the commit and whether the tree had changes to tracked
 * files, Node's version, the CPU model and count, and the load average (1, 5, 15 min) now.
 */
/** Files the benchmarks write and the report keeps: a change to them is no change to what is measured. */
export const REPORT_OUTPUTS = ['docs/performance.md', 'bench/history'];

/**
 * What the benchmarks measure: the package's code and build, the benchmarks and the programs they
 * run (kcppeer, the examples); not the report that renders them (bench/report.ts). Runs whose
 * `codeCommit` is the same measured the same code.
 */
const MEASURED = ['src', 'operators', 'cli', 'bench', ':!bench/report.ts', ...REPORT_OUTPUTS.map((p) => `:!${p}`), 'package.json', 'package-lock.json', 'tsup.config.ts', 'test/interop/kcppeer', 'test/interop/go-peer.ts', 'examples', 'scripts'];

/** The package itself: its code and how it is built. */
const PACKAGE = ['src', 'operators', 'cli', 'package.json', 'package-lock.json', 'tsup.config.ts', 'tsconfig.build.json'];

/**
 * The last commit at or before `at` that changed the package itself (see PACKAGE): runs whose
 * package commit is the same measured the same rxkcp, whatever their benchmarks' own code.
 */
export function packageCommit(at = 'HEAD'): string | null {
  return git('log', '-1', '--format=%h', '--abbrev=10', at, '--', ...PACKAGE);
}

/**
 * The last commit that changed what the benchmarks measure (see MEASURED), and whether the working
 * tree changes any of it now (then runs cannot be compared with others, and `commit` is null).
 */
export function codeCommit(): { commit: string | null; clean: boolean } {
  const changed = git('status', '--porcelain', '--untracked-files=no', '--', ...MEASURED);
  const commit = git('log', '-1', '--format=%h', '--abbrev=10', '--', ...MEASURED);
  const clean = changed === '';
  return { commit: clean ? commit : null, clean };
}

export function ranOn(): string {
  const commit = git('rev-parse', '--short=10', 'HEAD');
  // the report's own outputs do not make the tree modified
  const changed = git('status', '--porcelain', '--untracked-files=no', '--', '.', ...REPORT_OUTPUTS.map((p) => `:!${p}`));
  const tree = commit === null ? 'not a git checkout' : `commit ${commit} ${changed === '' ? '(clean)' : `(modified: ${changed?.split('\n').length ?? '?'} tracked files changed)`}`;
  const cpu = cpus();
  return `${tree}, node ${process.version}, ${cpu[0]?.model.trim() ?? 'unknown CPU'} × ${cpu.length}, load average ${load()}`;
}

/** Set in a benchmark's environment once its parent has printed what it runs on. */
const PRINTED = 'RXKCP_BENCH_RAN_ON';

/**
 * Prints what the benchmark runs on (`# ran on: ...`, see `ranOn`) to stdout now, and the load
 * average again (`# load after: ...`) when the process exits, so every figure it prints can be
 * read with the machine's state. A benchmark run by another that already printed them (bench/run.ts)
 * prints nothing. Call it first thing in every benchmark.
 */
export function printRanOn(): void {
  if (process.env[PRINTED]) return;
  process.env[PRINTED] = '1';
  process.stdout.write(`# ran on: ${ranOn()}\n`);
  process.on('exit', () => process.stdout.write(`# load after: ${load()}\n`));
}

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  go?: number;
  ratio?: number;
  note?: string;
}

export function emit(row: BenchRow): void {
  const out: BenchRow = { ...row, value: round(row.value) };
  if (row.go !== undefined) out.go = round(row.go);
  if (row.ratio !== undefined) out.ratio = round(row.ratio);
  process.stdout.write(JSON.stringify(out) + '\n');
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Nanoseconds per call of `fn`: a warm-up, then `rounds` timed rounds of about `roundMs` each;
 * returns the median round. `fn` may do `batch` operations per call; the result is per operation.
 */
export function nsPerOp(fn: () => void, opts: { rounds?: number; roundMs?: number; batch?: number } = {}): number {
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 120;
  const batch = opts.batch ?? 1;
  // warm-up and calibration: how many calls fit in one round
  let calls = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > roundMs / 4) {
      calls = Math.max(1, Math.round((calls * roundMs) / ms));
      break;
    }
    calls *= 2;
  }
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    per.push(Number(process.hrtime.bigint() - t0) / (calls * batch));
  }
  return median(per);
}

const KCP_GO_DIR = '/usr/share/gocode/src/github.com/xtaci/kcp-go';
const TESTIFY_DIR = '/usr/share/gocode/src/github.com/stretchr/testify';
let warned = false;

/**
 * True when Debian's kcp-go source, the testify package its benchmark files import, and a Go
 * toolchain are installed (`apt-get install golang-go golang-github-xtaci-kcp-dev
 * golang-github-stretchr-testify-dev`). Says once on stderr what is missing.
 */
export function haveGo(): boolean {
  const missing = [KCP_GO_DIR, TESTIFY_DIR].filter((d) => !existsSync(d));
  if (missing.length > 0) {
    if (!warned) console.error(`kcp-go's benchmarks need ${missing.join(' and ')} (Debian: golang-github-xtaci-kcp-dev, golang-github-stretchr-testify-dev): measuring rxkcp alone`);
    warned = true;
    return false;
  }
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One Go benchmark result line. */
export interface GoBenchResult {
  nsPerOp: number;
  mbPerS?: number;
  bytesPerOp?: number;
  allocsPerOp?: number;
}

/**
 * Runs kcp-go's own benchmarks (`go test -bench`) in Debian's source tree, GOPATH mode, and
 * returns the results by benchmark name without the `-N` CPU suffix. `regex` is Go's -bench.
 */
export function runKcpGoBench(regex: string, benchtime = '300ms'): Map<string, GoBenchResult> {
  const out = execFileSync(
    'go',
    ['test', '-run', '^$', '-bench', regex, '-benchmem', '-benchtime', benchtime, '.'],
    {
      cwd: KCP_GO_DIR,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 16 << 20,
    }
  );
  const results = new Map<string, GoBenchResult>();
  for (const line of out.split('\n')) {
    const m = /^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns\/op(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[3]!;
    const r: GoBenchResult = { nsPerOp: Number(m[2]) };
    const mb = /([\d.]+) MB\/s/.exec(rest);
    if (mb) r.mbPerS = Number(mb[1]);
    const bo = /(\d+) B\/op/.exec(rest);
    if (bo) r.bytesPerOp = Number(bo[1]);
    const ao = /(\d+) allocs\/op/.exec(rest);
    if (ao) r.allocsPerOp = Number(ao[1]);
    results.set(m[1]!, r);
  }
  return results;
}

/**
 * Measures rxkcp and kcp-go side by side: `runs` alternating rounds (ours, then Go's), the median
 * of each, emitted as one row in ns/op with `go` and `ratio` (Go ns / our ns: >1 means we are
 * faster). Without Go installed, emits our figure alone with a note.
 */
export function sideBySide(
  cases: { name: string; goBench: string; fn: () => void; batch?: number }[],
  runs = 3
): void {
  const go = haveGo();
  const ours = new Map<string, number[]>();
  const theirs = new Map<string, number[]>();
  const regex = '^(' + cases.map((c) => c.goBench).join('|') + ')$';
  for (let r = 0; r < runs; r++) {
    for (const c of cases) {
      const v = nsPerOp(c.fn, { batch: c.batch ?? 1 });
      ours.set(c.name, [...(ours.get(c.name) ?? []), v]);
    }
    if (go) {
      const res = runKcpGoBench(regex);
      for (const c of cases) {
        const g = res.get(c.goBench);
        if (g) theirs.set(c.name, [...(theirs.get(c.name) ?? []), g.nsPerOp]);
      }
    }
  }
  for (const c of cases) {
    const v = median(ours.get(c.name)!);
    const g = theirs.get(c.name);
    if (g && g.length) {
      const gm = median(g);
      emit({ name: c.name, value: v, unit: 'ns/op', go: gm, ratio: gm / v });
    } else {
      emit({ name: c.name, value: v, unit: 'ns/op', note: go ? `no Go result for ${c.goBench}` : 'kcp-go not installed' });
    }
  }
}
