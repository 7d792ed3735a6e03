/**
 * `npm run bench:report`: runs the published benchmarks from a clean build, one after the other,
 * keeps the run in bench/history/ and writes docs/performance.md from every kept run of the same
 * code: for each benchmark, its tables over all those runs as ranges (lowest–highest), then each
 * run's own tables with what it ran on (commit and whether the tree was clean, Node, CPU, load
 * average before and after; see `ranOn` in lib.ts).
 *
 * Runs are merged when they measured the same rxkcp: the same `packageCommit` (lib.ts: the last
 * commit that changed the package's code or build) and the same settings. A run of another package
 * replaces the history (its files are removed). A run from a tree that changed anything it measures
 * (`codeCommit` null: the package, the benchmarks or the programs they run) is written to
 * docs/performance.md alone and not kept. Each run's own commit is listed, and a merged table
 * whose runs printed tables of another shape is not merged. Run it again later (another
 * time of day, another load) to widen the ranges: figures quoted from the report are ranges over
 * its runs.
 *
 * The list is `BENCHMARKS` below: an npm script and what it shows. A script that package.json
 * does not have is listed in the report as not run. The benchmarks' own settings apply
 * (BENCH_MB, BENCH_RUNS, ... pass through from the environment, and the report says which were
 * set; runs with other settings are not merged). `node --import tsx bench/report.ts --only
 * bench:speed,start` runs some of them; `--render` only writes docs/performance.md again from
 * bench/history/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { codeCommit, packageCommit, ranOn } from './lib.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The published benchmarks, in the order the report gives them. */
const BENCHMARKS: { script: string; title: string; about: string }[] = [
  { script: 'bench:speed', title: 'Throughput and CPU against kcp-go over loopback', about: 'echo and one-way transfers between separate processes, rxkcp and kcp-go 5.6.1 in every pairing, fast3, windows 1024' },
  { script: 'bench:sessions', title: 'Many sessions on one server', about: 'memory per idle session, and echo latency with many quiet sessions, rxkcp and kcp-go servers' },
  { script: 'bench:latency', title: 'Message round trips under loss (virtual time)', about: "kcptun's modes at 0–20 % loss, 50 ms one-way delay, in virtual time (independent of the machine)" },
  { script: 'start', title: 'The demo (npm start)', about: 'an echo server and a client streaming for 4 s over loopback, aes, FEC 10/3, fast3' },
  { script: 'bench:wan', title: 'Emulated WAN paths', about: 'bulk transfers and small-message delay through `rxkcp relay` path profiles' },
  { script: 'bench:workers', title: 'Listener workers', about: 'a listener spread over worker threads' },
];

/** Environment variables the benchmarks read; the report names those that were set. */
const SETTINGS = /^(BENCH_|INTEGRITY_|WAN_)/;

