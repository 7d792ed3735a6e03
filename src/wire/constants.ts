/**
 * Sizes and type bytes of the kcp-go wire format (sess.go and fec.go const blocks;
 * docs/protocol.md#datagram).
 * @module
 */
export const nonceSize = 16; // bytes of random nonce in front of a CFB-family datagram
export const crcSize = 4; // CRC32 LE after the nonce
export const cryptHeaderSize = 20; // nonceSize + crcSize
export const mtuLimit = 1500; // largest datagram ever sent or expected (receive buffers are this size)
export const fecHeaderSize = 6; // seqid u32 + type u16
export const fecHeaderSizePlus2 = 8; // ... + size u16 (data shards and OOB only)
export const typeData = 0xf1; // FEC data shard
export const typeParity = 0xf2; // FEC parity shard
export const typeOOB = 0xf3; // out-of-band message (kcp-go >= 5.6.60)
export const convSize = 4;
