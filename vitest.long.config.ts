import { defineConfig } from 'vitest/config';
import { LONG } from './vitest.config.js';

/**
 * `npm run test:long`: the tests `npm test` leaves out (see LONG in vitest.config.ts), and the
 * model test and the stateful KCP fuzzer again with the run counts the script sets (MODEL_RUNS,
 * KCP_FUZZ_RUNS). One file at a time: they start processes and open many sockets.
 */
export default defineConfig({
  test: {
    include: [...LONG, 'test/session-model.test.ts', 'test/kcp-stateful-fuzz.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    silent: 'passed-only',
    setupFiles: ['test/setup/fast-check.ts'],
  },
});
