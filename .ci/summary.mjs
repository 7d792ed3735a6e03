// Reads vitest JSON reports and prints one closing line: "tests: N passed, N failed, N skipped".
// Fails (exit 1) on a failed test or test file, on no test passed, and on any skipped or todo test
// that .ci/allowed-skips.mjs does not list with a reason: where CI runs, every test must run.
//
//   node .ci/summary.mjs .ci/out/unit.json .ci/out/interop.json ...
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allowedSkips } from './allowed-skips.mjs';

const root = fileURLToPath(new URL("..", import.meta.url));
const SKIPPED = new Set(['skipped', 'pending', 'todo', 'disabled']);
let passed = 0, failed = 0, failedFiles = 0;
const allowed = [];
const unexplained = [];
for (const f of process.argv.slice(2)) {
  if (!existsSync(f)) { console.error(`summary: missing report ${f}`); failed++; continue; }
  const r = JSON.parse(readFileSync(f, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  failedFiles += r.numFailedTestSuites ?? 0;
  for (const file of r.testResults ?? []) {
    const path = relative(root, file.name);
    for (const t of file.assertionResults ?? []) {
      if (!SKIPPED.has(t.status)) continue;
      const name = t.fullName ?? [...(t.ancestorTitles ?? []), t.title].join(' ');
      const entry = allowedSkips.find((a) => a.file === path && a.test.test(name));
      (entry ? allowed : unexplained).push({ report: f, path, name, reason: entry?.reason });
    }
  }
}
for (const s of allowed) console.log(`summary: allowed skip in ${s.path}: ${s.name} (${s.reason})`);
for (const s of unexplained) console.error(`summary: SKIPPED, not on the allow-list (.ci/allowed-skips.mjs): ${s.path}: ${s.name} [${s.report}]`);
const skipped = allowed.length + unexplained.length;
console.log(`tests: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped (${unexplained.length} not allowed)` : '') + (failedFiles ? `, ${failedFiles} test files failed` : ''));
process.exit(failed || failedFiles || unexplained.length || passed === 0 ? 1 : 0);
