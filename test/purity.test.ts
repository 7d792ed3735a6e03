import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The cores in src/ run in any JavaScript runtime and never read a clock
// (docs/design.md#pure-cores): no rxjs, node:* only under src/node/, no Date.now / timers /
// Math.random anywhere in src/.
const root = join(import.meta.dirname, '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Import specifiers of a TypeScript file: static `from '...'`, side-effect `import '...'`, `import('...')`, `require('...')`. */
export function importsOf(code: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  return [...code.matchAll(re)].map((m) => m[1]!);
}

const NODE_BUILTINS = /^(node:|fs$|dgram$|crypto$|zlib$|net$|os$|path$|child_process$|worker_threads$|events$|stream$|buffer$|perf_hooks$|timers)/;
const CLOCKS = /\b(Date\.now|new Date|setTimeout|setInterval|setImmediate|queueMicrotask|performance\.now|process\.hrtime|Math\.random)\b/;

export function violations(file: string, code: string): string[] {
  const rel = relative(root, file);
  const inNode = rel.startsWith(join('src', 'node'));
  const out: string[] = [];
  for (const spec of importsOf(code)) {
    if (spec === 'rxjs' || spec.startsWith('rxjs/')) out.push(`${rel}: imports ${spec}`);
    if (!inNode && NODE_BUILTINS.test(spec)) out.push(`${rel}: imports ${spec} outside src/node/`);
    if (spec.startsWith('.') && !join(rel, '..', spec).startsWith('src')) out.push(`${rel}: imports ${spec} from outside src/`);
  }
  const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const clock = CLOCKS.exec(stripped);
  if (clock) out.push(`${rel}: uses ${clock[1]}`);
  return out;
}

describe('src/ purity', () => {
  it('src/ imports no rxjs, no node:* outside src/node/, and reads no clock', () => {
    const files = filesUnder(join(root, 'src'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.flatMap((f) => violations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('the checker itself catches each kind of violation', () => {
    const f = join(root, 'src', 'kcp', 'x.ts');
    expect(violations(f, "import { map } from 'rxjs';")).toHaveLength(1);
    expect(violations(f, "import { createHash } from 'node:crypto';")).toHaveLength(1);
    expect(violations(f, "const z = require('zlib');")).toHaveLength(1);
    expect(violations(f, "import { x } from '../../operators/clock.js';")).toHaveLength(1);
    expect(violations(f, 'const t = Date.now();')).toHaveLength(1);
    expect(violations(f, 'setTimeout(f, 1);')).toHaveLength(1);
    expect(violations(f, 'const r = Math.random();')).toHaveLength(1);
    expect(violations(f, '// Date.now() is not used here\nconst a = 1;')).toEqual([]);
    expect(violations(join(root, 'src', 'node', 'crc.ts'), "import zlib from 'node:zlib';")).toEqual([]);
  });
});
