/**
 * What runs inside the browser page: the portable cores and the operators, with the package's main
 * entry imported whole (so all of it must bundle for a browser), checked against kcp-go's
 * vectors and in a lossy conversation in virtual time. Everything is synchronous; the outcome is
 * written into the page as JSON (`<script type="application/json" id="rxkcp-result">`) for the
 * runner to read from the dumped DOM.
 */
import { TestScheduler } from 'rxjs/testing';
import vectors from '../vectors/kcp-go-vectors.json' with { type: 'json' };
// the main and testing entries, whole, so all of them must bundle for a browser; internals from their modules
import { Clock, Conversation } from '../../operators/index.js';
import { virtualNetwork } from '../../operators/testing/index.js';
import { type BlockCrypt } from '../../src/crypt/block-crypt.js';
import { createCrypt, type CryptName } from '../../src/crypt/crypt.js';
import { aeadOpen, aeadSeal, decryptDatagram, verifyCrc } from '../../src/crypt/packet.js';
import { Salsa20Crypt } from '../../src/crypt/stream-crypts.js';
import { FecDecoder, RecoveredPacket } from '../../src/fec/fec-decoder.js';
import { FecEncoder } from '../../src/fec/fec-encoder.js';
import { ReedSolomon } from '../../src/fec/reed-solomon.js';
import { simdKernel } from '../../src/fec/rs-kernel.js';
import { Prng } from '../../src/prng.js';
import { CollectSink } from '../../src/sink.js';
import { Snmp } from '../../src/stats.js';
import { fromHex, readU32, toHex } from '../../src/wire/bytes.js';
import { crc32 } from '../../src/wire/crc32.js';
import * as mainEntry from '../../operators/index.js';

/** How many names the main entry exports: keeps all of it in the bundle. */
export const mainEntryExports = Object.keys(mainEntry).length;

/** One group of checks: how many ran, and a line for each that failed. */
export interface SectionResult {
  checks: number;
  failures: string[];
}

export interface PageResult {
  userAgent: string;
  kernels: { salsa20: boolean; reedSolomon: boolean };
  ciphers: SectionResult & { cases: Record<string, number> };
  aead: SectionResult & { frames: string[] };
  captured: SectionResult & { packets: number };
  fec: SectionResult & { groups: number; reconstructions: number };
  conversation: SectionResult & { messages: number; bytes: number; retransmitted: number; fecRecovered: number; finishedAt: number };
  error: string | null;
}

/** The CFB ciphers run here, with kcp-go's vectors for them. */
export const CIPHERS = ['aes', 'aes-128', 'salsa20', 'blowfish', 'sm4', 'xor'] as const;

/** kcp-go's AEAD worked example: PBKDF2-SHA1('testkey', 'testsalt', 4096, 32) sealing one ACK with a fixed nonce. */
const AEAD_KEY = 'da1d64a0c5d75506d4ea09ec83eee11e3d781d8f59fe987cc94ad4b3cdc7ead9';
const AEAD_ACK = '443322115200800000100000070000000800000000000000';
const AEAD_NONCE = '000102030405060708090a0b';
const AEAD_FRAMES: [CryptName, number, string][] = [
  ['chacha20-poly1305', 32, '000102030405060708090a0bc46887afdba337177d7084fd87761d19119322ce860d95450e29e111081726e838c1b2a1053afeff'],
  ['aes-128-gcm', 16, '000102030405060708090a0b37409ca94ecae3b9277397f90a524edfb5654f558eda2a730cf39812416cc56368808ca867afe564'],
];

function section(): SectionResult {
  return { checks: 0, failures: [] };
}

function check(s: SectionResult, ok: boolean, what: string): void {
  s.checks++;
  if (!ok) s.failures.push(what);
}

