#!/usr/bin/env node
// Runs the test suite (vitest) and ends with one plain line: "N passed, N failed, N skipped".
// Extra arguments go to vitest, e.g. `npm test -- test/ledger.test.ts`.
const { spawnSync } = require('node:child_process');
const { readFileSync, rmSync } = require('node:fs');
const path = require('node:path');

const results = path.join(__dirname, '..', '.vitest-results.json');
rmSync(results, { force: true });
const vitest = require.resolve('vitest/vitest.mjs');
const run = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, PAYOUTS_TEST_BUILT: '1' } },
);

let summary = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0 };
try {
  summary = JSON.parse(readFileSync(results, 'utf8'));
} catch {
  console.error('vitest wrote no results (it failed before running tests)');
}
const failed = summary.numFailedTests + (run.status !== 0 && summary.numFailedTests === 0 ? 1 : 0);
console.log(`${summary.numPassedTests} passed, ${failed} failed, ${summary.numPendingTests + summary.numTodoTests} skipped`);
process.exit(run.status ?? 1);
