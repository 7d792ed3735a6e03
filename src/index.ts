/**
 * The pure cores, usable without rxjs and without Node.
 * @module rxkcp/core
 */
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
export * from './wire/crc32.js';
export * from './crypt/block-cipher.js';
export * from './crypt/block-crypt.js';
export * from './crypt/cfb-crypt.js';
export * from './crypt/aead.js';
export * from './crypt/stream-crypts.js';
export * from './crypt/crypt.js';
export * from './crypt/packet.js';
export * from './crypt/ciphers/aes.js';
export * from './crypt/ciphers/tea.js';
export * from './fec/gf256.js';
export * from './fec/reed-solomon.js';
export * from './fec/fec-options.js';
export * from './fec/fec-packet.js';
export * from './fec/autotune.js';
export * from './fec/fec-encoder.js';
export * from './fec/fec-decoder.js';
export * from './fec/rs-kernel.js';
export * from './crypt/ciphers/blowfish.js';
export * from './crypt/ciphers/cast5.js';
export * from './crypt/ciphers/twofish.js';
export * from './crypt/ciphers/sm4.js';
export * from './crypt/ciphers/triple-des.js';
export * from './crypt/replay-window.js';
export * from './smux/index.js';
export * from './snappy/index.js';
