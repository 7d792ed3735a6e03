/**
 * One seed for every fast-check property in a run. Under CI (CI set) the seed is fixed, so a CI
 * run checks exactly the cases a developer can rerun; elsewhere each run draws a new seed and so
 * explores new cases. FC_GLOBAL_SEED picks the seed either way (`FC_GLOBAL_SEED=random` draws one
 * under CI too). A failing property prints its own seed and path for replay.
 */
import fc from 'fast-check';

const CI_SEED = 20261128;
const env = process.env.FC_GLOBAL_SEED;
const chosen = env === 'random' ? undefined : env !== undefined ? Number(env) : process.env.CI ? CI_SEED : undefined;
if (chosen !== undefined) {
  if (!Number.isInteger(chosen)) throw new RangeError(`FC_GLOBAL_SEED must be an integer or "random", got ${env}`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: chosen });
}
