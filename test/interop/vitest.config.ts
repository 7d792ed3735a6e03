import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The interop suite: rxkcp against the real kcp-go 5.6.1 (kcppeer) and kcptun, as separate
 * processes over loopback UDP. Run with `npm run test:interop`
 * (= `vitest run --config test/interop/vitest.config.ts`). Files run one at a time: they start
 * servers and measure transfers, and the machine has few cores.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/interop/**/*.interop.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
