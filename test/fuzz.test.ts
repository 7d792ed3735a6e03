/**
 * Hostile input: random bytes, truncations, bit flips and splices of real datagrams (kcp-go's
 * captured sessions and our own traffic) through every inbound layer, then at a live listener
 * while a legitimate session transfers. Nothing may throw or error a stream, every rejection must
 * be counted, and the legitimate transfer must stay byte-exact.
 *
 * `npm test` runs FUZZ_N = 20,000 inputs per layer; `npm run test:fuzz` runs 1,000,000.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import vectors from './vectors/kcp-go-vectors.json' with { type: 'json' };
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import { toDuplex } from '../operators/adapters/stream.js';
import { cryptFromPassword, type CryptName } from '../src/crypt/crypt.js';
import { addCrcHeader, encryptDatagram, openDatagram } from '../src/crypt/packet.js';
import { FecDecoder } from '../src/fec/fec-decoder.js';
import { FecEncoder } from '../src/fec/fec-encoder.js';
import { classify } from '../src/fec/fec-packet.js';
import { Kcp } from '../src/kcp/kcp.js';
import { Prng } from '../src/prng.js';
import { CollectSink, nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { fromHex } from '../src/wire/bytes.js';

const N = Number(process.env.FUZZ_N ?? 20_000);

/** Linux's count of UDP datagrams dropped for a full receive buffer (0 where unavailable). */
function udpReceiveDrops(): number {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf('RcvbufErrors')]);
  } catch {
    return 0;
  }
}

/** Real datagrams to mutate: kcp-go's captured ciphertexts and plaintexts. */
const seeds: Uint8Array[] = vectors.captured_sessions.flatMap((s) =>
  s.packets.flatMap((p) => [fromHex(p.plaintext_hex), ...('ciphertext_hex' in p ? [fromHex((p as { ciphertext_hex: string }).ciphertext_hex)] : [])])
);

/** One hostile input: random, truncated, bit-flipped, spliced, or grown past the MTU. */
function mutant(prng: Prng): Uint8Array {
  const base = seeds[prng.int(0, seeds.length - 1)]!;
  switch (prng.int(0, 5)) {
    case 0:
      return prng.bytes(prng.int(0, 1600));
    case 1:
      return base.slice(0, prng.int(0, base.length));
    case 2: {
      const b = base.slice();
      for (let k = prng.int(1, 8); k > 0; k--) b[prng.int(0, b.length - 1)]! ^= 1 << prng.int(0, 7);
      return b;
    }
    case 3: {
      const other = seeds[prng.int(0, seeds.length - 1)]!;
      const cut = prng.int(0, Math.min(base.length, other.length));
      const b = new Uint8Array(base.length);
      b.set(base.subarray(0, cut));
      b.set(other.subarray(cut, base.length), cut);
      return b;
    }
    case 4: {
      // a valid-looking FEC or KCP header with random fields
      const b = prng.bytes(prng.int(6, 300));
      b[4] = [0xf1, 0xf2, 0xf3, 81, 82, 83, 84][prng.int(0, 6)]!;
      b[5] = prng.chance(0.5) ? 0 : b[5]!;
      return b;
    }
    default:
      return new Uint8Array(prng.int(0, 40));
  }
}

