import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import vectors from '../vectors/kcp-go-vectors.json' with { type: 'json' };
import { bundlePage, chromiumVersion, findChromium, runInChromium } from './chromium.js';
import { CIPHERS, type PageResult } from './page-entry.js';

// The portable cores and the operators, bundled for the browser and run in headless Chromium.
// Without a Chromium the suite skips and says why; with RXKCP_REQUIRE_BROWSER set (CI) a missing
// Chromium is a failure.
const chromium = findChromium();
const required = Boolean(process.env.RXKCP_REQUIRE_BROWSER);
if (chromium === null && !required) {
  const why = process.env.RXKCP_CHROMIUM ? `RXKCP_CHROMIUM=${process.env.RXKCP_CHROMIUM} does not exist` : 'no chromium on PATH (apt-get install chromium, or set RXKCP_CHROMIUM)';
  console.warn(`test/browser: SKIPPED — ${why}; RXKCP_REQUIRE_BROWSER=1 makes this a failure`);
}

describe('the browser bundle', () => {
  const root = join(import.meta.dirname, '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'rxkcp-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is built from the package entry with rxjs and @noble inside, and nothing of Node', async () => {
    const { code, inputs } = await bundlePage();
    expect(inputs.some((p) => p.includes('node_modules/rxjs/'))).toBe(true);
    expect(inputs.some((p) => p.includes('node_modules/@noble/ciphers/'))).toBe(true);
    expect(inputs).toContain('operators/index.ts');
    expect(code).not.toMatch(/from\s*["'](node:|rxjs|@noble)/); // no imports left for the page to resolve
  });

  it('fails to build when something imports a Node builtin or a Node-only module', async () => {
    const builtin = join(dir, 'builtin.ts');
    writeFileSync(builtin, "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n");
    await expect(bundlePage(builtin)).rejects.toThrow(/node:fs imported by .*Node builtins/);
    const nodeOnly = join(dir, 'node-only.ts');
    writeFileSync(nodeOnly, `import { createNodeCrypt } from ${JSON.stringify(join(root, 'src/node/index.ts'))};\nexport const f = createNodeCrypt;\n`);
    await expect(bundlePage(nodeOnly)).rejects.toThrow(/Node builtins|Node-only/);
  });
});

if (chromium === null && required) {
  it('finds a Chromium to run in (RXKCP_REQUIRE_BROWSER is set)', () => {
    expect.fail('RXKCP_REQUIRE_BROWSER is set but no chromium was found (PATH, RXKCP_CHROMIUM): the browser suite cannot be skipped here');
  });
}

describe.skipIf(chromium === null)('in headless Chromium', () => {
  let result: PageResult;

  beforeAll(async () => {
    if (chromium === null) return;
    console.log(`test/browser: ${chromiumVersion(chromium)}`);
    result = await runInChromium(chromium);
  }, 90_000);

  it('ran the page to the end in a browser, with both WebAssembly SIMD kernels loaded', () => {
    expect(result.error).toBeNull();
    expect(result.userAgent).toMatch(/HeadlessChrome\//);
    expect(result.kernels).toEqual({ salsa20: true, reedSolomon: true });
  });

  it("createCrypt's ciphers (and the TypeScript Salsa20 path) encrypt and decrypt kcp-go's vectors byte-exact", () => {
    const cases: Record<string, number> = {};
    for (const e of vectors.crypt) {
      if (!(CIPHERS as readonly string[]).includes(e.crypt)) continue;
      cases[e.crypt] = (cases[e.crypt] ?? 0) + e.cases.length;
      if (e.crypt === 'salsa20') cases['salsa20 (TypeScript fallback)'] = e.cases.length;
    }
    expect(result.ciphers.failures).toEqual([]);
    expect(result.ciphers.cases).toEqual(cases);
    expect(result.ciphers.checks).toBe(4 * Object.values(cases).reduce((a, b) => a + b, 0));
  });

  it('AEAD (@noble/ciphers) seals and opens the worked frames and rejects every tamper', () => {
    expect(result.aead.failures).toEqual([]);
    expect(result.aead.frames).toEqual(['chacha20-poly1305', 'aes-128-gcm']);
  });

  it("decrypts kcp-go's captured sessions and every CRC checks", () => {
    const packets = vectors.captured_sessions.filter((s) => (CIPHERS as readonly string[]).includes(s.crypt)).reduce((n, s) => n + s.packets.length, 0);
    expect(packets).toBeGreaterThan(0);
    expect(result.captured.failures).toEqual([]);
    expect(result.captured.packets).toBe(packets);
  });

  it("Reed-Solomon (kernel and TypeScript) matches kcp-go's FEC packets and shards and recovers lost shards", () => {
    const recoverable = vectors.fec.by_ds_ps.reduce((n, v) => n + v.reconstruct.filter((r) => r.recoverable).length, 0);
    expect(result.fec.failures).toEqual([]);
    expect(result.fec.groups).toBe(vectors.fec.by_ds_ps.length);
    expect(result.fec.reconstructions).toBe(2 * recoverable);
  });

  it('two Conversations over a lossy virtual network deliver 200 messages byte-exact in TestScheduler time', () => {
    expect(result.conversation.failures).toEqual([]);
    expect(result.conversation.messages).toBe(200);
    expect(result.conversation.retransmitted).toBeGreaterThan(0);
    expect(result.conversation.fecRecovered).toBeGreaterThan(0);
  });
});
