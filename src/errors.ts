/**
 * The one error type rxkcp emits on a stream. Bad wire data never becomes an error (it is dropped
 * and counted); bad arguments throw `TypeError`/`RangeError` when a pipeline is built; a session
 * that cannot go on errors its observables with a `KcpError` whose `code` says why.
 * @module
 */
export type KcpErrorCode =
  | 'DEAD_LINK' // a segment reached the dead-link retransmission limit: the peer is gone
  | 'IDLE_TIMEOUT' // an smux peer silent past its keepalive timeout (a session's idleTimeout completes data$ instead)
  | 'SOCKET_CLOSED' // the UDP socket under the session closed
  | 'SOCKET_ERROR' // the UDP socket reported an error
  | 'UNREACHABLE' // an ICMP error said the peer cannot be reached (a dialled session with failFast)
  | 'CONNECT_TIMEOUT' // a dialled session heard nothing at all from its peer within connectTimeout
  | 'KEY_MISMATCH' // a dialled session's peer answered, but no datagram passed the CRC or AEAD check: the key or crypt differs
  | 'KEEPALIVE_TIMEOUT' // a session's keepalive heard nothing from its peer, window probes included, within its timeout
  | 'CLOSED' // the session was closed locally and the operation needs an open session
  | 'RESET' // a listener replaced the session on a conv reset (sn 0 with another conv)
  | 'LAYER_ERROR' // a layer (rxkcp's or one plugged in by the user) threw or errored
  | 'READER_BUSY' // data$ already has a reader: one reader at a time
  | 'SMUX_PROTOCOL' // an smux frame the mux cannot take (wrong version, unknown command, bad UPD)
  | 'SMUX_GOAWAY' // an smux session ran out of stream ids
  | 'SNAPPY_CORRUPT' // a snappy stream or block that does not decode (bad chunk, length or checksum)
  | 'UNSUPPORTED'; // the platform lacks what the call needs (dgram reusePort for worker listeners)

/** Details attached to a `KcpError`. */
export interface KcpErrorInfo {
  conv?: number;
  remote?: string;
  cause?: unknown;
}

export class KcpError extends Error {
  override readonly name = 'KcpError';
  constructor(
    readonly code: KcpErrorCode,
    message: string,
    readonly info: KcpErrorInfo = {}
  ) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
  }
}
