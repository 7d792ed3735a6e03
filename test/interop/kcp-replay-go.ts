/**
 * Builds and runs kcpreplay (`test/interop/kcpreplay/main.go`): kcp-go's own `KCP` state machine
 * driven by a replay script under a virtual clock (see test/helpers/kcp-replay.ts).
 *
 * The build copies Debian's kcp-go 5.6.1 `kcp.go` and `snmp.go` into a temporary GOPATH package
 * beside main.go, moves them into package main and removes kcp.go's `currentMs` and its
 * `refTime` (main.go defines a `currentMs` that reads the virtual clock), then runs `go build` in
 * GOPATH mode. Nothing of kcp-go is kept in this repository.
 *
 * Two builds: `5.6.1` is that copy and nothing else. `5.6.1+later` also applies, as small edits
 * to the copy, the rules rxkcp's core takes from later kcp-go (each listed in `LATER_RULES` with
 * what it changes; docs/protocol.md#flush describes them): with them rxkcp must send exactly what
 * kcp-go sends in every scenario, without them in the scenarios that cannot reach them.
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOPATH } from './go-peer.js';

const here = dirname(fileURLToPath(import.meta.url));
const KCP_GO = join(GOPATH, 'src/github.com/xtaci/kcp-go');

/** The kcp-go builds a replay can run on. */
export type KcpGoBuild = '5.6.1' | '5.6.1+later';
export const KCP_GO_BUILDS: readonly KcpGoBuild[] = ['5.6.1', '5.6.1+later'];

interface Edit {
  /** Must match kcp-go 5.6.1's source exactly once. */
  from: RegExp;
  to: string;
}

/** A rule of later kcp-go (as of its 2025 kcp.go) that rxkcp's core follows, as edits to 5.6.1. */
interface LaterRule {
  name: string;
  edits: Edit[];
}

export const LATER_RULES: readonly LaterRule[] = [
  {
    name: 'the first zero-window probe goes out after 500 ms, not 7 s',
    edits: [{ from: /IKCP_PROBE_INIT\s*=\s*7000/, to: 'IKCP_PROBE_INIT = 500' }],
  },
  {
    name: 'a fast or early retransmission locks the segment out of fast-ack votes until it times out (5.6.1 resets the count to 0)',
    edits: [
      {
        from: /\} else if segment\.fastack >= resent \{ \/\/ fast retransmit\s*needsend = true\s*segment\.fastack = 0\n/,
        to: '} else if segment.fastack >= resent && segment.fastack != 0xFFFFFFFF {\n\t\t\tneedsend = true\n\t\t\tsegment.fastack = 0xFFFFFFFF\n',
      },
      {
        from: /\} else if segment\.fastack > 0 && newSegsCount == 0 \{ \/\/ early retransmit\s*needsend = true\s*segment\.fastack = 0\n/,
        to: '} else if segment.fastack > 0 && segment.fastack != 0xFFFFFFFF && newSegsCount == 0 {\n\t\t\tneedsend = true\n\t\t\tsegment.fastack = 0xFFFFFFFF\n',
      },
      {
        from: /\} else if sn != seg\.sn && _itimediff\(seg\.ts, ts\) <= 0 \{\s*seg\.fastack\+\+\s*\}/,
        to: '} else if sn != seg.sn && _itimediff(seg.ts, ts) <= 0 {\n\t\t\tif seg.fastack != 0xFFFFFFFF {\n\t\t\t\tseg.fastack++\n\t\t\t\tif seg.fastack >= uint32(kcp.fastresend) {\n\t\t\t\t\treplayFastAckDue = true\n\t\t\t\t}\n\t\t\t}\n\t\t}',
      },
    ],
  },
  {
    name: 'an input flushes at once when a segment reached the fast-resend count (5.6.1 waits for the next flush)',
    edits: [
      { from: /var windowSlides bool\n/, to: 'var windowSlides bool\n\treplayFastAckDue = false\n' },
      { from: /if windowSlides \{/, to: 'if windowSlides || replayFastAckDue {' },
    ],
  },
  {
    name: 'an input after which a datagram of ACKs is pending sends them at once (ACK clocking)',
    edits: [
      {
        from: /\} else if ackNoDelay && len\(kcp\.acklist\) > 0 \{/,
        to: '} else if len(kcp.acklist) >= int(kcp.mtu/IKCP_OVERHEAD) {\n\t\tkcp.flush(true)\n\t} else if ackNoDelay && len(kcp.acklist) > 0 {',
      },
    ],
  },
  {
    name: 'an ACK-only flush also sends due window probes and moves queued segments into the window; it skips only the transmissions (5.6.1 stops after the ACKs)',
    edits: [
      { from: /if ackOnly \{ \/\/ flash remain ack segments\s*flushBuffer\(\)\s*return kcp\.interval\s*\}\n/, to: '' },
      { from: /ref := kcp\.snd_buf\[:len\(kcp\.snd_buf\)\][^\n]*\n/, to: 'ref := kcp.snd_buf[:len(kcp.snd_buf)]\n\tif ackOnly {\n\t\tref = nil\n\t}\n' },
    ],
  },
];

