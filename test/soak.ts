/**
 * `npm run test:soak`: SOAK_MB (default 1024) MiB echoed byte-exact over real loopback UDP through
 * the relay (a seeded network emulator between the two sockets): each way about 10 % loss (5 %
 * independent, the rest in Gilbert–Elliott bursts), 2 % duplication, 10 % reordering, 1 ms delay
 * plus 0–2 ms jitter; for several cipher/FEC settings; RSS sampled every second. Bounded: a
 * setting that has not finished within SOAK_MAX_S seconds (default 900) fails. Exits non-zero on
 * any failure. The relay's seed (SOAK_SEED, default 1) is printed with each result.
 */
import { dial } from '../operators/transport/dial.js';
import { Listener } from '../operators/transport/listener.js';
import { relay, type Impairment } from '../operators/apps/relay.js';
import type { SessionOptions } from '../operators/transport/session.js';
import { toDuplex } from '../operators/adapters/stream.js';
import { PatternVerifier, patternBytes } from '../operators/testing/pattern.js';

const MB = Number(process.env.SOAK_MB ?? 1024);
const MAX_S = Number(process.env.SOAK_MAX_S ?? 900);
const SEED = Number(process.env.SOAK_SEED ?? 1);
const only = process.env.SOAK_CONFIGS?.split(',');
const impairment: Impairment = { loss: 0.05, burst: { enter: 0.01, exit: 0.2 }, duplicate: 0.02, reorder: 0.1, reorderDelay: 5, delay: 1, jitter: 2 };
const all: { name: string; options: SessionOptions }[] = [
  { name: 'aes + FEC 10/3', options: { crypt: 'aes' as const, key: 'soak', dataShards: 10, parityShards: 3 } },
  { name: 'salsa20', options: { crypt: 'salsa20' as const, key: 'soak' } },
  { name: 'aes-128-gcm + FEC 10/3', options: { crypt: 'aes-128-gcm' as const, key: 'soak', dataShards: 10, parityShards: 3 } },
];
const configs = all.filter((c) => !only || only.some((o) => c.name.startsWith(o)));
const fast = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 512, rcvWnd: 512, stream: true };

let failed = 0;
for (const c of configs) {
  const bytes = MB * 1024 * 1024;
  const l = await Listener.listen({ listen: '127.0.0.1:0', ...fast, ...c.options });
  l.sessions$.subscribe((s) => {
    const d = toDuplex(s);
    d.on('error', () => {});
    d.pipe(d);
  });
  const link = await relay({ connect: `127.0.0.1:${l.address.port}`, seed: SEED, ...impairment });
  const s = await dial({ connect: `127.0.0.1:${link.address.port}`, ...fast, ...c.options });
  const stream = toDuplex(s);
  const verifier = new PatternVerifier();
  const rss: number[] = [];
  const t0 = Date.now();
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 1000);
  const result = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(`not done after ${MAX_S} s (${verifier.offset} bytes verified)`), MAX_S * 1000);
    stream.on('data', (chunk: Buffer) => {
      if (!verifier.push(chunk)) resolve(verifier.error);
      else if (verifier.offset >= bytes) (clearTimeout(timer), resolve(null));
    });
    stream.on('error', (e) => resolve(String(e)));
    (async () => {
      for (let off = 0; off < bytes && !stream.destroyed; off += 65536) {
        if (!stream.write(patternBytes(off, Math.min(65536, bytes - off)))) await new Promise((r) => stream.once('drain', r));
      }
    })();
  });
  clearInterval(sampler);
  const secs = (Date.now() - t0) / 1000;
  const mib = (v: number) => (v / 2 ** 20).toFixed(0);
  const line = {
    name: `soak ${c.name}, relay seed ${SEED}`,
    ok: result === null,
    error: result ?? undefined,
    verified_bytes: verifier.offset,
    seconds: Number(secs.toFixed(1)),
    mb_per_s: Number((verifier.offset / 1e6 / secs).toFixed(2)),
    rss_mib_first_last_max: rss.length ? [mib(rss[0]!), mib(rss[rss.length - 1]!), mib(Math.max(...rss))] : [],
    retransmitted: s.stats.RetransSegs,
    fec_recovered: l.sessions[0]?.stats.FECRecovered ?? 0,
    checksum_errors: s.stats.InCsumErrors + l.stats.InCsumErrors,
    relay: link.stats.snapshot(),
  };
  console.log(JSON.stringify(line));
  // the relay must really have impaired both directions
  if (!line.ok || line.checksum_errors > 0 || line.relay.up.dropped.total === 0 || line.relay.down.dropped.total === 0) failed++;
  stream.destroy();
  await link.close();
  l.close();
}
console.log(`soak: ${configs.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
