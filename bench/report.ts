/**
 * `npm run bench:report`: runs the published benchmarks from a clean build, one after the other,
 * and writes docs/performance.md with each one's tables and what it ran on (commit and whether
 * the tree was clean, Node, CPU, load average before and after; see `ranOn` in lib.ts).
 *
 * The list is `BENCHMARKS` below: an npm script and what it shows. A script that package.json
 * does not have is listed in the report as not run. The benchmarks' own settings apply
 * (BENCH_MB, BENCH_RUNS, ... pass through from the environment, and the report says which were
 * set). `node --import tsx bench/report.ts --only bench:speed,start` runs some of them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ranOn } from './lib.js';

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

console.log(`bench:report: clean build (rm -rf dist; npm run build)`);
rmSync(`${root}dist`, { recursive: true, force: true });
const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
if (build.status !== 0) {
  console.error('bench:report: npm run build failed');
  process.exit(1);
}

const settings = Object.entries(process.env).filter(([k]) => SETTINGS.test(k));
const doc: string[] = [
  '# Performance',
  '',
  'Generated by `npm run bench:report` (bench/report.ts); do not edit by hand. Each section gives the',
  'command, what it ran on (commit, Node, CPU) and the load average (1, 5, 15 min) before and after:',
  'loopback throughput and CPU figures depend on the machine and on what else runs on it, and',
  'figures measured on a busy machine are not comparable with a quiet one. Virtual-time figures',
  '(bench:latency) do not depend on either.',
  '',
  `Report started ${new Date().toISOString()} on: ${ranOn()}.`,
  `Settings: ${settings.length > 0 ? settings.map(([k, v]) => `${k}=${v}`).join(', ') : "each benchmark's defaults"}.`,
  '',
];
let failed = 0;
for (const b of BENCHMARKS) {
  if (only !== null && !only.has(b.script)) continue;
  doc.push(`## ${b.title}`, '', `${b.about}.`, '');
  if (scripts[b.script] === undefined) {
    doc.push(`Not run: package.json has no \`${b.script}\` script.`, '');
    continue;
  }
  console.log(`\nbench:report: npm run ${b.script}`);
  const r = await run(b.script);
  const { provenance, body } = toMarkdown(r.out);
  doc.push(`\`npm run ${b.script}\`, ${r.seconds.toFixed(0)} s${r.code === 0 ? '' : `, **failed (exit ${r.code})**`}; ${provenance.length > 0 ? provenance.join('; ') : 'it printed no provenance'}.`, '', ...body);
  if (r.code !== 0) failed++;
}
writeFileSync(`${root}docs/performance.md`, doc.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n');
console.log(`\nbench:report: wrote docs/performance.md${failed ? ` (${failed} benchmarks failed)` : ''}`);
process.exit(failed ? 1 : 0);
