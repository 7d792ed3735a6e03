// Prints vitest JSON reports as one plain closing line: "tests: N passed, N failed".
import { readFileSync, existsSync } from 'node:fs';
let passed = 0, failed = 0, skipped = 0;
for (const f of process.argv.slice(2)) {
  if (!existsSync(f)) { console.error(`summary: missing report ${f}`); failed++; continue; }
  const r = JSON.parse(readFileSync(f, 'utf8'));
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(failed || passed === 0 ? 1 : 0);
