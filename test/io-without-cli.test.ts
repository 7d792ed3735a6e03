/**
 * The library does not carry the command's dependencies: loading the built `rxkcp/io` (ESM
 * `dist/io.js` and CommonJS `dist/io.cjs`, as users import them) never loads `cac` or
 * `cli-progress`, which only the `rxkcp` command (`dist/cli.js`, source in `cli/`) uses. Each check
 * runs in its own Node process with a resolve hook that refuses those two packages; the same hook
 * applied to `dist/cli.js` must refuse it, so the hook is known to bite. Needs `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const dist = (f: string) => fileURLToPath(new URL(`../dist/${f}`, import.meta.url));
const CLI_ONLY = ['cac', 'cli-progress'];

// ESM: a module.register() resolve hook; CommonJS: Module._resolveFilename patched. Both throw
// "REFUSED <name>" for the command's packages and record nothing else.
const esmHooks = `export async function resolve(specifier, context, next) {
  if (${JSON.stringify(CLI_ONLY)}.includes(specifier)) throw new Error('REFUSED ' + specifier);
  return next(specifier, context);
}`;
const esmPreload = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(esmHooks)}));`;

function runEsm(file: string): { status: number | null; stderr: string } {
  const script = `await import(${JSON.stringify(file)}); console.log('LOADED');`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(esmPreload)}`, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr + r.stdout };
}

function runCjs(file: string): { status: number | null; stderr: string } {
  const script = `const Module = require('node:module');
const orig = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (${JSON.stringify(CLI_ONLY)}.includes(request)) throw new Error('REFUSED ' + request);
  return orig.call(this, request, ...rest);
};
require(${JSON.stringify(file)});
const loaded = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](cac|cli-progress)[\\\\/]/.test(k));
if (loaded.length) throw new Error('REFUSED ' + loaded.join(' '));
console.log('LOADED');`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr + r.stdout };
}

beforeAll(() => {
  for (const f of ['io.js', 'io.cjs', 'cli.js']) if (!existsSync(dist(f))) throw new Error(`dist/${f} is missing: run npm run build first`);
});

describe('rxkcp/io loads without the command line packages', () => {
  it('ESM dist/io.js loads with cac and cli-progress refused', () => {
    const r = runEsm(dist('io.js'));
    expect(r.stderr).not.toMatch(/REFUSED/);
    expect(r.stderr).toContain('LOADED');
    expect(r.status).toBe(0);
  });

  it('CommonJS dist/io.cjs loads with cac and cli-progress refused, and neither is in require.cache', () => {
    const r = runCjs(dist('io.cjs'));
    expect(r.stderr).not.toMatch(/REFUSED/);
    expect(r.stderr).toContain('LOADED');
    expect(r.status).toBe(0);
  });

  it('the same hook refuses dist/cli.js, which does need them', () => {
    const r = runEsm(dist('cli.js'));
    expect(r.stderr).toMatch(/REFUSED (cac|cli-progress)/);
    expect(r.stderr).not.toContain('LOADED');
    expect(r.status).not.toBe(0);
  });
});
