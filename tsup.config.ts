import { defineConfig } from 'tsup';

// JavaScript only: tsup 8 cannot emit declarations with TypeScript 7, so `npm run build`
// follows this with `tsc -p tsconfig.build.json` for the .d.ts files and
// `scripts/cjs-types.mjs` for their .d.cts twins.
const common = {
  dts: false,
  target: 'node22',
  external: ['rxjs', /^node:/, /^@noble\//],
};

export default defineConfig([
  {
    ...common,
    // One build for every entry point, ESM and CommonJS alike, with shared chunks: each class
    // (KcpError, Kcp, ...) exists once per module system, so `instanceof` holds across
    // `rxkcp`, `rxkcp/core`, `rxkcp/node` and `rxkcp/io`.
    entry: { index: 'operators/index.ts', core: 'src/index.ts', node: 'src/node/index.ts', io: 'operators/io/index.ts', testing: 'operators/testing/index.ts', worker: 'operators/transport/worker-entry.ts' },
    format: ['esm', 'cjs'],
    splitting: true,
    // the package ships no source maps (they would carry the whole source)
    sourcemap: false,
    platform: 'neutral',
    clean: true,
    // CommonJS has no import.meta: there the worker listener finds its worker entry by __filename
    esbuildOptions(options, { format }) {
      if (format === 'cjs') options.define = { ...options.define, 'import.meta.url': 'undefined' };
    },
  },
  {
    ...common,
    // The command is one bundle with a source map beside it, so `npm run bench:profile` can map
    // its frames back to source files. The map stays in the local build: `files` leaves it out
    // of the package, and it holds no copy of the sources.
    // Its worker threads (--workers) start its own worker entry, which shares this build's chunks
    // with the handlers in cli-worker.js: each worker loads the library once, not this copy and
    // the library build's as well.
    entry: { cli: 'cli/cli.ts', 'cli-worker': 'cli/cli-worker.ts', 'cli-worker-entry': 'operators/transport/worker-entry.ts' },
    format: ['esm'],
    platform: 'node',
    sourcemap: true,
    esbuildOptions(options) {
      options.sourcesContent = false;
      options.define = { ...options.define, RXKCP_WORKER_ENTRY: '"cli-worker-entry.js"' };
    },
    banner: { js: '#!/usr/bin/env node' },
  },
]);
