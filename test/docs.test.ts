/**
 * Doc tests: every fenced TypeScript or JavaScript block in README.md and docs/*.md is something a
 * reader pastes, so each is compiled against the built package, as a user's ESM app imports it
 * (strict TypeScript, NodeNext, `rxkcp`, `rxkcp/io`, ... through the package's exports), and the
 * whole programs are run on loopback. The fence's info string says which a block is:
 *
 *   ```ts  /  ```js           a whole program: type-checked, then run; it must exit 0 by itself
 *                             within RUN_TIMEOUT_MS
 *   ```ts check / ```js check a whole program that is type-checked but not run (it needs another
 *                             host, a kcptun peer, or serves until stopped)
 *   ```ts fragment            part of a program (declarations it uses are elsewhere): not compiled
 *
 * A JavaScript program runs the two ways the README tells a new user to set up an app: as `index.js`
 * in an app whose package.json says `"type": "module"`, and as `index.mjs` in the CommonJS app
 * `npm init -y` makes; rxkcp is installed in both as a link to this package. Blocks in any other
 * language (sh, json, text, ...) are not code. A ts/js block with another word
 * after the language fails here, so nothing is skipped without saying so. Needs `npm run build`
 * (the blocks import the built package, as users do).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Where the blocks are written: inside the package, so `rxkcp` resolves to it by self-reference. */
const work = join(root, '.doctest');
/** A runnable block must end by itself within this: generous, for a busy machine (they take seconds). */
const RUN_TIMEOUT_MS = 120_000;

interface Block {
  doc: string;
  /** 1-based line of the first line of code. */
  line: number;
  lang: 'ts' | 'js';
  kind: 'run' | 'check' | 'fragment';
  code: string;
  file: string;
}

/** The fenced ts/js blocks of one Markdown file; throws on an info string it does not know. */
function blocksOf(path: string): Block[] {
  const doc = relative(root, path);
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, lang, rest] = open as unknown as [string, string, string];
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    if (lang === 'ts' || lang === 'js' || lang === 'typescript' || lang === 'javascript') {
      const kind = rest === '' ? 'run' : rest;
      if (kind !== 'run' && kind !== 'check' && kind !== 'fragment') throw new Error(`${doc}:${i + 1}: unknown fence info "${lines[i]}" (use ${lang}, ${lang} check or ${lang} fragment)`);
      const short = lang.startsWith('t') ? 'ts' : 'js';
      const name = `${doc.replace(/[^a-zA-Z0-9]+/g, '-').replace(/-md$/, '')}-${i + 2}.${short}`;
      blocks.push({ doc, line: i + 2, lang: short, kind, code: lines.slice(i + 1, end).join('\n'), file: name });
    }
    i = end;
  }
  return blocks;
}

const docs = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))];
const blocks = docs.flatMap(blocksOf);
const compiled = blocks.filter((b) => b.kind !== 'fragment');

/** tsc's complaints, per file written. */
let diagnostics = new Map<string, string[]>();
/** The runs of the whole programs, started together once they compiled. */
const runs = new Map<string, Promise<{ code: number | null; output: string }>>();

beforeAll(() => {
  if (!existsSync(join(root, 'dist/io.js')) || !existsSync(join(root, 'dist/operators/io/index.d.ts'))) throw new Error('dist/ is missing: run npm run build first (the doc blocks import the built package)');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  for (const b of compiled) writeFileSync(join(work, b.file), b.code + '\n');
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', types: ['node'], strict: true, noEmit: true, allowJs: true, checkJs: true, skipLibCheck: true, isolatedModules: true },
      include: ['*.ts', '*.js'],
    })
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', work], { cwd: root, encoding: 'utf8' });
  diagnostics = new Map();
  for (const line of `${tsc.stdout}\n${tsc.stderr}`.split('\n')) {
    const m = /^\.?\/?(?:\.doctest\/)?([^/(]+\.(?:ts|js))\((\d+),(\d+)\): (.*)$/.exec(line.trim());
    if (!m) continue;
    const list = diagnostics.get(m[1]!) ?? [];
    list.push(`line ${m[2]}: ${m[4]}`);
    diagnostics.set(m[1]!, list);
  }
  if (tsc.status !== 0 && diagnostics.size === 0) throw new Error(`tsc failed without diagnostics it could place:\n${tsc.stdout}\n${tsc.stderr}`);
  // side by side: each is mostly waiting (process start, loopback round trips)
  runAll();
}, 120_000);

/**
 * A new user's app in `.doctest/NAME`: `npm init -y`'s package.json (plus `type` when given) and
 * rxkcp in its node_modules as a link to this package (rxjs is found beside it, in ours).
 */
function app(name: string, type: 'module' | undefined): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js', ...(type ? { type } : {}), license: 'ISC' }, null, 2));
  symlinkSync(root, join(dir, 'node_modules', 'rxkcp'), 'dir');
  return dir;
}

/** Runs every whole program of the docs; JavaScript ones in both apps (see the module's description). */
function runAll(): void {
  const esm = app('app-esm', 'module');
  const cjs = app('app-cjs', undefined);
  for (const b of compiled) {
    if (b.kind !== 'run' || diagnostics.has(b.file)) continue;
    if (b.lang === 'ts') {
      runs.set(b.file, run(['--import', 'tsx', join(work, b.file)], work));
      continue;
    }
    const code = readFileSync(join(work, b.file), 'utf8');
    const asJs = join(esm, b.file);
    const asMjs = join(cjs, b.file.replace(/\.js$/, '.mjs'));
    writeFileSync(asJs, code);
    writeFileSync(asMjs, code);
    runs.set(b.file, Promise.all([run([asJs], esm), run([asMjs], cjs)]).then(([a, m]) => (a.code !== 0 ? { ...a, output: `as index.js with "type": "module":\n${a.output}` } : m.code !== 0 ? { ...m, output: `as index.mjs in a CommonJS app:\n${m.output}` } : a)));
  }
}

/** Runs node with `args` in `cwd`; resolves with its exit and output. */
function run(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, output: signal === 'SIGKILL' ? `${output}\n(killed: still running after ${RUN_TIMEOUT_MS} ms)` : output });
    })
  );
}

describe('the code blocks of README.md and docs/*.md', () => {
  it('are found, and each is marked as a program, a checked-only program or a fragment', () => {
    expect(blocks.filter((b) => b.doc === 'README.md' && b.kind === 'run').length).toBeGreaterThanOrEqual(4);
  });

  for (const b of compiled) {
    it(`${b.doc}:${b.line} (${b.lang}${b.kind === 'run' ? '' : ` ${b.kind}`}) type-checks${b.kind === 'run' ? ' and runs to a clean exit' : ''}`, async () => {
      const errors = diagnostics.get(b.file) ?? [];
      expect(errors.map((e) => e.replace(/^line (\d+)/, (_, n: string) => `${b.doc}:${b.line + Number(n) - 1}`)), `${b.doc}:${b.line}`).toEqual([]);
      if (b.kind !== 'run') return;
      const { code, output } = await runs.get(b.file)!;
      expect(code, `${b.doc}:${b.line} exited ${code}:\n${output}`).toBe(0);
    }, RUN_TIMEOUT_MS + 10_000);
  }
});
