/**
 * Sessions as Node streams at both ends, through the relay (a seeded network emulator on real
 * loopback sockets): 3 % independent loss each way plus Gilbert–Elliott bursts, 1 % duplication,
 * 2 % reordering, kcptun's fast3 profile with 1024-segment windows.
 *
 * Upload: the client runs `await pipeline(Readable.from(pattern chunks), toDuplex(session))` and
 * closes its session the moment that resolves (the promise means the server acknowledged every
 * byte); the server runs `pipeline(toDuplex(session), slowWritable)`, a writable that stalls now
 * and then and checks every byte, and closes its session once all have arrived (after a linger,
 * see LINGER_MS), which must end its Duplex. Download: the same the other way round, the server writing and a pausing client
 * reading. Both in message and in stream mode.
 *
 * STREAMS_MB (default 50) sets the size of every case; STREAMS_SEED (default below) the relay's
 * seed, printed with every case; STREAMS_LINGER the receiver's linger in ms (default 2000).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { take } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../../operators/transport/dial.js';
import { Listener } from '../../operators/transport/listener.js';
import { PatternVerifier, patternBytes } from '../../operators/testing/pattern.js';
import { relay, type Impairment } from '../../operators/apps/relay.js';
import type { Session, SessionOptions } from '../../operators/transport/session.js';
import { toDuplex } from '../../operators/adapters/stream.js';
import { Prng } from '../../src/prng.js';

const MB = Number(process.env.STREAMS_MB ?? 50);
const SEED = Number(process.env.STREAMS_SEED ?? 0x5eed_0050);
/** Bound of one case (generous: a case this slow is stuck, not slow). */
const CASE_MS = 150_000;
/** A transfer that makes no progress for this long has failed. */
const STALL_MS = 30_000;
/**
 * How long a receiver that has every byte keeps its session open before closing it, so that
 * the sender's retransmissions still get ACKs if the last ones were lost. With 0 (closing the
 * moment the last byte arrives) the sender's `await pipeline(...)` waits for ever whenever the
 * receiver's last datagram is lost: see the test of that in test/session-model.test.ts.
 */
const LINGER_MS = Number(process.env.STREAMS_LINGER ?? 2000);

/** kcptun's fast3 (nodelay 1, interval 10, resend 2, nc 1) with 1024-segment windows. */
const FAST3: SessionOptions = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 1024, rcvWnd: 1024 };
const IMPAIRMENT: Impairment = { loss: 0.03, burst: { enter: 0.005, exit: 0.3 }, duplicate: 0.01, reorder: 0.02, reorderDelay: 5 };

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

/** Pattern chunks of seeded sizes (1 byte .. 64 KiB) totalling `total` bytes. */
function* chunks(total: number, seed: number): Generator<Buffer> {
  const prng = new Prng(seed);
  for (let off = 0; off < total; ) {
    const n = Math.min(total - off, 1 + Math.floor(prng.float() * 65536));
    yield Buffer.from(patternBytes(off, n));
    off += n;
  }
}

/**
 * A writable that checks the pattern and stalls now and then: a short wait (0-5 ms) after about
 * every 256 KiB, a long one (100 ms, enough for the sender's window to fill) after about every
 * 4 MiB. Calls `done` once `total` bytes have arrived; fails on the first wrong byte.
 */
function slowVerifier(total: number, seed: number, done: () => void): { writable: Writable; verifier: PatternVerifier } {
  const verifier = new PatternVerifier();
  const prng = new Prng(seed);
  let sinceShort = 0;
  let sinceLong = 0;
  const writable = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      if (!verifier.push(chunk)) return callback(new Error(verifier.error!));
      if (verifier.offset > total) return callback(new Error(`received ${verifier.offset} bytes, more than the ${total} sent`));
      if (verifier.offset === total) done();
      sinceShort += chunk.length;
      sinceLong += chunk.length;
      if (sinceLong >= 4 << 20) {
        sinceLong = sinceShort = 0;
        setTimeout(callback, 100);
      } else if (sinceShort >= 256 << 10) {
        sinceShort = 0;
        setTimeout(callback, Math.floor(prng.float() * 6));
      } else callback();
    },
  });
  return { writable, verifier };
}

/** Rejects if `progress()` stays the same for STALL_MS, describing `state()`. */
function watchdog(progress: () => number, state: () => string): { promise: Promise<never>; stop: () => void } {
  let last = -1;
  let since = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      const p = progress();
      if (p !== last) {
        last = p;
        since = Date.now();
      } else if (Date.now() - since > STALL_MS) {
        clearInterval(timer);
        reject(new Error(`no progress for ${STALL_MS} ms: ${state()}`));
      }
    }, 1000);
  });
  promise.catch(() => {});
  return { promise, stop: () => clearInterval(timer) };
}

interface Setup {
  listener: Listener;
  client: Session;
  relayStats: () => string;
}