/** Applies `edits` to `source`, each exactly once; throws naming an edit that does not fit. */
function applyEdits(source: string, edits: readonly Edit[], what: string): string {
  let out = source;
  for (const e of edits) {
    const global = new RegExp(e.from.source, 'g');
    const n = out.match(global)?.length ?? 0;
    if (n !== 1) throw new Error(`kcpreplay build: ${what}: ${e.from} matches ${n} times in kcp-go's kcp.go (expected once)`);
    out = out.replace(e.from, e.to);
  }
  return out;
}

/** The copied kcp.go, in package main, reading main.go's clock; with the later rules for `+later`. */
export function kcpGoSource(build: KcpGoBuild): string {
  let src = readFileSync(join(KCP_GO, 'kcp.go'), 'utf8');
  src = applyEdits(
    src,
    [
      { from: /^package kcp\n/m, to: 'package main\n' },
      { from: /\nvar refTime time\.Time = time\.Now\(\)\n/, to: '\n' },
      { from: /\nfunc currentMs\(\) uint32 \{[^\n]*\}\n/, to: '\n' },
      // `time` was used only by the clock
      { from: /\n\t"time"\n/, to: '\n' },
    ],
    'virtual clock'
  );
  if (build === '5.6.1+later') for (const rule of LATER_RULES) src = applyEdits(src, rule.edits, rule.name);
  return src;
}

function goEnv(gopath: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${GOPATH}`, GOFLAGS: '' };
  if (!env.GOCACHE && !env.HOME && !env.XDG_CACHE_HOME) env.GOCACHE = join(tmpdir(), 'rxkcp-go-build');
  return env;
}

const built = new Map<KcpGoBuild, string>();

/** Builds kcpreplay for `build` (once per process) and returns the binary's path. */
export function buildKcpReplay(build: KcpGoBuild): string {
  const have = built.get(build);
  if (have !== undefined && existsSync(have)) return have;
  const gopath = mkdtempSync(join(tmpdir(), 'rxkcp-kcpreplay-'));
  const pkg = join(gopath, 'src', 'kcpreplay');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(here, 'kcpreplay', 'main.go'), join(pkg, 'main.go'));
  writeFileSync(join(pkg, 'kcp.go'), kcpGoSource(build));
  writeFileSync(join(pkg, 'snmp.go'), applyEdits(readFileSync(join(KCP_GO, 'snmp.go'), 'utf8'), [{ from: /^package kcp\n/m, to: 'package main\n' }], 'snmp.go'));
  const bin = join(gopath, 'kcpreplay');
  const r = spawnSync('go', ['build', '-o', bin, '.'], { cwd: pkg, env: goEnv(gopath), encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`go build kcpreplay (${build}) failed (${r.status}): ${r.stderr}${r.stdout}`);
  built.set(build, bin);
  return bin;
}

/** Runs a script (JSON lines) through kcpreplay and resolves with its observation lines. */
export function runKcpReplay(build: KcpGoBuild, scriptJsonl: string): Promise<string[]> {
  const bin = buildKcpReplay(build);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`kcpreplay (${build}) exited ${code}: ${err}`));
      const text = Buffer.concat(out).toString();
      resolve(text.length === 0 ? [] : text.replace(/\n$/, '').split('\n'));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(scriptJsonl);
  });
}