function runCiphers(out: PageResult): void {
  const s = out.ciphers;
  for (const entry of vectors.crypt) {
    const name = entry.crypt;
    if (!(CIPHERS as readonly string[]).includes(name)) continue;
    const key = fromHex(entry.key_hex);
    const blocks: [string, BlockCrypt][] = [];
    const c = createCrypt(name as CryptName, key);
    if (c.kind !== 'framed') {
      check(s, false, `${name}: createCrypt gave ${c.kind}, not cfb`);
      continue;
    }
    blocks.push([name, c.block]);
    // the TypeScript Salsa20 path next to the WebAssembly kernel createCrypt uses
    if (name === 'salsa20') blocks.push(['salsa20 (TypeScript fallback)', new Salsa20Crypt(key, false)]);
    for (const [label, block] of blocks) {
      for (const k of entry.cases) {
        const plain = fromHex(k.plaintext_hex);
        check(s, readU32(plain, 16) === crc32(plain.subarray(20)), `${label} ${k.name}: the plaintext's CRC`);
        const buf = plain.slice();
        block.encrypt(buf, buf);
        check(s, toHex(buf) === k.ciphertext_hex, `${label} ${k.name}: encrypts to kcp-go's bytes`);
        block.decrypt(buf, buf);
        check(s, toHex(buf) === k.plaintext_hex, `${label} ${k.name}: decrypts back`);
        const ct = fromHex(k.ciphertext_hex);
        const dst = new Uint8Array(ct.length);
        block.decrypt(dst, ct);
        check(s, toHex(dst) === k.plaintext_hex, `${label} ${k.name}: decrypts kcp-go's ciphertext out of place`);
        s.cases[label] = (s.cases[label] ?? 0) + 1;
      }
    }
  }
}

function runAead(out: PageResult): void {
  const s = out.aead;
  const pass = fromHex(AEAD_KEY);
  const nonce = fromHex(AEAD_NONCE);
  const ack = fromHex(AEAD_ACK);
  for (const [name, keyLen, frame] of AEAD_FRAMES) {
    const c = createCrypt(name, pass.slice(0, keyLen), { random: (into) => into.set(nonce) });
    if (c.kind !== 'aead') {
      check(s, false, `${name}: createCrypt gave ${c.kind}, not aead`);
      continue;
    }
    const sealed = aeadSeal(ack, c.aead, c.random);
    check(s, toHex(sealed) === frame, `${name}: seals kcp-go's worked frame`);
    const stats = new Snmp();
    const opened = aeadOpen(fromHex(frame), c.aead, stats);
    check(s, opened !== null && toHex(opened) === AEAD_ACK, `${name}: opens kcp-go's worked frame`);
    let rejected = 0;
    for (let i = 0; i < sealed.length; i++) {
      const t = sealed.slice();
      t[i]! ^= 0x01;
      if (aeadOpen(t, c.aead, stats) === null) rejected++;
    }
    check(s, rejected === sealed.length && stats.InCsumErrors === sealed.length, `${name}: every single-byte tamper rejected (${rejected}/${sealed.length})`);
    out.aead.frames.push(name);
  }
}

function runCaptured(out: PageResult): void {
  const s = out.captured;
  for (const session of vectors.captured_sessions) {
    if (!(CIPHERS as readonly string[]).includes(session.crypt)) continue;
    const c = createCrypt(session.crypt as CryptName, fromHex(session.key_hex));
    if (c.kind !== 'framed') continue;
    const stats = new Snmp();
    for (const p of session.packets) {
      const dg = fromHex((p as { ciphertext_hex: string }).ciphertext_hex);
      check(s, decryptDatagram(dg, c.block), `${session.crypt}: captured packet decrypts`);
      check(s, toHex(dg) === p.plaintext_hex, `${session.crypt}: captured packet equals kcp-go's plaintext`);
      check(s, verifyCrc(dg, c.crc32, stats) !== null, `${session.crypt}: captured packet's CRC checks`);
      out.captured.packets++;
    }
  }
}

