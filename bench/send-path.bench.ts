/**
 * The send path per datagram, as a conversation runs it with no user layers: the KCP core's flush
 * (retransmitting a buffer of 30 full segments, so every flush emits the same datagrams)
 * through fecEncode, crcSeal and encrypt. `in place` is the default chain (the core leaves room in
 * front of each datagram, FEC and CRC write their headers there, encryption works on that memory);
 * `copying` is what a user layer in every slot makes it do (each layer a new array). No kcp-go
 * figure: its send path is not a Go benchmark.
 */
import { Subject } from 'rxjs';
import { crcSeal } from '../operators/layers/crc-seal.js';
import { encrypt } from '../operators/layers/encrypt.js';
import { fecEncode } from '../operators/layers/fec-encode.js';
import { cryptHeaderSizeOf, type CryptName } from '../src/crypt/crypt.js';
import { DrivenKcp } from '../src/kcp/driven-kcp.js';
import { createNodeCrypt } from '../src/node/crypt.js';
import { Prng } from '../src/prng.js';
import { fecHeaderSizePlus2 } from '../src/wire/constants.js';
import { emit, nsPerOp, printRanOn } from './lib.js';

printRanOn();

const configs: { name: string; crypt: CryptName; fec: boolean }[] = [
  { name: 'salsa20 + FEC 10/3', crypt: 'salsa20', fec: true },
  { name: 'aes-128', crypt: 'aes-128', fec: false },
  { name: 'no crypto', crypt: 'null', fec: false },
];

function sendPath(crypt: CryptName, withFec: boolean, inPlace: boolean): { flush: () => void; perFlush: number; emitted: () => number } {
  const c = createNodeCrypt(crypt, new Prng(1).bytes(crypt === 'aes-128' ? 16 : 32));
  const fec = withFec ? { dataShards: 10, parityShards: 3 } : null;
  const cryptRoom = cryptHeaderSizeOf(c);
  const room = cryptRoom + (fec ? fecHeaderSizePlus2 : 0);
  const kcp = new DrivenKcp(1, { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 1024, rcvWnd: 1024, mtu: 1400 - room, cc: 'kcp-go' }, { headroom: inPlace ? room : 0 });
  const datagrams = new Subject<Uint8Array>();
  let emitted = 0;
  datagrams.pipe(fecEncode({ fec, inPlace, headroom: inPlace ? cryptRoom : 0 }), crcSeal({ crypt: c, inPlace }), encrypt({ crypt: c, inPlace })).subscribe(() => emitted++);
  const sink = { next: (d: Uint8Array) => datagrams.next(d) };
  kcp.send(new Prng(2).bytes((1400 - room - 24) * 30)); // 30 full segments: three whole FEC groups
  let now = 0;
  kcp.flush(now, sink);
  const before = emitted;
  for (let i = 0; i < 10; i++) {
    now = (now + 0x40000000) >>> 0; // far past any segment's growing rto
    kcp.flush(now, sink); // every segment is due again: the same datagrams each time
  }
  const perFlush = (emitted - before) / 10;
  if (!Number.isInteger(perFlush) || perFlush < 30) throw new Error(`send-path bench: ${perFlush} datagrams per flush, expected a steady 30 or more`);
  return {
    flush: () => {
      now = (now + 0x40000000) >>> 0; // far past any segment's growing rto
      kcp.flush(now, sink);
    },
    perFlush,
    emitted: () => emitted,
  };
}

for (const cfg of configs) {
  for (const inPlace of [true, false]) {
    const { flush, perFlush, emitted } = sendPath(cfg.crypt, cfg.fec, inPlace);
    const start = emitted();
    let calls = 0;
    const ns = nsPerOp(() => {
      flush();
      calls++;
    }, { batch: perFlush });
    if (emitted() - start !== calls * perFlush) throw new Error('send-path bench: the datagrams per flush changed while timing');
    emit({ name: `send path ${cfg.name}, 1400-byte datagram (${inPlace ? 'in place' : 'copying'})`, value: ns, unit: 'ns/op' });
  }
}
