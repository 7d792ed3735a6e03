// The snappy block codec, the framing format kcptun's compressed stream uses, and CRC-32C.
export * from './crc32c.js';
export * from './block.js';
export * from './framing.js';
