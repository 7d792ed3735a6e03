// rxkcp/core: the pure cores, usable without rxjs and without Node.
export * from './sink.js';
export * from './stats.js';
export * from './errors.js';
export * from './prng.js';
export * from './wire/bytes.js';
export * from './wire/constants.js';
export * from './kcp/constants.js';
export * from './kcp/kcp.js';
export * from './kcp/segment.js';
export * from './sim/lossy-link.js';
export * from './sim/kcp-pair.js';
