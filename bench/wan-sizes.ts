/**
 * Transfer sizes of `bench:wan` and `bench:wan-virtual`: about WAN_SECONDS (default 8) at a
 * profile's ideal goodput, a power of two MiB in 1..16 (long enough that start-up, a few round trips
 * at most, is a small part of it on every profile); WAN_MIB gives a fixed size instead.
 */
import { idealGoodput, KCPTUN_FEC, pathProfiles, type PathProfileName } from '../src/sim/profiles.js';

const MIB = 1024 * 1024;
const SECONDS = Number(process.env.WAN_SECONDS ?? 8);
/** The largest transfer, MiB. */
const MAX_MIB = 16;
const FIXED_MIB = process.env.WAN_MIB === undefined ? undefined : Number(process.env.WAN_MIB);

/** Bytes to move one way on `profile`. */
export function transferBytes(profile: PathProfileName): number {
  if (FIXED_MIB !== undefined) return Math.round(FIXED_MIB * MIB);
  const ideal = idealGoodput(pathProfiles[profile].path, KCPTUN_FEC);
  const mib = (ideal * SECONDS) / MIB;
  return Math.min(MAX_MIB, Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, mib))))) * MIB;
}
