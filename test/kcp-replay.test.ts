/**
 * The kcp-go congestion control sends what kcp-go sends, checked against output recorded from the real kcp-go
 * 5.6.1: each committed script (test/vectors/kcp-replay, from the seeded scenarios in
 * test/helpers/kcp-replay.ts) drives rxkcp's `Kcp`, and the SHA-256 of everything it does (each
 * datagram with its time, what each call returns, each message read) must equal the digest of
 * kcp-go's own `KCP` driven by the same script under a virtual clock
 * (test/interop/kcpreplay, recorded by `npm run vectors:kcp-replay`). The interop suite runs the
 * same comparison live, line by line (test/interop/kcp-replay.interop.ts).
 *
 * `5.6.1+later` is kcp-go 5.6.1 with the rules rxkcp takes from later kcp-go applied
 * (`LATER_RULES` in test/interop/kcp-replay-go.ts); every scenario must match it. Scenarios of
 * the `plain` family cannot reach those rules and must match the unmodified 5.6.1 as well.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { REPLAY_SCENARIOS, replayDigest, replayFileName, replayRxkcp, scriptFromJsonl, type ReplayScript } from './helpers/kcp-replay.js';

const dir = join(import.meta.dirname, 'vectors', 'kcp-replay');
const recorded = JSON.parse(readFileSync(join(dir, 'digests.json'), 'utf8')) as Record<
  string,
  { name: string; family: 'plain' | 'later'; lines: Record<string, number>; sha256: Record<string, string> }
>;
const script = (file: string): ReplayScript => scriptFromJsonl(gunzipSync(readFileSync(join(dir, file))).toString());
const HINT = 'npm run test:interop -- kcp-replay shows the first line that differs';

describe('cc kcp-go sends what kcp-go 5.6.1 sends (digests recorded from the real kcp-go)', () => {
  it('every scenario has a recorded script and digests', () => {
    expect(Object.keys(recorded).sort()).toEqual(REPLAY_SCENARIOS.map(replayFileName).sort());
  });

  for (const sc of REPLAY_SCENARIOS) {
    const file = replayFileName(sc);
    it(`${file} (${sc.family}): ${sc.name}`, () => {
      const r = recorded[file]!;
      const lines = replayRxkcp(script(file));
      const digest = replayDigest(lines);
      expect({ lines: lines.length, digest }, HINT).toEqual({ lines: r.lines['5.6.1+later'], digest: r.sha256['5.6.1+later'] });
      if (sc.family === 'plain') expect(digest, `unmodified kcp-go 5.6.1; ${HINT}`).toBe(r.sha256['5.6.1']);
    });
  }

  it('the later rules change what kcp-go sends in every scenario of the later family (the comparison can tell them apart)', () => {
    for (const sc of REPLAY_SCENARIOS.filter((s) => s.family === 'later')) {
      const r = recorded[replayFileName(sc)]!;
      expect(r.sha256['5.6.1'], replayFileName(sc)).not.toBe(r.sha256['5.6.1+later']);
    }
  });

  it('a core with one option changed does not match (the check can fail)', () => {
    const file = replayFileName(REPLAY_SCENARIOS[0]!);
    const s = script(file);
    expect(replayDigest(replayRxkcp({ ...s, config: { ...s.config, interval: s.config.interval + 10 } }))).not.toBe(recorded[file]!.sha256['5.6.1+later']);
  });
});
