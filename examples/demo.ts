/**
 * `npm start`: an rxkcp echo server and a client over real UDP on 127.0.0.1, with AES-256 and
 * FEC 10/3 as kcptun would configure them, streaming the shared byte pattern for a few seconds
 * and verifying every echoed byte. Prints throughput and the SNMP counters of both ends.
 *
 *   npm start -- [seconds]
 */
import { dial, Listener, toDuplex, type SessionOptions } from 'rxkcp/io';
import { patternBytes, PatternVerifier } from 'rxkcp/testing';
import { printRanOn } from '../bench/lib.js';

printRanOn();

const seconds = Number(process.argv[2] ?? 4);
const options: SessionOptions = {
  crypt: 'aes',
  key: 'rxkcp demo', // kcptun's --key
  dataShards: 10,
  parityShards: 3,
  mode: 'fast3',
  sndWnd: 1024,
  rcvWnd: 1024,
  stream: true,
};

const server = await Listener.listen({ listen: '127.0.0.1:0', ...options });
server.sessions$.subscribe((session) => {
  const echo = toDuplex(session);
  echo.on('error', () => {});
  echo.pipe(echo);
});
const { port } = server.address;
console.log(`rxkcp demo: echo server on 127.0.0.1:${port} (aes, FEC 10/3, fast3); client streams for ${seconds} s\n`);

const session = await dial({ connect: `127.0.0.1:${port}`, ...options });
const stream = toDuplex(session);
const verifier = new PatternVerifier();
const started = performance.now();
let sent = 0;
let stop = false;
setTimeout(() => (stop = true), seconds * 1000);

const finished = new Promise<void>((resolve, reject) => {
  stream.on('data', (chunk: Buffer) => {
    if (!verifier.push(chunk)) reject(new Error(verifier.error!));
    if (stop && verifier.offset >= sent) resolve();
  });
  stream.on('error', reject);
});
let lastReport = started;
while (!stop) {
  const chunk = patternBytes(sent, 32 * 1024);
  sent += chunk.length;
  if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
  const now = performance.now();
  if (now - lastReport >= 1000) {
    lastReport = now;
    console.log(`  ${((now - started) / 1000).toFixed(1)} s  echoed ${(verifier.offset / 1e6).toFixed(1)} MB  (${(verifier.offset / 1e3 / (now - started)).toFixed(2)} MB/s)`);
  }
}
await finished;
const elapsed = (performance.now() - started) / 1000;

const c = session.stats;
const s = server.sessions[0]?.stats;
console.log(`\n  ${verifier.offset} bytes sent and echoed back byte-exact in ${elapsed.toFixed(2)} s: ${(verifier.offset / 1e6 / elapsed).toFixed(2)} MB/s each way\n`);
const rows: [string, keyof typeof c][] = [
  ['datagrams out', 'OutPkts'],
  ['datagrams in', 'InPkts'],
  ['KCP segments out', 'OutSegs'],
  ['retransmitted', 'RetransSegs'],
  ['  fast / early / timeout', 'FastRetransSegs'],
  ['  not needed (ACK of earlier copy)', 'SpuriousRetrans'],
  ['FEC parity shards received', 'FECParityShards'],
  ['FEC shards rebuilt', 'FECRecovered'],
  ['checksum errors', 'InCsumErrors'],
];
console.log(`  ${'counter'.padEnd(36)} ${'client'.padStart(10)} ${'server'.padStart(10)}`);
for (const [label, key] of rows) {
  const fmt = (st: typeof c | undefined) =>
    key === 'FastRetransSegs' && st ? `${st.FastRetransSegs}/${st.EarlyRetransSegs}/${st.LostSegs}` : String(st?.[key] ?? '-');
  console.log(`  ${label.padEnd(36)} ${fmt(c).padStart(10)} ${fmt(s).padStart(10)}`);
}
console.log(`  rtt: srtt ${session.conversation.kcp.rxSrtt} ms, rto ${session.conversation.kcp.rxRto} ms`);
session.close();
server.close();
process.exit(c.InCsumErrors === 0 ? 0 : 1);
