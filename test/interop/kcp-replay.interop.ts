/**
 * The kcp-go congestion control sends what kcp-go sends, against the real kcp-go 5.6.1 live: each scenario's
 * script drives rxkcp's `Kcp` and kcp-go's own `KCP` (kcpreplay, built from Debian's kcp-go
 * sources with a virtual clock; see kcp-replay-go.ts), and their observation lines (each datagram
 * with its time, every return value, every message read) must be equal, line by line. Runs the
 * committed scripts (and checks their recorded digests are what kcp-go gives today) and the same
 * scenarios from fresh seeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  REPLAY_SCENARIOS,
  extraReplayScenarios,
  generateReplayScript,
  replayDigest,
  replayFileName,
  replayRxkcp,
  scriptFromJsonl,
  scriptToJsonl,
  type ReplayScenario,
} from '../helpers/kcp-replay.js';
import { haveGoPeer } from './go-peer.js';
import { KCP_GO_BUILDS, runKcpReplay, type KcpGoBuild } from './kcp-replay-go.js';

const dir = join(import.meta.dirname, '..', 'vectors', 'kcp-replay');
const recorded = JSON.parse(readFileSync(join(dir, 'digests.json'), 'utf8')) as Record<string, { sha256: Record<string, string> }>;

/** Where two observation lists first differ, with a few lines of context, or null if equal. */
function firstDifference(ours: readonly string[], theirs: readonly string[]): string | null {
  let i = 0;
  while (i < ours.length && i < theirs.length && ours[i] === theirs[i]) i++;
  if (i === ours.length && i === theirs.length) return null;
  const cut = (l: string | undefined) => (l === undefined ? '(nothing)' : l.length > 160 ? `${l.slice(0, 160)}…` : l);
  const context = ours.slice(Math.max(0, i - 3), i).map((l) => `    ${cut(l)}`);
  return [`line ${i + 1} of ${ours.length} (rxkcp) / ${theirs.length} (kcp-go):`, ...context, `  rxkcp:  ${cut(ours[i])}`, `  kcp-go: ${cut(theirs[i])}`].join('\n');
}

/** The kcp-go builds a scenario must match (see kcp-replay.test.ts). */
const buildsFor = (sc: ReplayScenario): KcpGoBuild[] => (sc.family === 'plain' ? [...KCP_GO_BUILDS] : ['5.6.1+later']);

describe.skipIf(!haveGoPeer())('cc kcp-go sends what the real kcp-go 5.6.1 sends (kcpreplay, line by line)', () => {
  for (const sc of REPLAY_SCENARIOS) {
    const file = replayFileName(sc);
    it(`committed ${file} (${sc.family}): ${sc.name}`, async () => {
      const jsonl = gunzipSync(readFileSync(join(dir, file))).toString();
      const ours = replayRxkcp(scriptFromJsonl(jsonl));
      for (const build of KCP_GO_BUILDS) {
        const theirs = await runKcpReplay(build, jsonl);
        expect(replayDigest(theirs), `recorded digest of ${build} (npm run vectors:kcp-replay)`).toBe(recorded[file]!.sha256[build]);
        if (buildsFor(sc).includes(build)) expect(firstDifference(ours, theirs), `kcp-go ${build}`).toBeNull();
      }
    });
  }

  for (const sc of extraReplayScenarios([101, 102, 103])) {
    it(`fresh seed ${sc.seed} (${sc.family}): ${sc.name}`, async () => {
      const script = generateReplayScript(sc);
      const ours = replayRxkcp(script);
      for (const build of buildsFor(sc)) {
        expect(firstDifference(ours, await runKcpReplay(build, scriptToJsonl(script))), `seed ${sc.seed}, kcp-go ${build}`).toBeNull();
      }
    });
  }
});