async function setup(stream: boolean, seed: number): Promise<Setup> {
  const options: SessionOptions = { ...FAST3, stream };
  const listener = await Listener.listen({ listen: '127.0.0.1:0', ...options });
  cleanup.push(() => listener.close());
  const r = await relay({ connect: `127.0.0.1:${listener.address.port}`, seed, ...IMPAIRMENT });
  cleanup.push(() => r.close());
  const client = await dial({ connect: `127.0.0.1:${r.address.port}`, ...options });
  cleanup.push(() => client.close());
  const relayStats = () => {
    const s = r.stats.snapshot();
    const dir = (d: typeof s.up) => `${d.received} in, ${d.dropped.total} dropped (${d.dropped.burst} in bursts), ${d.duplicated} duplicated, ${d.reordered} reordered`;
    return `relay seed ${seed}: up ${dir(s.up)}; down ${dir(s.down)}`;
  };
  return { listener, client, relayStats };
}

const modes = [
  { name: 'message', stream: false },
  { name: 'stream', stream: true },
] as const;

describe(`${MB} MB through Node streams at both ends, through a lossy relay (seed ${SEED})`, () => {
  for (const [i, mode] of modes.entries()) {
    const seed = SEED + i;
    const total = Math.round(MB * 1024 * 1024);

    it(`upload, ${mode.name} mode: await pipeline(source, toDuplex(client)) then close(); the server's pipeline(toDuplex(session), slow writable) gets every byte and ends (relay seed ${seed})`, async () => {
      const started = Date.now();
      const { listener, client, relayStats } = await setup(mode.stream, seed);
      let serverEnded = false;
      let serverSession: Session | null = null;
      let verifier: PatternVerifier | null = null;
      const server = new Promise<void>((resolve, reject) => {
        listener.sessions$.pipe(take(1)).subscribe((s) => {
          serverSession = s;
          const duplex = toDuplex(s);
          duplex.on('end', () => (serverEnded = true));
          const sink = slowVerifier(total, seed, () => setTimeout(() => s.close(), LINGER_MS)); // all arrived: the server closes
          verifier = sink.verifier;
          pipeline(duplex, sink.writable).then(resolve, reject);
        });
      });
      const dog = watchdog(
        () => verifier?.offset ?? 0,
        () => `server has ${verifier?.offset ?? 0} of ${total} bytes; client waitSnd ${client.waitSnd()}; ${relayStats()}`
      );
      try {
        let acknowledged = false;
        const upload = pipeline(Readable.from(chunks(total, seed)), toDuplex(client)).then(() => {
          acknowledged = true;
          client.close(); // as a user would, the moment the pipeline resolves
        });
        await Promise.race([Promise.all([upload, server]), dog.promise]);
        expect(acknowledged).toBe(true);
      } finally {
        dog.stop();
      }
      const v = verifier as PatternVerifier | null;
      expect(v?.error ?? null, relayStats()).toBeNull();
      expect(v?.offset, relayStats()).toBe(total);
      expect(serverEnded, 'the server-side Duplex ended').toBe(true);
      expect((serverSession as Session | null)?.closed).toBe(true);
      console.log(`upload ${mode.name} ${MB} MB: ${((Date.now() - started) / 1000).toFixed(1)} s; ${relayStats()}`);
    }, CASE_MS);

    it(`download, ${mode.name} mode: the server's await pipeline(source, toDuplex(session)) then close(); the client's pipeline(toDuplex(client), slow writable) gets every byte and ends (relay seed ${seed + 100})`, async () => {
      const started = Date.now();
      const { listener, client, relayStats } = await setup(mode.stream, seed + 100);
      let acknowledged = false;
      const server = new Promise<void>((resolve, reject) => {
        listener.sessions$.pipe(take(1)).subscribe((s) => {
          // the client's first bytes ask for the download; then the server writes it all
          s.data$.pipe(take(1)).subscribe(() => {
            pipeline(Readable.from(chunks(total, seed + 100)), toDuplex(s))
              .then(() => {
                acknowledged = true;
                s.close();
              })
              .then(resolve, reject);
          });
        });
      });
      let clientEnded = false;
      const duplex = toDuplex(client);
      duplex.on('end', () => (clientEnded = true));
      const sink = slowVerifier(total, seed + 100, () => setTimeout(() => client.close(), LINGER_MS)); // all arrived: the client closes
      const download = pipeline(duplex, sink.writable);
      await client.send(new TextEncoder().encode('GET'));
      const dog = watchdog(
        () => sink.verifier.offset,
        () => `client has ${sink.verifier.offset} of ${total} bytes; ${relayStats()}`
      );
      try {
        await Promise.race([Promise.all([download, server]), dog.promise]);
      } finally {
        dog.stop();
      }
      expect(sink.verifier.error, relayStats()).toBeNull();
      expect(sink.verifier.offset, relayStats()).toBe(total);
      expect(acknowledged, "the server's pipeline resolved").toBe(true);
      expect(clientEnded, 'the client-side Duplex ended').toBe(true);
      console.log(`download ${mode.name} ${MB} MB: ${((Date.now() - started) / 1000).toFixed(1)} s; ${relayStats()}`);
    }, CASE_MS);
  }
});
