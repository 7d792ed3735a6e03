#!/usr/bin/env node
/**
 * `npm run test:explore`: every fast-check property of the tests on fresh seeds for a time budget,
 * instead of `npm test`'s fixed number of runs.
 *
 *   EXPLORE_S=600 npm run test:explore        (default 120 s)
 *
 * Finds the properties (calls of `checkProperty`/`checkAsyncProperty`, test/helpers/properties.ts)
 * in test/, shares the budget among them by weight (`explore: N` in a property's options, default
 * 1), and runs their files one after another in one vitest run; each property runs batches on
 * fresh seeds until its share is spent. Prints how many runs each property made and, for every
 * failure, the command that replays it. Exits 1 when a property failed or vitest did.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The budget when EXPLORE_S is not given: long enough to find more than `npm test` does, short enough to run before every stop. */
const DEFAULT_S = 120;
/** What the files take beyond their properties' budgets (startup, their other tests): subtracted from the budget. */
const OVERHEAD_S = 15;

const budgetS = Number(process.env.EXPLORE_S ?? DEFAULT_S);
if (!(budgetS > OVERHEAD_S)) {
  console.error(`EXPLORE_S must be a number of seconds above ${OVERHEAD_S}, got ${process.env.EXPLORE_S}`);
  process.exit(2);
}

/** The text of a call's arguments, from just after its opening parenthesis to its matching close. */
function callArguments(text, open) {
  let depth = 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return text.slice(open, i);
    }
  }
  return text.slice(open);
}

/** The weight of one property: `explore: N` in its options, written there or in the constant it names. */
function weightOf(text, args) {
  const last = args.slice(args.lastIndexOf(',') + 1).trim();
  let options = last;
  if (/^[A-Za-z_$][\w$]*$/.test(last)) {
    const def = new RegExp(`const\\s+${last}\\s*(?::[^=]+)?=\\s*\\{`).exec(text);
    options = def ? callArguments(text, def.index + def[0].length) : '';
  }
  const m = /\bexplore:\s*(\d+(?:\.\d+)?)/.exec(options);
  return m ? Number(m[1]) : 1;
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const properties = [];
for (const file of testFiles(join(root, 'test'))) {
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/\bcheck(?:Async)?Property\(/g)) {
    const args = callArguments(text, m.index + m[0].length);
    properties.push({ file: relative(root, file), weight: weightOf(text, args) });
  }
}
if (properties.length === 0) {
  console.error('no properties found under test/');
  process.exit(2);
}
const files = [...new Set(properties.map((p) => p.file))];
const totalWeight = properties.reduce((n, p) => n + p.weight, 0);
const msPerWeight = Math.floor(((budgetS - OVERHEAD_S) * 1000) / totalWeight);

const dir = mkdtempSync(join(tmpdir(), 'rxkcp-explore-'));
const out = join(dir, 'runs.jsonl');
console.log(`exploring ${properties.length} properties in ${files.length} files for about ${budgetS} s (${msPerWeight} ms per weight, ${totalWeight} weights), fresh seeds`);
const env = { ...process.env, EXPLORE_MS_PER_WEIGHT: String(msPerWeight), EXPLORE_OUT: out };
for (const replay of ['FC_SEED', 'FC_PATH', 'FC_REPLAY']) delete env[replay];
const started = Date.now();
// a property runs for its share of the budget, longer than the config's per-test timeout allows
const testTimeout = `--testTimeout=${(budgetS + 120) * 1000}`;
const vitest = spawnSync('npx', ['vitest', 'run', '--no-file-parallelism', '--reporter=dot', testTimeout, ...files], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env });
const records = existsSync(out)
  ? readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l))
  : [];
rmSync(dir, { recursive: true, force: true });

console.log(`\n== exploration: ${((Date.now() - started) / 1000).toFixed(0)} s`);
let runs = 0;
for (const r of records) {
  runs += r.runs;
  console.log(`${r.failed ? 'FAILED' : 'ok    '} ${String(r.runs).padStart(9)} runs in ${String(r.batches).padStart(5)} seeds, ${(r.ms / 1000).toFixed(0).padStart(4)} s  ${r.file} > ${r.test}`);
}
console.log(`${runs} runs of ${records.length} properties`);
const failures = records.filter((r) => r.failed);
for (const f of failures) console.log(`\n== ${f.file} > ${f.test}\n${f.failed}`);
if (records.length < properties.length) console.log(`\n${properties.length - records.length} properties recorded no runs (their test failed or was filtered before the property ran)`);
process.exit(failures.length > 0 || vitest.status !== 0 ? 1 : 0);