function runFec(out: PageResult): void {
  const s = out.fec;
  for (const v of vectors.fec.by_ds_ps) {
    const ds = v.data_packets_hex.length;
    const ps = v.parity_packets_hex.length;
    // packets: the encoder's bytes, and the decoder recovering lost data packets
    const enc = new FecEncoder({ dataShards: ds, parityShards: ps }, new Snmp(), { startSeqid: v.first_seqid });
    const sink = new CollectSink<Uint8Array>();
    for (const k of v.kcp_payloads_hex) enc.encode(fromHex(k), 1000, sink);
    const want = [...v.data_packets_hex, ...v.parity_packets_hex];
    check(s, sink.items.length === want.length && sink.items.every((p, i) => toHex(p) === want[i]), `${v.name}: FEC packets byte-identical`);
    for (const r of v.reconstruct) {
      const stats = new Snmp();
      const dec = new FecDecoder({ dataShards: ds, parityShards: ps }, stats);
      const got = new CollectSink<Uint8Array>();
      want.forEach((p, i) => {
        if (!r.missing_shard_indices.includes(i)) dec.decode(fromHex(p), got);
      });
      const lostData = r.missing_shard_indices.filter((i) => i < ds);
      const what = `${v.name}: losing ${r.missing_shard_indices.join(',')}`;
      if (r.recoverable) {
        const expected = lostData.map((i) => v.kcp_payloads_hex[i]!).sort();
        const recovered = got.items.map((p) => toHex(p)).sort();
        check(s, recovered.join() === expected.join(), `${what}: recovers the lost payloads`);
        check(s, got.items.every((p) => p instanceof RecoveredPacket) && stats.FECRecovered === lostData.length, `${what}: counted as recovered`);
      } else {
        check(s, got.items.length === 0, `${what}: nothing recovered`);
      }
    }
    // shards: the kernel and the TypeScript loops, each against the vector's shards
    for (const [label, rs] of [['kernel', new ReedSolomon(ds, ps)], ['TypeScript', new ReedSolomon(ds, ps, false)]] as const) {
      const data = v.data_shards_hex.map(fromHex);
      const parity = v.parity_shards_hex.map(() => new Uint8Array(v.shard_len));
      rs.encode(data, parity, v.shard_len);
      check(s, parity.every((p, j) => toHex(p) === v.parity_shards_hex[j]), `${v.name} (${label}): parity shards equal kcp-go's`);
      for (const r of v.reconstruct.filter((x) => x.recoverable)) {
        const shards: (Uint8Array | null)[] = [...v.data_shards_hex, ...v.parity_shards_hex].map(fromHex);
        for (const i of r.missing_shard_indices) shards[i] = null;
        rs.reconstructData(shards, v.shard_len);
        check(s, v.data_shards_hex.every((d, i) => shards[i] !== null && toHex(shards[i]!) === d), `${v.name} (${label}): rebuilds data after losing ${r.missing_shard_indices.join(',')}`);
        out.fec.reconstructions++;
      }
    }
    out.fec.groups++;
  }
  // random geometries: the kernel and the TypeScript loops agree and rebuild the data
  const prng = new Prng(2024);
  for (let n = 0; n < 60; n++) {
    const ds = prng.int(1, 30);
    const ps = prng.int(1, 8);
    const len = prng.int(1, 1500);
    const data = Array.from({ length: ds }, () => prng.bytes(len));
    const p1 = Array.from({ length: ps }, () => new Uint8Array(len));
    const p2 = Array.from({ length: ps }, () => new Uint8Array(len));
    new ReedSolomon(ds, ps).encode(data, p1, len);
    new ReedSolomon(ds, ps, false).encode(data, p2, len);
    const what = `random ${ds}+${ps}x${len} (seed 2024, round ${n})`;
    check(s, p1.every((p, j) => toHex(p) === toHex(p2[j]!)), `${what}: kernel and TypeScript parity agree`);
    const lost = [...data, ...p1] as (Uint8Array | null)[];
    for (let k = 0; k < ps; k++) lost[prng.int(0, ds + ps - 1)] = null;
    const copy = [...lost];
    new ReedSolomon(ds, ps).reconstructData(lost, len);
    new ReedSolomon(ds, ps, false).reconstructData(copy, len);
    check(s, data.every((d, i) => toHex(lost[i]!) === toHex(d) && toHex(copy[i]!) === toHex(d)), `${what}: both rebuild the data`);
  }
}

/**
 * Two conversations (Salsa20 + FEC 10/3) over a link losing 20 % each way, in virtual time: 200
 * messages of 1..1000 bytes (each within one segment, so each arrives as one message) in order.
 */
