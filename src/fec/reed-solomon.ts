/**
 * Systematic Reed-Solomon over GF(2^8), byte-identical to klauspost/reedsolomon's default codec
 * that kcp-go uses (docs/protocol.md#reed-solomon): the total×data Vandermonde matrix V[r][c] =
 * r^c, multiplied by the inverse of its top square so the data rows are the identity.
 * `reconstructData` rebuilds missing data shards only, from any `data` present shards, as
 * klauspost's ReconstructData does; the inverse matrices it needs are cached by which shards are
 * present.
 *
 * The multiply-accumulate runs in the WebAssembly SIMD kernel when the runtime has it (shards
 * are copied into its memory and results out), else in TypeScript table loops; both give the
 * same bytes (test/rs-kernel.test.ts).
 * @module
 */
import { MUL, gfInv, gfMul, gfPow } from './gf256.js';
import { simdKernel, type SimdKernel } from './rs-kernel.js';

type Matrix = Uint8Array[];

function identity(n: number): Matrix {
  return Array.from({ length: n }, (_, i) => {
    const row = new Uint8Array(n);
    row[i] = 1;
    return row;
  });
}

function multiply(a: Matrix, b: Matrix): Matrix {
  const cols = b[0]!.length;
  return a.map((row) => {
    const out = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      let v = 0;
      for (let k = 0; k < row.length; k++) v ^= gfMul(row[k]!, b[k]![c]!);
      out[c] = v;
    }
    return out;
  });
}

/** Gauss-Jordan inverse of a square matrix; null if singular. */
export function invert(m: Matrix): Matrix | null {
  const n = m.length;
  const a = m.map((r) => r.slice());
  const inv = identity(n);
  for (let c = 0; c < n; c++) {
    let p = c;
    while (p < n && a[p]![c] === 0) p++;
    if (p === n) return null;
    if (p !== c) {
      [a[p], a[c]] = [a[c]!, a[p]!];
      [inv[p], inv[c]] = [inv[c]!, inv[p]!];
    }
    const s = gfInv(a[c]![c]!);
    for (let k = 0; k < n; k++) {
      a[c]![k] = gfMul(a[c]![k]!, s);
      inv[c]![k] = gfMul(inv[c]![k]!, s);
    }
    for (let r = 0; r < n; r++) {
      const f = a[r]![c]!;
      if (r === c || f === 0) continue;
      for (let k = 0; k < n; k++) {
        a[r]![k]! ^= gfMul(f, a[c]![k]!);
        inv[r]![k]! ^= gfMul(f, inv[c]![k]!);
      }
    }
  }
  return inv;
}

/** out[0..n) ^= c·in[0..n) (or = when `assign`), with one 256-byte row of the multiplication table. */
function mulAdd(c: number, input: Uint8Array, out: Uint8Array, n: number, assign: boolean): void {
  const base = c << 8;
  if (assign) {
    if (c === 1) out.set(input.subarray(0, n));
    else for (let k = 0; k < n; k++) out[k] = MUL[base | input[k]!]!;
  } else if (c === 1) {
    for (let k = 0; k < n; k++) out[k]! ^= input[k]!;
  } else if (c !== 0) {
    for (let k = 0; k < n; k++) out[k]! ^= MUL[base | input[k]!]!;
  }
}

export class ReedSolomon {
  /** The total×data encoding matrix; rows data.. are the parity coefficients. */
  readonly matrix: Matrix;
  private readonly inverses = new Map<string, Matrix>();
  /** The SIMD kernel, or null to use the TypeScript loops. */
  readonly kernel: SimdKernel | null;

