import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'marbles/**/*.marble.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // a fixed fast-check seed under CI, a new one per run elsewhere (see the file)
    setupFiles: ['test/setup/fast-check.ts'],
  },
});