function runConversation(out: PageResult): void {
  const s = out.conversation;
  const seed = 77;
  const prng = new Prng(seed);
  const sent = Array.from({ length: 200 }, () => prng.bytes(prng.int(1, 1000)));
  const received: Uint8Array[] = [];
  let retransmitted = 0;
  let fecRecovered = 0;
  new TestScheduler(() => {}).run(({ flush }) => {
    const clock = new Clock();
    const kcp = { nodelay: 1, interval: 10, resend: 2, nc: 1, sndWnd: 64, rcvWnd: 64 };
    const key = prng.bytes(32);
    const nonces = new Prng(seed + 1);
    const crypt = createCrypt('salsa20', key, { random: (into) => void nonces.fill(into) });
    const fec = { dataShards: 10, parityShards: 3 };
    const a = new Conversation({ conv: 7, clock, kcp, crypt, fec });
    const b = new Conversation({ conv: 7, clock, kcp, crypt, fec });
    const net = virtualNetwork(a, b, { ab: { seed: seed + 2, loss: 0.2, delay: 40 }, ba: { seed: seed + 3, loss: 0.2, delay: 40 } });
    b.data$.subscribe((m) => {
      received.push(m.slice());
      if (received.length === sent.length) {
        out.conversation.finishedAt = clock.now();
        retransmitted = a.stats.RetransSegs;
        fecRecovered = b.stats.FECRecovered;
        a.close();
        b.close();
        net.unsubscribe();
      }
    });
    let next = 0;
    const pump = (): void => {
      while (next < sent.length && a.write(sent[next]!)) next++;
    };
    a.writable$.subscribe(pump);
    pump();
    clock.scheduler.schedule(() => (a.close(), b.close(), net.unsubscribe()), 600_000); // a bound, not reached
    flush();
  });
  check(s, received.length === sent.length, `delivered ${received.length} of ${sent.length} messages (seed ${seed})`);
  for (let i = 0; i < sent.length; i++) {
    if (received[i] === undefined) break;
    check(s, toHex(received[i]!) === toHex(sent[i]!), `message ${i} byte-exact (seed ${seed})`);
  }
  check(s, retransmitted > 0 && fecRecovered > 0, `the link lost packets: KCP retransmitted (${retransmitted}) and FEC recovered (${fecRecovered})`);
  out.conversation.messages = received.length;
  out.conversation.bytes = received.reduce((n, m) => n + m.length, 0);
  out.conversation.retransmitted = retransmitted;
  out.conversation.fecRecovered = fecRecovered;
}

export function runAll(): PageResult {
  const out: PageResult = {
    userAgent: String((globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent),
    kernels: { salsa20: false, reedSolomon: false },
    ciphers: { ...section(), cases: {} },
    aead: { ...section(), frames: [] },
    captured: { ...section(), packets: 0 },
    fec: { ...section(), groups: 0, reconstructions: 0 },
    conversation: { ...section(), messages: 0, bytes: 0, retransmitted: 0, fecRecovered: 0, finishedAt: -1 },
    error: null,
  };
  try {
    out.kernels.salsa20 = new Salsa20Crypt(new Uint8Array(32))['kernel'] != null;
    out.kernels.reedSolomon = simdKernel() !== null && new ReedSolomon(10, 3).kernel !== null;
    runCiphers(out);
    runAead(out);
    runCaptured(out);
    runFec(out);
    runConversation(out);
  } catch (e) {
    out.error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  }
  return out;
}

interface MiniDocument {
  createElement(tag: string): { type: string; id: string; textContent: string | null };
  body: { appendChild(node: object): void };
}

const doc = (globalThis as { document?: MiniDocument }).document;
if (doc !== undefined) {
  const result = runAll();
  const el = doc.createElement('script');
  el.type = 'application/json';
  el.id = 'rxkcp-result';
  // '<' escaped so the JSON cannot end the script element in the serialized DOM
  el.textContent = JSON.stringify(result).replace(/</g, '\\u003c');
  doc.body.appendChild(el);
}
