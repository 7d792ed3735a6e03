/**
 * Sends a file over rxkcp to a receiver in the same process over UDP loopback, with a progress
 * bar, and checks the received copy's SHA-256.
 *
 *   npx tsx examples/file-transfer.ts FILE [--crypt salsa20] [--loss 0.05]
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { filter } from 'rxjs';
import { Prng } from 'rxkcp/core';
import { dial, Listener, toDuplex, type SessionOptions } from 'rxkcp/io';

const file = process.argv[2];
if (!file) {
  console.error('usage: file-transfer.ts FILE [--crypt NAME] [--loss FRACTION]');
  process.exit(2);
}
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const loss = Number(arg('loss', '0'));
const prng = new Prng(1);
const options: SessionOptions = {
  crypt: arg('crypt', 'salsa20') as SessionOptions['crypt'],
  key: 'file transfer',
  dataShards: 10,
  parityShards: 3,
  mode: 'fast3',
  sndWnd: 1024,
  rcvWnd: 1024,
  stream: true,
  // optional loss on the sender's way out, injected between layers
  layers: loss > 0 ? { afterEncrypt: filter(() => !prng.chance(loss)) } : undefined,
};
const size = statSync(file).size;
const receiver = await Listener.listen({ listen: '127.0.0.1:0', ...options, layers: undefined });
const received = new Promise<{ bytes: number; sha: string }>((resolve) => {
  receiver.sessions$.subscribe((s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    s.data$.subscribe((chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      bar.update(bytes);
      if (bytes >= size) resolve({ bytes, sha: hash.digest('hex') });
    });
  });
});

const bar = new cliProgress.SingleBar({ format: ' {bar} {percentage}% | {value}/{total} bytes' }, cliProgress.Presets.shades_classic);
bar.start(size, 0);
const started = performance.now();
const session = await dial({ connect: `127.0.0.1:${receiver.address.port}`, ...options });
const sent = createHash('sha256');
const source = createReadStream(file);
source.on('data', (c) => sent.update(c as Buffer));
source.pipe(toDuplex(session));
const { bytes, sha } = await received;
bar.stop();
const secs = (performance.now() - started) / 1000;
const ok = sha === sent.digest('hex');
console.log(`${bytes} bytes in ${secs.toFixed(2)} s (${(bytes / 1e6 / secs).toFixed(2)} MB/s), sha256 ${ok ? 'matches' : 'DIFFERS'}; retransmitted ${session.stats.RetransSegs}, FEC rebuilt ${receiver.sessions[0]?.stats.FECRecovered ?? 0}`);
session.close();
receiver.close();
process.exit(ok ? 0 : 1);