const only = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? new Set(process.argv[i + 1]!.split(',')) : null;
})();
const scripts = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Runs `npm run -s <script>`, passing its output through, and resolves with it and the exit code. */
function run(script: string): Promise<{ out: string; code: number | null; seconds: number }> {
  const env = { ...process.env };
  delete env.RXKCP_BENCH_RAN_ON; // each benchmark prints what it ran on itself
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', script], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ out, code, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

/** A benchmark's output as markdown: its tables as printed, other text in code blocks, JSON rows as a table when it printed none. */
function toMarkdown(out: string): { provenance: string[]; body: string[] } {
  const provenance: string[] = [];
  const body: string[] = [];
  const rows: Record<string, unknown>[] = [];
  let text: string[] = [];
  let tables = 0;
  const flushText = () => {
    while (text.length > 0 && text[0]!.trim() === '') text.shift();
    while (text.length > 0 && text.at(-1)!.trim() === '') text.pop();
    if (text.length > 0) body.push('```', ...text, '```', '');
    text = [];
  };
  let inTable = false;
  for (const line of out.split('\n')) {
    if (line.startsWith('# ran on: ') || line.startsWith('# load after: ')) {
      provenance.push(line.slice(2));
      continue;
    }
    if (line.startsWith('{')) {
      try {
        rows.push(JSON.parse(line) as Record<string, unknown>);
        continue;
      } catch {
        // not JSON: text
      }
    }
    if (line.startsWith('|')) {
      if (!inTable) {
        flushText();
        tables++;
      }
      inTable = true;
      body.push(line);
      continue;
    }
    if (inTable) body.push('');
    inTable = false;
    text.push(line);
  }
  flushText();
  if (tables === 0 && rows.length > 0) {
    const cell = (v: unknown) => (v === undefined ? '' : String(v).replace(/\|/g, '\\|'));
    if (rows.every((r) => 'name' in r && 'value' in r)) {
      body.push('| measure | value | unit | kcp-go | ratio (rxkcp ÷ kcp-go speed) | note |', '| --- | ---: | --- | ---: | ---: | --- |');
      for (const r of rows) body.push(`| ${cell(r.name)} | ${cell(r.value)} | ${cell(r.unit)} | ${cell(r.go)} | ${cell(r.ratio)} | ${cell(r.note)} |`);
    } else {
      // rows of another shape: their own keys, in the order they first appear, are the columns
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      body.push(`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`);
      for (const r of rows) body.push(`| ${keys.map((k) => cell(r[k])).join(' | ')} |`);
    }
    body.push('');
  }
  return { provenance, body };
}

/** One benchmark's part of a run. */
interface Section {
  script: string;
  seconds: number;
  code: number | null;
  provenance: string[];
  body: string[];
}

/** A run of the report, as kept in bench/history/<started>.json. */
interface Run {
  started: string;
  ranOn: string;
  codeCommit: string | null;
  /** `packageCommit` at the run's code commit: runs with the same one are merged. */
  packageCommit?: string | null;
  settings: string[];
  sections: Section[];
}

const historyDir = `${root}bench/history/`;

function loadHistory(): Run[] {
  if (!existsSync(historyDir)) return [];
  return readdirSync(historyDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(historyDir + f, 'utf8')) as Run)
    // a run kept before runs carried their package commit: the one at its code commit
    .map((r) => (r.packageCommit === undefined && r.codeCommit !== null ? { ...r, packageCommit: packageCommit(r.codeCommit) } : r))
    .sort((a, b) => a.started.localeCompare(b.started));
}

/** Keeps `run` in the history: runs of other code (or other settings) are removed. Returns the runs of the same code, oldest first. */
function keep(run: Run): Run[] {
  if (run.codeCommit === null) return [run]; // a modified tree: compared with nothing, kept nowhere
  mkdirSync(historyDir, { recursive: true });
  for (const old of loadHistory()) {
    if (old.packageCommit !== run.packageCommit || old.settings.join() !== run.settings.join()) rmSync(`${historyDir}${old.started.replace(/:/g, '-')}.json`, { force: true });
  }
  writeFileSync(`${historyDir}${run.started.replace(/:/g, '-')}.json`, JSON.stringify(run, null, 1) + '\n');
  return loadHistory();
}

