// rxkcp/core: the pure cores, usable without rxjs and without Node.
export * from './sink.js';
export * from './stats.js';
export * from './errors.js';
export * from './prng.js';
export * from './wire/bytes.js';
export * from './wire/constants.js';
