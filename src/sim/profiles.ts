/**
 * Named path profiles: the paths KCP is chosen for, as `PathOptions` for one direction, used both
 * by `rxkcp relay --profile NAME` (each direction) and in virtual time (`virtualNetwork` with
 * `ab: { ...pathProfiles.mobile.path, seed }`), and the two figures a path sets for a transfer
 * over it: the ideal goodput and the floor of bytes on the wire per payload byte. docs/paths.md
 * has the table and the formulas.
 * @module
 */
import { IKCP_OVERHEAD } from '../kcp/constants.js';
import { cryptHeaderSize, fecHeaderSizePlus2 } from '../wire/constants.js';
import { stationaryLoss, type PathOptions } from './path.js';

export interface PathProfile {
  /** One line: what kind of path this stands for. */
  description: string;
  /** Round-trip time the propagation delay and the mean jitter give, ms (both directions alike). */
  rtt: number;
  /** Each direction of the path. */
  path: PathOptions;
}

/** Bytes per second in one Mbit/s. */
const MBIT = 125_000;

/** Bandwidth-delay product in bytes of `mbit` Mbit/s over `rttMs`. */
const bdp = (mbit: number, rttMs: number) => (mbit * MBIT * rttMs) / 1000;

/** The named profiles. Each queue is given as a multiple of the path's bandwidth-delay product. */
export const pathProfiles = {
  datacenter: {
    description: '100 Mbit/s, 10 ms RTT, no loss, queue 1 × BDP (10 ms): a fast, clean path between nearby hosts',
    rtt: 10,
    path: { bandwidth: 100 * MBIT, delay: 5, queue: bdp(100, 10) },
  },
  wifi: {
    description: '50 Mbit/s, 20 ms RTT ± 2 ms, 5 % random loss, queue 2 × BDP (40 ms): a busy wireless LAN',
    rtt: 20,
    path: { bandwidth: 50 * MBIT, delay: 9, jitter: 2, loss: 0.05, queue: 2 * bdp(50, 20) },
  },
  intercontinental: {
    description: '20 Mbit/s, 160 ms RTT, 1 % random loss, queue 0.1 × BDP (16 ms): a long path between continents with a short queue',
    rtt: 160,
    path: { bandwidth: 20 * MBIT, delay: 80, loss: 0.01, queue: 0.1 * bdp(20, 160) },
  },
  mobile: {
    // P(bad) = enter / (enter + exit) = (1/96) / (1/96 + 1/4) = 1/25: 4 % of datagrams, lost in runs of 4 on average
    description: '8 Mbit/s, 80 ms RTT ± 10 ms, 4 % loss in bursts (mean 4 datagrams), queue 0.5 × BDP (40 ms): a mobile network',
    rtt: 80,
    path: { bandwidth: 8 * MBIT, delay: 35, jitter: 10, burst: { enter: 1 / 96, exit: 1 / 4 }, queue: 0.5 * bdp(8, 80) },
  },
  'last-mile': {
    // P(bad) = (1/297) / (1/297 + 1/3) = 1/100
    description: '10 Mbit/s, 30 ms RTT, 0.5 % random + 1 % bursty loss, queue 0.5 × BDP (15 ms): a congested last mile',
    rtt: 30,
    path: { bandwidth: 10 * MBIT, delay: 15, loss: 0.005, burst: { enter: 1 / 297, exit: 1 / 3 }, queue: 0.5 * bdp(10, 30) },
  },
  satellite: {
    description: '10 Mbit/s, 300 ms RTT, 1 % random loss, queue 1 × BDP (300 ms): a satellite-like long, fat path',
    rtt: 300,
    path: { bandwidth: 10 * MBIT, delay: 150, loss: 0.01, queue: bdp(10, 300) },
  },
  'dsl-bufferbloat': {
    description: '2 Mbit/s, 40 ms RTT, no loss, queue 4 × BDP: a slow DSL uplink with a bloated buffer (160 ms of queue)',
    rtt: 40,
    path: { bandwidth: 2 * MBIT, delay: 20, queue: 4 * bdp(2, 40) },
  },
} as const satisfies Record<string, PathProfile>;

export type PathProfileName = keyof typeof pathProfiles;

/** The profile names, in the order above. */
export const PATH_PROFILE_NAMES = Object.keys(pathProfiles) as PathProfileName[];

/** The profile called `name`; throws RangeError listing the names when there is none. */
export function pathProfile(name: string): PathProfile {
  if (!Object.hasOwn(pathProfiles, name)) throw new RangeError(`unknown path profile ${JSON.stringify(name)}; one of ${PATH_PROFILE_NAMES.join(', ')}`);
  return pathProfiles[name as PathProfileName];
}

/** Reed–Solomon shards per FEC group; absent or 0 parity: no FEC. */
export interface ShardCounts {
  dataShards: number;
  parityShards: number;
}

/** kcptun's default FEC (and the wan benchmark's): 10 data shards, 3 parity. */
export const KCPTUN_FEC: ShardCounts = { dataShards: 10, parityShards: 3 };

const fecRate = (fec: ShardCounts | undefined) =>
  fec && fec.parityShards > 0 && fec.dataShards > 0 ? fec.dataShards / (fec.dataShards + fec.parityShards) : 1;

/**
 * The best goodput a path allows, bytes/s, before header bytes: bottleneck rate × (1 − stationary
 * loss, bursts included) × dataShards / (dataShards + parityShards). Loss is applied after the
 * bottleneck, so lost datagrams used it too; parity shards use it without carrying payload.
 * An unlimited path gives Infinity.
 */
export function idealGoodput(path: PathOptions, fec: ShardCounts | undefined = KCPTUN_FEC): number {
  const rate = path.bandwidth ?? 0;
  if (!(rate > 0)) return Infinity;
  return rate * (1 - stationaryLoss(path)) * fecRate(fec);
}

/** What a transfer's datagrams carry besides payload. */
export interface WireFraming extends Partial<ShardCounts> {
  /** Datagram size on the wire, bytes (kcp-go's and rxkcp's default 1400). */
  mtu?: number;
  /** Bytes of packet encryption per datagram: 20 for the CFB ciphers (nonce + CRC), 0 for none. */
  cryptHeader?: number;
}

/** Datagram size kcp-go and rxkcp use by default, bytes. */
const DEFAULT_MTU = 1400;

/**
 * The fewest bytes on the wire per payload byte a transfer in full-size datagrams can reach:
 * (data + parity) / data × mtu / (mtu − KCP header 24 − FEC header 8 − crypt header), with FEC
 * header 0 without FEC. kcptun's defaults (mtu 1400, aes, FEC 10/3) give 1.3 × 1400/1348 ≈ 1.350.
 * ACKs, retransmissions and partial datagrams only add to it.
 */
export function wireFloor(f: WireFraming = {}): number {
  const mtu = f.mtu ?? DEFAULT_MTU;
  const fec = { dataShards: f.dataShards ?? KCPTUN_FEC.dataShards, parityShards: f.parityShards ?? KCPTUN_FEC.parityShards };
  const fecHeader = fec.parityShards > 0 && fec.dataShards > 0 ? fecHeaderSizePlus2 : 0;
  const payload = mtu - IKCP_OVERHEAD - fecHeader - (f.cryptHeader ?? cryptHeaderSize);
  return (1 / fecRate(fec)) * (mtu / payload);
}
