/**
 * Node fast paths: node:crypto ciphers and zlib.crc32. KcpError is exported from every entry
 * point: it is one class, shared by all of them.
 * @module rxkcp/node
 */
export { KcpError, type KcpErrorCode, type KcpErrorInfo } from '../errors.js';
export { nodeCrc32 } from './crc32.js';
export { createNodeCrypt, deriveKeyAsync, nodeCryptFromPassword, nodeCryptFromPasswordAsync } from './crypt.js';
