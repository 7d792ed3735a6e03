/**
 * KCP constants, named as in kcp-go's kcp.go const block (docs/protocol.md#kcp-constants) so the
 * two files can be read side by side.
 * @module
 */
export const IKCP_RTO_NDL = 30; // minimum RTO with nodelay on (ms)
export const IKCP_RTO_MIN = 100; // minimum RTO with nodelay off (ms)
export const IKCP_RTO_DEF = 200; // initial rx_rto (ms)
export const IKCP_RTO_MAX = 60000; // RTO ceiling (ms)
export const IKCP_CMD_PUSH = 81; // data segment
export const IKCP_CMD_ACK = 82; // acknowledgement
export const IKCP_CMD_WASK = 83; // window probe: ask the peer for its window
export const IKCP_CMD_WINS = 84; // window probe answer: tell the peer our window
export const IKCP_ASK_SEND = 1; // probe flag: send a WASK at the next flush
export const IKCP_ASK_TELL = 2; // probe flag: send a WINS at the next flush
export const IKCP_WND_SND = 32; // default send window (segments)
export const IKCP_WND_RCV = 32; // default receive window (segments); ikcp.c uses 128
export const IKCP_MTU_DEF = 1400; // default KCP mtu (bytes)
export const IKCP_INTERVAL = 100; // default flush interval (ms)
export const IKCP_OVERHEAD = 24; // segment header (bytes)
export const IKCP_DEADLINK = 20; // transmissions of one segment before the link is considered dead
export const IKCP_THRESH_INIT = 2; // initial ssthresh (segments)
export const IKCP_THRESH_MIN = 2; // ssthresh floor (segments)
export const IKCP_PROBE_INIT = 500; // first zero-window probe wait (ms); 7000 in kcp-go 5.6.1 and ikcp.c
export const IKCP_PROBE_LIMIT = 120000; // longest zero-window probe wait (ms)
export const IKCP_SN_OFFSET = 12; // byte offset of sn in a segment header
export const IKCP_FRG_MAX = 255; // most fragments one send may produce
