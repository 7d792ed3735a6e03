/**
 * Packet cipher and CRC costs in kcp-go's benchmark shapes (crypt_test.go): one op = Encrypt then
 * Decrypt of a 1500-byte buffer (`benchCrypt`), CRC32 of 1 KiB. Our node:crypto path (what
 * `rxkcp/node` uses) and portable path, beside kcp-go's own figures; ratio = Go ns / our ns.
 */
import { createCrypt, keySliceFor, type CryptName, type PacketCrypt } from '../src/crypt/crypt.js';
import { aeadSeal } from '../src/crypt/packet.js';
import { nodeCrc32 } from '../src/node/crc32.js';
import { createNodeCrypt } from '../src/node/crypt.js';
import { Prng } from '../src/prng.js';
import { crc32 } from '../src/wire/crc32.js';
import { emit, nsPerOp, sideBySide, printRanOn } from './lib.js';

printRanOn();

const pass = new Prng(1).bytes(32);
const data = new Prng(2).bytes(1500);
const enc = new Uint8Array(1500);
const dec = new Uint8Array(1500);

function roundTrip(c: PacketCrypt): () => void {
  if (c.kind !== 'framed') throw new Error('framed crypt expected');
  const b = c.block;
  return () => {
    b.encrypt(enc, data);
    b.decrypt(dec, enc);
  };
}

const ciphers: [CryptName, string][] = [
  ['aes-128', 'BenchmarkAES128'],
  ['aes-192', 'BenchmarkAES192'],
  ['aes', 'BenchmarkAES256'],
  ['salsa20', 'BenchmarkSalsa20'],
  ['sm4', 'BenchmarkSM4'],
  ['3des', 'Benchmark3DES'],
  ['tea', 'BenchmarkTEA'],
  ['xtea', 'BenchmarkXTEA'],
  ['xor', 'BenchmarkXOR'],
  ['none', 'BenchmarkNone'],
];

const cases: { name: string; goBench: string; fn: () => void }[] = [];
for (const [name, goBench] of ciphers) {
  const key = keySliceFor(name, pass);
  cases.push({ name: `crypt ${name} enc+dec 1500B (node path)`, goBench, fn: roundTrip(createNodeCrypt(name, key)) });
  try {
    cases.push({ name: `crypt ${name} enc+dec 1500B (portable)`, goBench, fn: roundTrip(createCrypt(name, key)) });
  } catch {
    // no portable implementation of this cipher yet: the node row stands alone
  }
}
const kib = data.subarray(0, 1024);
cases.push({ name: 'crc32 1KiB (zlib)', goBench: 'BenchmarkCRC32', fn: () => nodeCrc32(kib) });
cases.push({ name: 'crc32 1KiB (portable)', goBench: 'BenchmarkCRC32', fn: () => crc32(kib) });
sideBySide(cases, Number(process.env.BENCH_RUNS ?? 3));

for (const name of ['aes-128-gcm', 'chacha20-poly1305'] as const) {
  for (const [path, make] of [['node', createNodeCrypt], ['portable', createCrypt]] as const) {
    const c = make(name, keySliceFor(name, pass));
    if (c.kind !== 'aead') throw new Error('aead expected');
    const body = data.subarray(0, 1400);
    emit({ name: `aead ${name} seal 1400B (${path})`, value: nsPerOp(() => aeadSeal(body, c.aead, c.random)), unit: 'ns/op' });
  }
}
