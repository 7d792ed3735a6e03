/**
 * Records the replay vectors of "kcp-go timing sends what kcp-go sends" (test/kcp-replay.test.ts):
 * generates the script of each scenario in test/helpers/kcp-replay.ts into
 * test/vectors/kcp-replay/ (gzipped JSON lines; `zcat` shows them), runs it through the real kcp-go (kcpreplay, built from Debian's kcp-go
 * 5.6.1 sources, see test/interop/kcp-replay-go.ts) in both builds, and writes the SHA-256 of
 * kcp-go's observation lines to digests.json. Needs Go and golang-github-xtaci-kcp-dev.
 *
 *   npm run vectors:kcp-replay
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPLAY_SCENARIOS, generateReplayScript, replayDigest, replayFileName, scriptToJsonl } from '../test/helpers/kcp-replay.js';
import { KCP_GO_BUILDS, runKcpReplay } from '../test/interop/kcp-replay-go.js';

const dir = join(import.meta.dirname, '..', 'test', 'vectors', 'kcp-replay');
mkdirSync(dir, { recursive: true });
const digests: Record<string, { name: string; family: string; lines: Record<string, number>; sha256: Record<string, string> }> = {};
for (const sc of REPLAY_SCENARIOS) {
  const file = replayFileName(sc);
  const jsonl = scriptToJsonl(generateReplayScript(sc));
  writeFileSync(join(dir, file), gzipSync(jsonl, { level: 9 }));
  const entry = { name: sc.name, family: sc.family, lines: {} as Record<string, number>, sha256: {} as Record<string, string> };
  for (const build of KCP_GO_BUILDS) {
    const lines = await runKcpReplay(build, jsonl);
    entry.lines[build] = lines.length;
    entry.sha256[build] = replayDigest(lines);
  }
  digests[file] = entry;
  console.log(`${file}: ${sc.family}, ${entry.lines['5.6.1+later']} lines, ${sc.name}`);
}
writeFileSync(join(dir, 'digests.json'), JSON.stringify(digests, null, 1) + '\n');
