/**
 * The pure cores, usable without rxjs and without Node: the KCP state machine, Reed-Solomon FEC,
 * packet encryption, smux and snappy, the counters they keep, and `KcpError`, the one error class
 * of every entry point (the seeded lossy link and `KcpPair` are in `rxkcp/testing`). Wire-format
 * helpers (segment and packet codecs, GF(256) tables, protocol constants) stay inside the package.
 * @module rxkcp/core
 */
export { KcpError, type KcpErrorCode, type KcpErrorInfo } from './errors.js';
export { Snmp, SNMP_FIELDS, SNMP_GAUGES, type SnmpField } from './stats.js';
export { CollectSink, nullSink, type Sink } from './sink.js';

// KCP
export { Kcp, type FlushKind, type InputSource, type KcpOptions } from './kcp/kcp.js';
export { AdaptiveCc, KcpGoCc, KcpGoWindow, type CcFactory, type CcHost, type CcName, type CongestionControl } from './kcp/cc.js';
export { CC_NAMES, DEFAULT_CC } from './kcp/cc-names.js';

// packet encryption
export {
  AEAD_CRYPT_NAMES,
  CFB_CRYPT_NAMES,
  createCrypt,
  cryptFromPassword,
  deriveKey,
  type AeadCryptName,
  type CfbCryptName,
  type CryptName,
  type CryptOptions,
  type PacketCrypt,
  type RandomSource,
} from './crypt/crypt.js';
export type { AeadCrypt } from './crypt/aead.js';
export type { BlockCrypt } from './crypt/block-crypt.js';
export { ReplayWindow } from './crypt/replay-window.js';
export { crc32, type Crc32 } from './wire/crc32.js';

// forward error correction
export { FecEncoder, type FecEncoderOptions } from './fec/fec-encoder.js';
export { FecDecoder, RecoveredPacket } from './fec/fec-decoder.js';
export type { FecOptions } from './fec/fec-options.js';
export { ReedSolomon } from './fec/reed-solomon.js';

// smux (kcptun's stream multiplexer) and snappy (its compression)
export { SmuxSession, SMUX_DEFAULTS, type ResolvedSmuxConfig, type SmuxConfig, type SmuxEvents, type SmuxStats, type SmuxTake } from './smux/mux.js';
export { snappyDecode, snappyEncode } from './snappy/block.js';
export { SnappyFrameDecoder, SnappyFrameEncoder, type SnappyFrameStats } from './snappy/framing.js';

// Quantum Permutation Pads (kcptun's --QPP over each stream)
export { QppPads, QppStream, QPP_DEFAULT_PADS, QPP_MIN_PADS, QPP_MIN_SEED_LENGTH, qppSeedChunks } from './qpp/qpp.js';
