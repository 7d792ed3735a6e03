import { defineConfig } from 'tsup';

// JavaScript only: tsup 8 cannot emit declarations with TypeScript 7, so `npm run build`
// follows this with `tsc -p tsconfig.build.json` for the .d.ts files.
export default defineConfig({
  entry: { index: 'operators/index.ts', core: 'src/index.ts', node: 'src/node/index.ts' },
  format: ['esm', 'cjs'],
  dts: false,
  target: 'node20',
  platform: 'neutral',
  external: ['rxjs', /^node:/, /^@noble\//],
  clean: true,
  sourcemap: true,
});
