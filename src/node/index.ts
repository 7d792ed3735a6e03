/**
 * Node fast paths: node:crypto ciphers and zlib.crc32. KcpError is exported from every entry
 * point: it is one class, shared by all of them.
 * @module rxkcp/node
 */
export * from '../errors.js';
export * from './crc32.js';
export * from './crypt.js';
