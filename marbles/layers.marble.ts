import { filter, map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { crcCheck } from '../operators/layers/crc-check.js';
import { crcSeal } from '../operators/layers/crc-seal.js';
import { decrypt } from '../operators/layers/decrypt.js';
import { encrypt } from '../operators/layers/encrypt.js';
import { fecDecode } from '../operators/layers/fec-decode.js';
import { fecEncode } from '../operators/layers/fec-encode.js';
import { kcpInput } from '../operators/layers/kcp-input.js';
import { reassemble } from '../operators/layers/reassemble.js';
import { createCrypt, type PacketCrypt } from '../src/crypt/crypt.js';
import { RecoveredPacket } from '../src/fec/fec-decoder.js';
import { encodeOOB } from '../src/fec/fec-packet.js';
import { IKCP_CMD_PUSH } from '../src/kcp/constants.js';
import { Kcp } from '../src/kcp/kcp.js';
import { encodeSegment } from '../src/kcp/segment.js';
import { nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { bytes, seededRandom, testScheduler } from './helpers.js';

const aes = (seed: number): PacketCrypt => createCrypt('aes-128', bytes(16, 7), { random: seededRandom(seed) });
/** Flips one bit of the n-th datagram (1-based) passing through. */
const tamperNth = (n: number, at: number) => {
  let i = 0;
  return map((dg: Uint8Array) => {
    if (++i === n) dg[at]! ^= 0x80;
    return dg;
  });
};

describe('crcSeal + encrypt, then decrypt + crcCheck', () => {
  it('round-trip bodies, keeping timing and order', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const b = { a: bytes(30, 1), b: bytes(1, 2), c: bytes(1300, 3) };
      const input = cold('-a--b-c|', b);
      expectObservable(input.pipe(crcSeal({ crypt: aes(1) }), encrypt({ crypt: aes(1) }), decrypt({ crypt: aes(2) }), crcCheck({ crypt: aes(2) }))).toBe('-a--b-c|', b);
      expectSubscriptions(input.subscriptions).toBe('^------!');
    });
  });

  it('drop a datagram whose CRC fails, count it, and do not error', () => {
    const stats = new Snmp();
    testScheduler().run(({ cold, expectObservable }) => {
      const v = { x: bytes(40, 1), y: bytes(40, 2), z: bytes(40, 3) };
      const c = aes(4);
      const out = cold('x-y-z|', v).pipe(crcSeal({ crypt: c }), encrypt({ crypt: c }), tamperNth(2, 30), decrypt({ crypt: c, stats }), crcCheck({ crypt: c, stats }));
      expectObservable(out).toBe('x---z|', v);
    });
    expect(stats.InCsumErrors).toBe(1);
  });

  it('AEAD: a tampered datagram is dropped and counted, the rest pass', () => {
    const stats = new Snmp();
    testScheduler().run(({ cold, expectObservable }) => {
      const c = createCrypt('chacha20-poly1305', bytes(32, 9), { random: seededRandom(5) });
      const v = { a: bytes(10, 1), b: bytes(20, 2), c: bytes(30, 3) };
      const out = cold('a-b-c|', v).pipe(crcSeal({ crypt: c }), encrypt({ crypt: c }), tamperNth(2, 15), decrypt({ crypt: c, stats }), crcCheck({ crypt: c, stats }));
      expectObservable(out).toBe('a---c|', v);
    });
    expect(stats.InCsumErrors).toBe(1);
  });

  it('the same seed gives the same ciphertext (nonces are injected)', () => {
    const run = () => {
      const out: string[] = [];
      testScheduler().run(({ cold }) => {
        cold('a|', { a: bytes(50, 4) }).pipe(crcSeal({ crypt: aes(9) }), encrypt({ crypt: aes(9) })).subscribe((d) => out.push(Buffer.from(d).toString('hex')));
      });
      return out;
    };
    expect(run()).toEqual(run());
  });
});

describe('fecEncode + fecDecode', () => {
  const g = { dataShards: 3, parityShards: 2 };
  const k = { a: bytes(30, 1), b: bytes(50, 2), c: bytes(40, 3) };

  it('emit each data shard at once and the parity with the last of a group', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold('a-b-c-----|', k).pipe(fecEncode({ fec: g, stats: new Snmp() }), map((b) => `${b[4] === 0xf1 ? 'd' : 'p'}${b[0]}`));
      expectObservable(out).toBe('a-b-(cde)-|', { a: 'd0', b: 'd1', c: 'd2', d: 'p3', e: 'p4' });
    });
  });

  it('rebuild a lost data shard from parity as a RecoveredPacket', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const configured = cold('a-b-c----|', k).pipe(fecEncode({ fec: g, stats: new Snmp() }), filter((_, i) => i !== 1), fecDecode({ fec: g, stats: new Snmp() }), map((p) => (p instanceof RecoveredPacket ? 'R' : '') + p[0]));
      expectObservable(configured).toBe('a---(bc)-|', { a: '1', b: '3', c: 'R2' });
    });
  });

  it('pass raw KCP through and hand OOB payloads aside', () => {
    const oob: string[] = [];
    const stats = new Snmp();
    testScheduler().run(({ cold, expectObservable }) => {
      const raw = encodeSegment({ conv: 1, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 32, ts: 0, sn: 0, una: 0 }, bytes(4, 1));
      const o = encodeOOB(new TextEncoder().encode('hi'), 1);
      const out = cold('r-o-r|', { r: raw, o }).pipe(fecDecode({ fec: null, stats, onOob: (p) => oob.push(new TextDecoder().decode(p)) }));
      expectObservable(out).toBe('r---r|', { r: raw });
    });
    expect(oob).toEqual(['hi']);
    expect(stats.OOBPackets).toBe(1);
  });
});

describe('kcpInput + reassemble', () => {
  it('signal after each accepted packet and read whole messages in order', () => {
    const stats = new Snmp();
    testScheduler().run(({ cold, expectObservable }) => {
      const kcp = new Kcp(5, { rcvWnd: 32 });
      const seg = (sn: number, fill: number) => encodeSegment({ conv: 5, cmd: IKCP_CMD_PUSH, frg: 0, wnd: 32, ts: 0, sn, una: 0 }, bytes(3, fill));
      const garbage = bytes(10, 0xff);
      const out = cold('a-c-g-b---|', { a: seg(0, 1), b: seg(1, 2), c: seg(2, 3), g: garbage }).pipe(kcpInput({ kcp, output: nullSink, stats }), reassemble());
      expectObservable(out).toBe('a-----(bc)|', { a: bytes(3, 1), b: bytes(3, 2), c: bytes(3, 3) });
    });
    expect(stats.KCPInErrors).toBe(1);
    expect(stats.InPkts).toBe(4);
  });
});
