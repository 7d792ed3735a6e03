/**
 * rxkcp against the real kcp-go 5.6.1 (Debian), both directions, for every cipher name with and
 * without FEC 10/3: 4 MiB of the shared pattern echoed byte-exact, no checksum errors on either
 * side; and the same with 10 % loss injected on the rxkcp side (both directions of its traffic).
 */
import { filter, type OperatorFunction } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial } from '../../operators/transport/dial.js';
import { Listener } from '../../operators/transport/listener.js';
import type { Session, SessionOptions } from '../../operators/transport/session.js';
import { toDuplex } from '../../operators/adapters/stream.js';
import { CFB_CRYPT_NAMES } from '../../src/crypt/crypt.js';
import { Prng } from '../../src/prng.js';
import { INTEROP_KEY, buildGoPeer, haveGoPeer, runGoSend, startGoPeer, type GoCrypt } from './go-peer.js';
import { PatternVerifier, patternBytes } from './pattern.js';

const MIB4 = 4 * 1024 * 1024;
const fast3 = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 1024, rcvWnd: 1024, mtu: 1400, stream: true };
const goFlags = { mode: 'fast3' as const, mtu: 1400, sndwnd: 1024, rcvwnd: 1024, stream: true, key: INTEROP_KEY };
const names: GoCrypt[] = [...CFB_CRYPT_NAMES, 'null'];
/**
 * Debian's kcp-go 5.6.1 uses gmsm 1.3.0, whose SM4 cipher keeps scratch blocks in the cipher
 * object; kcp-go shares one cipher between the goroutines that encrypt and decrypt, so the Go
 * peer itself garbles some SM4 datagrams (kcp-go against kcp-go shows checksum errors too; our
 * SM4 matches kcp-go's vectors byte for byte). With SM4 the transfer must still be exact, but
 * checksum errors caused by the Go side are tolerated and reported.
 */
const GO_GARBLES = new Set<string>(['sm4']);
const timings: string[] = [];

/** Drops a seeded fraction of what passes: loss injected inside rxkcp's own pipeline. */
function drop(fraction: number, seed: number): OperatorFunction<Uint8Array, Uint8Array> {
  const prng = new Prng(seed);
  return filter(() => !prng.chance(fraction));
}

function lossy(fraction: number): SessionOptions['layers'] {
  return fraction > 0 ? { afterEncrypt: drop(fraction, 11), afterCrcCheck: drop(fraction, 12) } : undefined;
}

/** Echoes `bytes` of the pattern through an rxkcp session, verifying as it goes. */
async function echoPattern(s: Session, bytes: number): Promise<void> {
  const stream = toDuplex(s);
  const verifier = new PatternVerifier();
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      if (!verifier.push(chunk)) reject(new Error(verifier.error!));
      else if (verifier.offset >= bytes) resolve();
    });
    stream.on('error', reject);
  });
  for (let off = 0; off < bytes; off += 65536) {
    if (!stream.write(patternBytes(off, Math.min(65536, bytes - off)))) await new Promise((r) => stream.once('drain', r));
  }
  await done;
  stream.destroy();
}

describe.skipIf(!haveGoPeer())('rxkcp ⇄ kcp-go 5.6.1', () => {
  beforeAll(async () => {
    await buildGoPeer();
  }, 180_000);
  afterAll(() => console.log(`rxkcp ⇄ kcp-go (4 MiB echo each):\n${timings.join('\n')}`));

  const cases: [GoCrypt, boolean, number][] = [];
  for (const c of names) for (const fec of [false, true]) cases.push([c, fec, 0]);
  cases.push(['aes', true, 0.1], ['salsa20', false, 0.1]);

  for (const [crypt, fec, loss] of cases) {
    const label = `${crypt}${fec ? ' + FEC 10/3' : ''}${loss ? ` with ${loss * 100} % loss on the rxkcp side` : ''}`;
    const shards = fec ? { dataShards: 10, parityShards: 3 } : { dataShards: 0, parityShards: 0 };
    const ours: SessionOptions = { crypt: crypt as never, key: INTEROP_KEY, ...shards, ...fast3, layers: lossy(loss) };
    const theirs = { ...goFlags, crypt, datashard: shards.dataShards, parityshard: shards.parityShards };

    it(`rxkcp client → kcp-go echo: ${label}`, async () => {
      const peer = await startGoPeer('echo', theirs);
      try {
        const s = await dial({ connect: peer.addr, ...ours });
        const t0 = Date.now();
        await echoPattern(s, MIB4);
        timings.push(`  rxkcp → go   ${label.padEnd(48)} ${Date.now() - t0} ms  checksum errors here ${s.stats.InCsumErrors}`);
        if (!GO_GARBLES.has(crypt)) expect(s.stats.InCsumErrors).toBe(0);
        expect(s.stats.KCPInErrors).toBe(0);
        if (fec && loss > 0) expect(s.stats.FECRecovered).toBeGreaterThan(0);
      } finally {
        const final = await peer.stop();
        if (!GO_GARBLES.has(crypt)) expect(final.stats.InCsumErrors).toBe(0);
        expect(final.stats.KCPInErrors).toBe(0);
      }
    });

    it(`kcp-go client → rxkcp echo: ${label}`, async () => {
      const l = await Listener.listen({ listen: '127.0.0.1:0', ...ours });
      l.sessions$.subscribe((s) => {
        const d = toDuplex(s);
        d.on('error', () => {});
        d.pipe(d);
      });
      try {
        const r = await runGoSend({ ...theirs, connect: `127.0.0.1:${l.address.port}`, bytes: MIB4 });
        timings.push(`  go → rxkcp   ${label.padEnd(48)} ${r.elapsed_ms} ms  ${r.mb_per_s.toFixed(1)} MB/s  checksum errors here ${l.stats.InCsumErrors}`);
        expect(r.error).toBeUndefined();
        expect(r.ok).toBe(true);
        expect(r.verified).toBe(MIB4);
        if (!GO_GARBLES.has(crypt)) {
          expect(r.stats.InCsumErrors).toBe(0);
          expect(l.stats.InCsumErrors).toBe(0);
        }
      } finally {
        l.close();
      }
    });
  }
});
