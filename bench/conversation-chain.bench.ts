/**
 * A pair of conversations with no user layers (the fused chain) moving data through the public
 * API, joined directly in memory: per write of one segment's worth of bytes, the sender's flush
 * through fecEncode, crcSeal and encrypt, the receiver's input through decrypt, crcCheck,
 * fecDecode and KCP input, its read, and the ACK's way back (ackNoDelay). No kcp-go figure: its
 * session path is not a Go benchmark. For an A/B comparison run it alternately on both trees.
 */
import { VirtualTimeScheduler } from 'rxjs';
import { Conversation } from '../operators/conversation/conversation.js';
import { Clock } from '../operators/conversation/update-clock.js';
import type { CryptName } from '../src/crypt/crypt.js';
import { createNodeCrypt } from '../src/node/crypt.js';
import { Prng } from '../src/prng.js';
import { emit, nsPerOp } from './lib.js';

const configs: { name: string; crypt: CryptName; fec: boolean }[] = [
  { name: 'salsa20 + FEC 10/3', crypt: 'salsa20', fec: true },
  { name: 'aes-128', crypt: 'aes-128', fec: false },
  { name: 'no crypto', crypt: 'null', fec: false },
];
/** Bytes per write: one segment's worth at the default mtu, so each write is one datagram. */
const WRITE = 1000;

for (const cfg of configs) {
  const clock = new Clock(new VirtualTimeScheduler());
  const key = new Prng(1).bytes(cfg.crypt === 'aes-128' ? 16 : 32);
  const make = () =>
    new Conversation({ conv: 1, clock, fec: cfg.fec ? { dataShards: 10, parityShards: 3 } : null, kcp: { nc: 1, sndWnd: 1024, rcvWnd: 1024, ackNoDelay: true }, crypt: createNodeCrypt(cfg.crypt, key) });
  const sender = make();
  const receiver = make();
  sender.datagrams$.subscribe((d) => receiver.input(d));
  receiver.datagrams$.subscribe((d) => sender.input(d));
  let read = 0;
  receiver.data$.subscribe((m) => (read += m.length));
  const payload = new Prng(2).bytes(WRITE);
  let written = 0;
  const ns = nsPerOp(() => {
    if (!sender.write(payload)) throw new Error('conversation-chain bench: the send window filled: ACKs did not come back');
    written += WRITE;
  });
  if (read !== written) throw new Error(`conversation-chain bench: read ${read} of ${written} bytes`);
  emit({ name: `conversation pair ${cfg.name}, one ${WRITE}-byte write sent, received, read and acknowledged`, value: ns, unit: 'ns/op' });
  sender.close({ linger: false });
  receiver.close({ linger: false });
}
