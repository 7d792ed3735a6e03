// rxkcp/node: Node fast paths (node:crypto, zlib.crc32) and the UDP edge.
// KcpError is exported from every entry point: it is one class, shared by all of them.
export * from '../errors.js';
export * from './crc32.js';
export * from './crypt.js';
