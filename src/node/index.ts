/**
 * Node fast paths: node:crypto ciphers and zlib.crc32 (`KcpError` is in `rxkcp/core`).
 * @module rxkcp/node
 */
export { nodeCrc32 } from './crc32.js';
export { createNodeCrypt, deriveKeyAsync, nodeCryptFromPassword, nodeCryptFromPasswordAsync } from './crypt.js';
