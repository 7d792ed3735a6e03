// Writes a .d.cts beside every .d.ts under dist/ (run by `npm run build` after tsc).
//
// The package is "type": "module", so TypeScript reads a .d.ts as an ES module. A CommonJS
// consumer (`require('rxkcp')`) needs declarations that TypeScript reads as CommonJS, or it is
// told it may only import() the package. The .d.cts tree is the same declarations with every
// relative specifier pointing at the CommonJS twin (`./x.js` -> `./x.cjs`, which TypeScript
// resolves to ./x.d.cts), so the two trees never mix module formats.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
// `from './a.js'`, `import('../b.js')`, `import './c.js'`: relative specifiers ending in .js
const relativeJs = /((?:\bfrom|\bimport)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.js\2/g;

let written = 0;
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8').replace(relativeJs, '$1$2$3.cjs$2');
      writeFileSync(path.slice(0, -'.d.ts'.length) + '.d.cts', text);
      written++;
    }
  }
}
walk(dist);
if (written === 0) {
  console.error('cjs-types: no .d.ts files under dist/ (run tsc -p tsconfig.build.json first)');
  process.exit(1);
}
