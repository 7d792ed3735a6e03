/**
 * The RxJS operators, the `Conversation` that assembles them, the `Clock` that drives KCP on a
 * scheduler, the virtual network, the mux and snappy operators, and the cores of `rxkcp/core`
 * they take.
 * @module rxkcp
 */
export * from '../src/index.js';
export { Clock, type ClockEntry, type ClockTarget } from './update-clock.js';
export { MODES, CRYPT_NAMES, type Mode } from './options.js';
export { decrypt, type DecryptOptions } from './decrypt.js';
export { crcCheck, type CrcCheckOptions } from './crc-check.js';
export { fecDecode, type FecDecodeOptions } from './fec-decode.js';
export { kcpInput, type KcpInputOptions } from './kcp-input.js';
export { reassemble } from './reassemble.js';
export { fecEncode, type FecEncodeOptions } from './fec-encode.js';
export { crcSeal, type CrcSealOptions } from './crc-seal.js';
export { encrypt, type EncryptOptions } from './encrypt.js';
export { pace, type PaceOptions, type PaceBacklog } from './pace.js';
export { virtualLink, virtualNetwork, type DatagramEndpoint, type VirtualLinkOptions, type VirtualNetworkOptions } from './virtual-link.js';
export { Conversation, type ConversationOptions, type LayerSlot } from './conversation.js';
export { Mux, MuxStream, type ByteDuplex, type MuxOptions } from './mux.js';
export { compressDuplex, snappyCompress, snappyDecompress } from './snappy.js';
export { qppDecrypt, qppEncrypt } from './qpp.js';
