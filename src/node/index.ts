// rxkcp/node: Node fast paths (node:crypto, zlib.crc32) and the UDP edge.
export * from './crc32.js';
export * from './crypt.js';
