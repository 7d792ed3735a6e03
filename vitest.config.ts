import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The tests `npm test` leaves to `npm run test:long` (vitest.long.config.ts): ones that start
 * processes (the rxkcp command) or whole tunnels, forge ICMP with raw sockets, open thousands of sockets or
 * sessions, flood a listener, fuzz with many inputs, measure the event loop, or compare congestion
 * controls over many virtual-time transfers (megabytes each), or compare the fused and operator
 * chains over many seeded runs. Everything else
 * (unit, contract, marble, doc and short property tests) is `npm test`, which stays under a minute
 * on a quiet 2-core machine.
 */
export const LONG = [
  'test/cli.test.ts',
  'test/relay.test.ts',
  'test/server-limits.test.ts',
  'test/crafted-segments.test.ts',
  'test/icmp.test.ts',
  'test/many-sockets.test.ts',
  'test/limits.test.ts',
  'test/clock-realtime.test.ts',
  'test/outage.test.ts',
  'test/fuzz.test.ts',
  'test/dial-nonblocking.test.ts',
  'test/package.test.ts',
  'test/kcp-timing.test.ts',
  'test/cc-bbr.test.ts',
  'test/fused-chain.test.ts',
  'test/smux-tunnel.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'marbles/**/*.marble.ts'],
    // Chromium: npm run test:browser (test/browser/vitest.config.ts)
    exclude: [...configDefaults.exclude, ...LONG, 'test/browser/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // both cores of a 2-core machine (vitest's default leaves one idle)
    maxWorkers: 2,
    // what a test prints is shown only when it fails: the run prints results
    silent: 'passed-only',
    // a fixed fast-check seed under CI, a new one per run elsewhere (see the file)
    setupFiles: ['test/setup/fast-check.ts'],
  },
});
