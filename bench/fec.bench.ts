/**
 * FEC costs in kcp-go's benchmark shapes (fec_test.go): BenchmarkFECEncode encodes one 1500-byte
 * packet per op with 10/3 (parity every tenth op); BenchmarkFECDecode feeds 10/3 packets of 1500
 * bytes with about 1/13 lost at random, so most groups need a reconstruction. Ratio = Go ns / ours.
 */
import { FecDecoder } from '../src/fec/fec-decoder.js';
import { FecEncoder } from '../src/fec/fec-encoder.js';
import { ReedSolomon } from '../src/fec/reed-solomon.js';
import { Prng } from '../src/prng.js';
import { nullSink } from '../src/sink.js';
import { Snmp } from '../src/stats.js';
import { writeU16, writeU32 } from '../src/wire/bytes.js';
import { emit, nsPerOp, sideBySide, printRanOn } from './lib.js';

printRanOn();

const encoder = new FecEncoder({ dataShards: 10, parityShards: 3 }, new Snmp());
const payload = new Uint8Array(1500 - 8);

const decoder = new FecDecoder({ dataShards: 10, parityShards: 3 }, new Snmp());
const prng = new Prng(7);
let i = 0;
const decodeOne = () => {
  i++;
  if (prng.int(0, 12) === 0) return; // random loss
  const pkt = new Uint8Array(1500);
  writeU32(pkt, 0, i);
  writeU16(pkt, 4, i % 13 >= 10 ? 0xf2 : 0xf1);
  decoder.decode(pkt, nullSink);
};

sideBySide(
  [
    { name: 'fec encode 10/3, 1500B packet', goBench: 'BenchmarkFECEncode', fn: () => encoder.encode(payload, 0, nullSink) },
    { name: 'fec decode 10/3, 1500B packet, ~1/13 loss', goBench: 'BenchmarkFECDecode', fn: decodeOne },
  ],
  Number(process.env.BENCH_RUNS ?? 3)
);

const shards = Array.from({ length: 10 }, () => prng.bytes(1400));
const parity = Array.from({ length: 3 }, () => new Uint8Array(1400));
for (const [label, simd] of [['WebAssembly SIMD kernel', true], ['TypeScript kernel', false]] as const) {
  const rs = new ReedSolomon(10, 3, simd);
  emit({ name: `reed-solomon encode 10+3 x 1400B (${label})`, value: nsPerOp(() => rs.encode(shards, parity, 1400)), unit: 'ns/op' });
}
