/**
 * Deterministic testing for code built on rxkcp: seeded virtual links and networks, the seeded
 * generator they use, a byte pattern every byte of which can be checked at the receiver, and
 * `withVirtualTime` to run it all inside `TestScheduler.run`. Needs rxjs; no Node, no test
 * framework.
 * @module rxkcp/testing
 */
export { withVirtualTime, deepEqual, type AssertDeepEqual, type VirtualTime } from './virtual-time.js';
export { virtualLink, virtualNetwork, type DatagramEndpoint, type VirtualLinkOptions, type VirtualNetworkOptions } from './virtual-link.js';
export { LossyLink, type LossyLinkOptions, type LossyLinkStats } from '../../src/sim/lossy-link.js';
export { DEFAULT_QUEUE_BYTES, DEFAULT_REORDER_DELAY_MS, PathModel, stationaryLoss, type BurstLoss, type PathOptions, type PathStats } from '../../src/sim/path.js';
export { idealGoodput, KCPTUN_FEC, PATH_PROFILE_NAMES, pathProfile, pathProfiles, wireFloor, type PathProfile, type PathProfileName, type ShardCounts, type WireFraming } from '../../src/sim/profiles.js';
export { KcpPair } from '../../src/sim/kcp-pair.js';
export { Prng } from '../../src/prng.js';
export { patternByte, patternBytes, PatternVerifier } from './pattern.js';
