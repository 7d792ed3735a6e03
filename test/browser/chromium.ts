/**
 * Bundles test/browser/page-entry.ts for the browser (esbuild, ESM, rxjs and @noble inside) and runs
 * it in headless Chromium from a file:// page, reading the outcome back from the dumped DOM.
 * The build fails when anything in the bundle would need Node: a `node:*` or bare Node builtin
 * import, or a module from the Node-only parts of the package (src/node/, operators/io/).
 *
 * Run by hand: `npx tsx test/browser/chromium.ts` prints the page's result.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import type { PageResult } from './page-entry.js';

const root = join(import.meta.dirname, '..', '..');
const entry = join(import.meta.dirname, 'page-entry.ts');

const NODE_BUILTIN =
  /^(node:.*|assert|buffer|child_process|cluster|crypto|dgram|dns|events|fs|http|https|net|os|path|perf_hooks|process|readline|stream|string_decoder|timers|tls|tty|url|util|v8|vm|worker_threads|zlib)(\/.*)?$/;

/** Turns every import of a Node builtin into a build error naming the importer. */
const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: NODE_BUILTIN }, (args) => ({
      errors: [{ text: `${args.path} imported by ${relative(root, args.importer)}: the portable build must not use Node builtins` }],
    }));
  },
};

/** The browser bundle of `entryPoint` (default: the page entry), as ESM source. Throws when the build fails. */
export async function bundlePage(entryPoint = entry): Promise<{ code: string; inputs: string[] }> {
  const result = await build({
    entryPoints: [entryPoint],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
  const inputs = Object.keys(result.metafile.inputs);
  const nodeOnly = inputs.filter((p) => /(^|\/)(src\/node|operators\/io)\//.test(p));
  if (nodeOnly.length > 0) throw new Error(`the browser bundle pulls in Node-only modules: ${nodeOnly.join(', ')}`);
  const code = result.outputFiles[0]!.text;
  if (/<\/script/i.test(code)) throw new Error('the bundle contains "</script" and cannot be inlined into the page');
  return { code, inputs };
}

/** The Chromium to use: $RXKCP_CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH; null if none. */
export function findChromium(): string | null {
  const fromEnv = process.env.RXKCP_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
      const p = join(dir, name);
      if (dir !== '' && existsSync(p)) return p;
    }
  }
  return null;
}

/** `chromium --version`, e.g. "Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)". */
export function chromiumVersion(chromium: string): string {
  return spawnSync(chromium, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout.trim();
}

const HTML_ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** The JSON the page wrote, from Chromium's DOM dump. */
export function resultFromDom(dom: string): PageResult {
  const m = /<script type="application\/json" id="rxkcp-result">([\s\S]*?)<\/script>/.exec(dom);
  if (m === null) throw new Error(`the page wrote no result; DOM dump (first 2000 chars):\n${dom.slice(0, 2000)}`);
  // script text is serialized verbatim; undo entities anyway in case a browser escapes them
  return JSON.parse(m[1]!.replace(/&(amp|lt|gt|quot|#39);/g, (e) => HTML_ENTITIES[e]!)) as PageResult;
}

/**
 * Builds the page into a temporary directory, loads it from file:// in headless Chromium with
 * --dump-dom, and returns what the page reported (plus Chromium's stderr on failure).
 */
export async function runInChromium(chromium: string, timeoutMs = 60_000): Promise<PageResult> {
  const { code } = await bundlePage();
  const dir = mkdtempSync(join(tmpdir(), 'rxkcp-browser-'));
  try {
    const page = join(dir, 'page.html');
    writeFileSync(page, `<!doctype html>\n<html><head><meta charset="utf-8"><title>rxkcp in the browser</title></head>\n<body>\n<script type="module">\n${code}\n</script>\n</body></html>\n`);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--metrics-recording-only',
      `--user-data-dir=${join(dir, 'profile')}`,
      '--dump-dom',
      pathToFileURL(page).href,
    ];
    const { stdout, stderr, status } = await new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve, reject) => {
      const child = spawn(chromium, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`chromium did not finish within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`));
      }, timeoutMs);
      child.on('error', (e) => (clearTimeout(timer), reject(e)));
      child.on('close', (c) => (clearTimeout(timer), resolve({ stdout: out, stderr: err, status: c })));
    });
    try {
      return resultFromDom(stdout);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nchromium exit status ${status}; stderr (last 3000 chars):\n${stderr.slice(-3000)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const chromium = findChromium();
  if (chromium === null) {
    console.error('no chromium found (set RXKCP_CHROMIUM or put chromium on PATH)');
    process.exit(2);
  }
  console.log(chromiumVersion(chromium));
  console.log(JSON.stringify(await runInChromium(chromium), null, 2));
}