describe(`fuzz: ${N} hostile inputs per layer`, () => {
  it('decrypt + CRC/AEAD check: never throws; every datagram long enough to check is counted as a checksum error', () => {
    for (const name of ['aes', 'salsa20', 'xor', 'none', 'sm4', 'aes-128-gcm'] as CryptName[]) {
      const crypt = cryptFromPassword(name, 'fuzz');
      const stats = new Snmp();
      const prng = new Prng(1);
      let checkable = 0;
      let passed = 0;
      for (let i = 0; i < N; i++) {
        const m = mutant(prng);
        const min = crypt.kind === 'aead' ? crypt.aead.nonceSize + crypt.aead.overhead : 20;
        if (m.length >= min) checkable++;
        if (openDatagram(crypt, m, stats) !== null) passed++;
      }
      // every checkable datagram is either counted or passes; with a real cipher a mutant passes a
      // CRC-32 with probability 2^-32, but 'none' sends in clear, so kcp-go's captured plaintexts
      // with only their (uncovered) nonce bytes flipped are still valid datagrams
      expect(stats.InCsumErrors + passed, name).toBe(checkable);
      if (name !== 'none') expect(passed, name).toBe(0);
      else expect(passed).toBeLessThan(checkable / 10);
    }
  });

  it('FEC decode and KCP input: never throw, and refused inputs are counted', () => {
    const prng = new Prng(2);
    const stats = new Snmp();
    const dec = new FecDecoder(null, stats);
    const kcp = new Kcp(0x01020304, { rcvWnd: 64 }, stats);
    const out = new CollectSink<Uint8Array>();
    let refused = 0;
    for (let i = 0; i < N; i++) {
      const m = mutant(prng);
      const kind = classify(m);
      if (kind === 'data' || kind === 'parity') dec.decode(m, out);
      const r = kcp.input(kind === 'data' ? m.subarray(8) : m, i, nullSink);
      if (r !== 0) refused++;
      if (out.items.length > 100) out.take().forEach((p) => kcp.input(p, i, nullSink, 'fec'));
      if (i % 1000 === 0) kcp.flush(i, nullSink);
    }
    expect(refused).toBeGreaterThan(N / 2);
    for (let m = kcp.recv(); m; m = kcp.recv()); // whatever got through is readable without error
    expect(stats.FECShardSet).toBeLessThanOrEqual(4); // the 3-group window holds
  });

  it('a live listener under a garbage flood keeps a legitimate session byte-exact and counts the garbage', async () => {
    const password = 'fuzz-live';
    const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 256, rcvWnd: 256, crypt: 'aes' as const, key: password, dataShards: 10, parityShards: 3 };
    const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, maxSessions: 8 });
    l.sessions$.subscribe((s) => {
      const d = toDuplex(s);
      d.on('error', () => {});
      d.pipe(d);
    });
    const good = await dial({ connect: `127.0.0.1:${l.address.port}`, ...fast });
    const flood = createSocket('udp4');
    await new Promise<void>((r) => flood.bind(0, '127.0.0.1', r));
    // our own traffic, sealed with the right key but tampered, plus plain mutants
    const crypt = cryptFromPassword('aes', password);
    if (crypt.kind !== 'framed') throw new Error('framed crypt expected');
    const enc = new FecEncoder({ dataShards: 10, parityShards: 3 }, new Snmp());
    const own = new CollectSink<Uint8Array>();
    for (let i = 0; i < 50; i++) enc.encode(new Uint8Array(100).fill(i), 0, own);
    const prng = new Prng(3);
    const kernelDropsBefore = udpReceiveDrops();
    const floodCount = Math.min(N, 20_000);
    let sent = 0;
    let checkable = 0;
    const data = new Prng(4).bytes(1 << 20);
    const got: Buffer[] = [];
    const stream = toDuplex(good);
    const done = new Promise<void>((resolve, reject) => {
      let n = 0;
      stream.on('data', (c: Buffer) => {
        got.push(c);
        n += c.length;
        if (n >= data.length) resolve();
      });
      stream.on('error', reject);
    });
    stream.write(data);
    await new Promise<void>((resolve) => {
      const burst = () => {
        for (let k = 0; k < 200 && sent < floodCount; k++, sent++) {
          let m: Uint8Array;
          if (prng.chance(0.3)) {
            m = addCrcHeader(own.items[prng.int(0, own.items.length - 1)]!, crypt.crc32);
            encryptDatagram(m, crypt.block, crypt.random);
            m[prng.int(0, m.length - 1)]! ^= 0x10; // tampered after sealing
          } else m = mutant(prng);
          if (m.length >= 20) checkable++;
          flood.send(m, l.address.port, '127.0.0.1');
        }
        if (sent < floodCount) setTimeout(burst, 1);
        else resolve();
      };
      burst();
    });
    await done;
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    // every garbage datagram that reached the socket was counted; the kernel drops part of a flood
    // when the socket's buffer is full (Linux counts those in /proc/net/snmp RcvbufErrors)
    const kernelDrops = udpReceiveDrops() - kernelDropsBefore;
    console.log(`flood: ${sent} datagrams sent, ${checkable} long enough to check, ${l.stats.InCsumErrors} counted as checksum errors, ${kernelDrops} dropped by the kernel`);
    expect(l.stats.InCsumErrors).toBeLessThanOrEqual(checkable);
    expect(l.stats.InCsumErrors + kernelDrops).toBeGreaterThanOrEqual(checkable * 0.95);
    expect(l.size).toBeLessThanOrEqual(8);
    expect(good.stats.InCsumErrors).toBe(0);
    stream.destroy();
    flood.close();
    l.close();
  }, 120_000);
});
