/**
 * The RxJS operators, session assembly, and the core types they use.
 * @module rxkcp
 */
export * from '../src/index.js';
export * from './update-clock.js';
export * from './options.js';
export * from './decrypt.js';
export * from './crc-check.js';
export * from './fec-decode.js';
export * from './kcp-input.js';
export * from './reassemble.js';
export * from './fec-encode.js';
export * from './crc-seal.js';
export * from './encrypt.js';
export * from './pace.js';
export * from './virtual-link.js';
export * from './conversation.js';
export * from './mux.js';
export * from './snappy.js';