  /** @param useSimd Set false to force the TypeScript loops (tests, benchmarks). */
  constructor(
    readonly dataShards: number,
    readonly parityShards: number,
    useSimd = true
  ) {
    if (!Number.isInteger(dataShards) || dataShards < 1 || dataShards > 255) {
      throw new RangeError(`fec: dataShards must be 1..255, got ${dataShards}`);
    }
    if (!Number.isInteger(parityShards) || parityShards < 1 || parityShards > 255) {
      throw new RangeError(`fec: parityShards must be 1..255, got ${parityShards}`);
    }
    if (dataShards + parityShards > 256) {
      throw new RangeError(`fec: dataShards + parityShards must be ≤ 256, got ${dataShards + parityShards}`);
    }
    const total = dataShards + parityShards;
    const v: Matrix = Array.from({ length: total }, (_, r) => Uint8Array.from({ length: dataShards }, (_, c) => gfPow(r, c)));
    this.matrix = multiply(v, invert(v.slice(0, dataShards))!);
    this.kernel = useSimd ? simdKernel() : null;
  }

  /** Parity coefficient row j (0-based). */
  parityRow(j: number): Uint8Array {
    return this.matrix[this.dataShards + j]!;
  }

  /** Fills `parity[j][0..len)` from `data[c][0..len)`; every shard at least `len` long. */
  encode(data: Uint8Array[], parity: Uint8Array[], len: number): void {
    const k = this.kernel;
    if (k !== null && len <= 1504) {
      const ds = this.dataShards;
      for (let c = 0; c < ds; c++) k.heap.set(data[c]!.subarray(0, len), k.slot(c));
      for (let j = 0; j < this.parityShards; j++) {
        const row = this.parityRow(j);
        const out = ds + j;
        k.mulSet(row[0]!, 0, out, len);
        for (let c = 1; c < ds; c++) k.mulAdd(row[c]!, c, out, len);
        parity[j]!.set(k.heap.subarray(k.slot(out), k.slot(out) + len));
      }
      return;
    }
    for (let j = 0; j < this.parityShards; j++) {
      const row = this.parityRow(j);
      const out = parity[j]!;
      for (let c = 0; c < this.dataShards; c++) mulAdd(row[c]!, data[c]!, out, len, c === 0);
    }
  }

  /**
   * Rebuilds missing data shards in place. `shards` has dataShards+parityShards entries, null where
   * missing; present ones hold at least `len` bytes; rebuilt ones are new arrays of `len` bytes.
   * Returns the indices rebuilt, or null if fewer than dataShards are present.
   */
  reconstructData(shards: (Uint8Array | null)[], len: number): number[] | null {
    const ds = this.dataShards;
    const missing: number[] = [];
    for (let i = 0; i < ds; i++) if (shards[i] === null || shards[i] === undefined) missing.push(i);
    if (missing.length === 0) return [];
    const rows: number[] = [];
    for (let i = 0; i < shards.length && rows.length < ds; i++) if (shards[i]) rows.push(i);
    if (rows.length < ds) return null;
    const key = rows.join(',');
    let inv = this.inverses.get(key);
    if (inv === undefined) {
      inv = invert(rows.map((r) => this.matrix[r]!))!; // any ds rows of this matrix are independent
      if (this.inverses.size > 1024) this.inverses.clear();
      this.inverses.set(key, inv);
    }
    const kern = this.kernel;
    if (kern !== null && len <= 1504) {
      // present rows into slots 0..ds-1, each rebuilt shard computed into slot ds
      for (let r = 0; r < ds; r++) kern.heap.set(shards[rows[r]!]!.subarray(0, len), kern.slot(r));
      for (const i of missing) {
        const coef = inv[i]!;
        kern.mulSet(coef[0]!, 0, ds, len);
        for (let r = 1; r < ds; r++) kern.mulAdd(coef[r]!, r, ds, len);
        shards[i] = kern.heap.slice(kern.slot(ds), kern.slot(ds) + len);
      }
      return missing;
    }
    for (const i of missing) {
      const out = new Uint8Array(len);
      const coef = inv[i]!;
      for (let k = 0; k < ds; k++) mulAdd(coef[k]!, shards[rows[k]!]!, out, len, false);
      shards[i] = out;
    }
    return missing;
  }
}