/** The Markdown tables in a benchmark's body (runs of lines that start with `|`), each with the last line of text before it as its caption. */
function tablesOf(body: string[]): { caption: string | null; rows: string[] }[] {
  const tables: { caption: string | null; rows: string[] }[] = [];
  let t: string[] | null = null;
  let caption: string | null = null;
  for (const line of body) {
    if (line.startsWith('|')) (t ??= []).push(line);
    else {
      if (t) (tables.push({ caption: caption?.replace(/^#+\s*/, '') ?? null, rows: t }), (caption = null));
      t = null;
      // the caption: the benchmark's last heading before the table, else its last line of text
      const text = line.trim();
      if (text !== '' && text !== '```' && (text.startsWith('#') || caption === null || !caption.startsWith('#'))) caption = text;
    }
  }
  if (t) tables.push({ caption: caption?.replace(/^#+\s*/, '') ?? null, rows: t });
  return tables;
}

const cellsOf = (row: string): string[] => row.slice(1, row.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((c) => c.trim());
const NUMBER = /-?\d+(?:\.\d+)?/g;
const decimals = (x: string): number => (x.includes('.') ? x.length - x.indexOf('.') - 1 : 0);
/** lowest–highest of numbers written as `xs`, with as many decimals as the most precise of them. */
function range(xs: string[]): string {
  const d = Math.max(...xs.map(decimals));
  const v = xs.map(Number);
  const lo = Math.min(...v).toFixed(d);
  const hi = Math.max(...v).toFixed(d);
  return lo === hi ? lo : `${lo}–${hi}`;
}

/**
 * One cell over several runs: the same text stays; a median followed by its rounds (`0.46
 * (0.46–0.61)`, `19.4 (21.1, 18.5)`) becomes the range of the medians followed by the lowest and
 * highest round of every run; numbers in the same surrounding text (`66 + 0`, `1.53 / 4.91`) become
 * ranges one by one; otherwise the range of the leading numbers; text that has no number is the
 * runs' values joined by ` / `.
 */
function mergeCell(values: string[]): string {
  if (values.every((v) => v === values[0])) return values[0]!;
  const shapes = values.map((v) => v.replace(NUMBER, '#'));
  const numbers = values.map((v) => v.match(NUMBER) ?? []);
  // a median and its rounds, `84 % (82–86)` or `19.4 (21.1, 18.5, 19.4)`: the range of the medians,
  // then the lowest and highest round of all runs
  const rounds = /^#([^#]*)\((#(?:–#|(?:, #)+))\)(.*)$/.exec(shapes[0]!);
  if (rounds && shapes.every((x) => x === shapes[0])) {
    const all = numbers.flatMap((n) => n.slice(1));
    const d = Math.max(...all.map(decimals));
    const v = all.map(Number);
    return `${range(numbers.map((n) => n[0]!))}${rounds[1]}(${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})${rounds[3]}`;
  }
  if (shapes.every((x) => x === shapes[0]) && !/[(–]/.test(shapes[0]!) && numbers[0]!.length > 0) {
    let i = 0;
    return shapes[0]!.replace(/#/g, () => {
      const k = i++;
      return range(numbers.map((n) => n[k]!));
    });
  }
  const leading = values.map((v) => /^-?\d+(?:\.\d+)?/.exec(v)?.[0]);
  if (leading.every((x) => x !== undefined)) return range(leading as string[]);
  return [...new Set(values)].join(' / ');
}

/** Table `k` of every run merged cell by cell, or null when the runs' tables differ in shape or in their text columns. */
function mergeTables(tables: string[][]): string[] | null {
  const first = tables[0]!;
  if (tables.some((t) => t.length !== first.length || t[0] !== first[0])) return null;
  const out = [first[0]!, first[1]!];
  for (let r = 2; r < first.length; r++) {
    const rows = tables.map((t) => cellsOf(t[r]!));
    if (rows.some((c) => c.length !== rows[0]!.length)) return null;
    // the first cell names the row: rows that name different things are not one row
    if (rows.some((c) => c[0] !== rows[0]![0])) return null;
    out.push(`| ${rows[0]!.map((_, i) => mergeCell(rows.map((c) => c[i]!))).join(' | ')} |`);
  }
  return out;
}

function render(runs: Run[]): string {
  const newest = runs.at(-1)!;
  const doc: string[] = [
    '# Performance',
    '',
    'Generated by `npm run bench:report` (bench/report.ts) from the runs kept in bench/history/; do not edit by hand.',
    'Loopback throughput and CPU figures depend on the machine and on what else runs on it: each run',
    'gives what it ran on (commit, Node, CPU) and the load average (1, 5, 15 min) before and after each',
    'benchmark. Virtual-time figures (bench:latency) depend on neither.',
    '',
    runs.length > 1
      ? `${runs.length} runs of the same rxkcp (package code of commit ${newest.packageCommit}; each run's own commit is listed below). For each benchmark, first its tables over all of them — each cell the lowest–highest of the runs' values; a cell that gives a median and its rounds gives the range of the runs' medians and, in parentheses, the lowest and highest round of all runs — then each run's own output.`
      : `One run${newest.codeCommit === null ? ' from a modified tree (not kept: it compares with nothing)' : ` (package code of commit ${newest.packageCommit})`}; run \`npm run bench:report\` again at another time to get ranges over runs.`,
    '',
    '| run | started | ran on | settings |',
    '| --: | --- | --- | --- |',
    ...runs.map((r, i) => `| ${i + 1} | ${r.started} | ${r.ranOn} | ${r.settings.length > 0 ? r.settings.join(', ') : "each benchmark's defaults"} |`),
    '',
  ];
  for (const b of BENCHMARKS) {
    const parts = runs.map((r, i) => ({ run: i + 1, s: r.sections.find((x) => x.script === b.script) })).filter((p) => p.s !== undefined) as { run: number; s: Section }[];
    if (parts.length === 0) continue;
    doc.push(`## ${b.title}`, '', `${b.about}.`, '');
    const ok = parts.filter((p) => p.s.code === 0);
    const perRun = ok.map((p) => tablesOf(p.s.body));
    const count = Math.min(...perRun.map((t) => t.length));
    if (ok.length > 1 && count > 0) {
      doc.push(`### Over runs ${ok.map((p) => p.run).join(', ')}`, '');
      for (let k = 0; k < count; k++) {
        const merged = mergeTables(perRun.map((t) => t[k]!.rows));
        const caption = perRun[0]![k]!.caption;
        if (caption !== null) doc.push(/[.:]$/.test(caption) ? caption : `${caption}:`, '');
        doc.push(...(merged ?? [`Table ${k + 1} differs in shape between the runs: see each run below.`]), '');
      }
    }
    for (const p of parts) {
      doc.push(
        `### Run ${p.run}`,
        '',
        `\`npm run ${p.s.script}\`, ${p.s.seconds.toFixed(0)} s${p.s.code === 0 ? '' : `, **failed (exit ${p.s.code})**`}; ${p.s.provenance.length > 0 ? p.s.provenance.join('; ') : 'it printed no provenance'}.`,
        '',
        ...p.s.body
      );
    }
  }
  for (const b of BENCHMARKS) {
    if (scripts[b.script] === undefined) doc.push(`Not run: package.json has no \`${b.script}\` script (${b.title}).`, '');
  }
  return doc.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

if (process.argv.includes('--render')) {
  const runs = loadHistory();
  if (runs.length === 0) {
    console.error('bench:report --render: bench/history/ holds no runs');
    process.exit(1);
  }
  writeFileSync(`${root}docs/performance.md`, render(runs.filter((r) => r.packageCommit === runs.at(-1)!.packageCommit && r.settings.join() === runs.at(-1)!.settings.join())));
  console.log(`bench:report: wrote docs/performance.md from ${runs.length} runs`);
  process.exit(0);
}

console.log(`bench:report: clean build (rm -rf dist; npm run build)`);
rmSync(`${root}dist`, { recursive: true, force: true });
const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
if (build.status !== 0) {
  console.error('bench:report: npm run build failed');
  process.exit(1);
}

const run0: Run = {
  started: new Date().toISOString(),
  ranOn: ranOn(),
  codeCommit: codeCommit().commit,
  packageCommit: codeCommit().commit === null ? null : packageCommit(),
  settings: Object.entries(process.env)
    .filter(([k]) => SETTINGS.test(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort(),
  sections: [],
};
let failed = 0;
for (const b of BENCHMARKS) {
  if (only !== null && !only.has(b.script)) continue;
  if (scripts[b.script] === undefined) continue;
  console.log(`\nbench:report: npm run ${b.script}`);
  const r = await run(b.script);
  const { provenance, body } = toMarkdown(r.out);
  run0.sections.push({ script: b.script, seconds: r.seconds, code: r.code, provenance, body });
  if (r.code !== 0) failed++;
}
const runs = keep(run0);
writeFileSync(`${root}docs/performance.md`, render(runs));
console.log(`\nbench:report: wrote docs/performance.md from ${runs.length} run${runs.length > 1 ? 's' : ''}${failed ? ` (${failed} benchmarks failed)` : ''}`);
process.exit(failed ? 1 : 0);
