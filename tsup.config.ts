import { defineConfig } from 'tsup';

// JavaScript only: tsup 8 cannot emit declarations with TypeScript 7, so `npm run build`
// follows this with `tsc -p tsconfig.build.json` for the .d.ts files.
const common = {
  format: ['esm', 'cjs'] as ('esm' | 'cjs')[],
  dts: false,
  target: 'node20',
  external: ['rxjs', /^node:/, /^@noble\//],
  sourcemap: true,
};

export default defineConfig([
  {
    ...common,
    entry: { index: 'operators/index.ts', core: 'src/index.ts', node: 'src/node/index.ts', io: 'operators/io/index.ts' },
    platform: 'neutral',
    clean: true,
  },
  {
    ...common,
    entry: { cli: 'operators/io/cli.ts' },
    format: ['esm'],
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
