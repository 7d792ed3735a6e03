/**
 * How every fast-check property of the tests runs, in two modes.
 *
 * - `npm test`: `numRuns` runs on the seed test/setup/fast-check.ts chose (fixed under CI, fresh
 *   elsewhere), or on `seed` when the property gives one. FC_SEED and FC_PATH (and FC_REPLAY for
 *   a command list's replayPath) replay one failure, as its message says.
 * - `npm run test:explore` (scripts/explore.mjs) sets EXPLORE_MS_PER_WEIGHT: each property then
 *   runs batches of `numRuns` runs, each batch on a fresh seed, until `explore` × that many ms have
 *   passed, and appends what it ran to the file EXPLORE_OUT names, for the script's summary.
 *
 * Either way a failure throws one message that starts with the command replaying it.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';

export interface PropertyOptions {
  /** Runs per batch: all of `npm test`'s runs, one batch of an exploration. */
  numRuns: number;
  /** A fixed seed for `npm test` (exploration draws fresh ones all the same). */
  seed?: number;
  /**
   * The property's share of an exploration, in weights (default 1). scripts/explore.mjs reads it
   * from the call's source line, so write it there as a literal: `explore: 4`.
   */
  explore?: number;
}

const FC_SEED = process.env.FC_SEED;
const FC_PATH = process.env.FC_PATH;
const MS_PER_WEIGHT = process.env.EXPLORE_MS_PER_WEIGHT !== undefined ? Number(process.env.EXPLORE_MS_PER_WEIGHT) : null;
if (MS_PER_WEIGHT !== null && !(MS_PER_WEIGHT > 0)) throw new RangeError(`EXPLORE_MS_PER_WEIGHT must be a positive number of ms, got ${process.env.EXPLORE_MS_PER_WEIGHT}`);
/** Time a test gets beyond its exploration budget (its last batch, and the tests around it). */
const EXPLORE_SLACK_MS = 120_000;

/** Whether `npm run test:explore` is running the properties. */
export const exploring = MS_PER_WEIGHT !== null && FC_SEED === undefined;

/** The `it` timeout for a property: `normal` in `npm test`, its budget and some under exploration. */
export function propertyTimeout(options: PropertyOptions, normal: number): number {
  return exploring ? (options.explore ?? 1) * MS_PER_WEIGHT! + EXPLORE_SLACK_MS : normal;
}

/** A 32-bit seed nobody chose: exploration's point is cases no earlier run tried. */
const freshSeed = (): number => (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) | 0;

interface Where {
  file: string;
  test: string;
}

function where(): Where {
  const st = expect.getState();
  return { file: relative(process.cwd(), st.testPath ?? 'unknown'), test: st.currentTestName ?? 'unknown' };
}

/** The shell command replaying a failed run. */
function replayCommand(w: Where, details: fc.RunDetails<unknown>, report: string): string {
  const replayPath = /replayPath="([^"]*)"/.exec(report)?.[1];
  // vitest's -t takes a regular expression of the test's full name: its describe blocks and its
  // own name, space-separated; single-quoted for the shell
  const name = w.test.split(' > ').join(' ').replace(/[\\^$.*+?()[\]{}|]/g, '\\$&').replace(/'/g, "'\\''");
  return `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''}${replayPath ? ` FC_REPLAY='${replayPath}'` : ''} npx vitest run ${w.file} -t '${name}'`;
}

function failure(w: Where, details: fc.RunDetails<unknown>): Error {
  const report = fc.defaultReportMessage(details) ?? '';
  const replay = replayCommand(w, details, report);
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return new Error(`replay: ${replay}\n${report}\n${cause}`);
}

function record(w: Where, runs: number, batches: number, ms: number, failed: Error | null): void {
  const out = process.env.EXPLORE_OUT;
  if (out === undefined) return;
  appendFileSync(out, JSON.stringify({ ...w, runs, batches, ms: Math.round(ms), failed: failed?.message ?? null }) + '\n');
}

/** One batch's parameters. */
function batch(options: PropertyOptions, deadline: number | null): fc.Parameters<unknown> {
  if (FC_SEED !== undefined) {
    const seed = Number(FC_SEED);
    if (!Number.isInteger(seed)) throw new RangeError(`FC_SEED must be an integer, got ${FC_SEED}`);
    return { numRuns: options.numRuns, seed, ...(FC_PATH ? { path: FC_PATH, endOnFailure: true } : {}) };
  }
  if (deadline === null) return { numRuns: options.numRuns, ...(options.seed !== undefined ? { seed: options.seed } : {}) };
  // the batch stops between runs once the budget is spent
  return { numRuns: options.numRuns, seed: freshSeed(), interruptAfterTimeLimit: Math.max(1, deadline - performance.now()), markInterruptAsFailure: false };
}

/** A failed run; a batch interrupted by the deadline before its first run is none. */
const failedRun = (details: fc.RunDetails<unknown>): boolean => details.failed && !(details.interrupted && details.counterexample === null);

/** Checks a synchronous property (see the module comment); throws on a failure. */
export function checkProperty<Ts>(property: fc.IProperty<Ts>, options: PropertyOptions): void {
  const w = where();
  const t0 = performance.now();
  const deadline = exploring ? t0 + (options.explore ?? 1) * MS_PER_WEIGHT! : null;
  let runs = 0;
  let batches = 0;
  do {
    const details = fc.check(property, batch(options, deadline)) as fc.RunDetails<unknown>;
    runs += details.numRuns;
    batches++;
    if (failedRun(details)) {
      const e = failure(w, details);
      record(w, runs, batches, performance.now() - t0, e);
      throw e;
    }
  } while (deadline !== null && performance.now() < deadline);
  record(w, runs, batches, performance.now() - t0, null);
}

/** Checks an asynchronous property (see the module comment); rejects on a failure. */
export async function checkAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, options: PropertyOptions): Promise<void> {
  const w = where();
  const t0 = performance.now();
  const deadline = exploring ? t0 + (options.explore ?? 1) * MS_PER_WEIGHT! : null;
  let runs = 0;
  let batches = 0;
  do {
    const details = (await fc.check(property, batch(options, deadline))) as fc.RunDetails<unknown>;
    runs += details.numRuns;
    batches++;
    if (failedRun(details)) {
      const e = failure(w, details);
      record(w, runs, batches, performance.now() - t0, e);
      throw e;
    }
  } while (deadline !== null && performance.now() < deadline);
  record(w, runs, batches, performance.now() - t0, null);
}
