/**
 * The RxJS operators, the `Conversation` that assembles them, the `Clock` that drives KCP on a
 * scheduler, and the mux, snappy and QPP operators. The cores they take (`Kcp`, `createCrypt`,
 * `Snmp`, ...) come from `rxkcp/core`, the virtual network and the seeded generator from
 * `rxkcp/testing`.
 * @module rxkcp
 */
export { Clock, type ClockEntry, type ClockTarget } from './conversation/update-clock.js';
export { MODES, CRYPT_NAMES, type Mode } from './conversation/options.js';
export { decrypt, type DecryptOptions } from './layers/decrypt.js';
export { crcCheck, type CrcCheckOptions } from './layers/crc-check.js';
export { fecDecode, type FecDecodeOptions } from './layers/fec-decode.js';
export { kcpInput, type KcpInputOptions } from './layers/kcp-input.js';
export { reassemble, type ReassembleOptions } from './layers/reassemble.js';
export { fecEncode, type FecEncodeOptions } from './layers/fec-encode.js';
export { crcSeal, type CrcSealOptions } from './layers/crc-seal.js';
export { encrypt, type EncryptOptions } from './layers/encrypt.js';
export { pace, type PaceOptions, type PaceBacklog } from './layers/pace.js';
export { Conversation, type ConversationOptions, type LayerSlot } from './conversation/conversation.js';
export { Mux, MuxStream, type ByteDuplex, type MuxOptions } from './conversation/mux.js';
export { compressDuplex, snappyCompress, snappyDecompress } from './layers/snappy.js';
export { qppDecrypt, qppEncrypt, type QppOptions } from './layers/qpp.js';
