#!/usr/bin/env node
// `npm run build`: compiles src, workers and migrations with SWC into dist/.
// Under `npm test` the program is built once (pretest) and the tests' own `npm run build` calls
// do nothing (PAYOUTS_TEST_BUILT, set by scripts/test.js): a build while other test files run the
// program would hand them half-written files.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

if (process.env.PAYOUTS_TEST_BUILT === '1') process.exit(0);
const swc = path.join(__dirname, '..', 'node_modules', '.bin', 'swc');
const run = spawnSync(swc, ['src', 'workers', 'migrations', '-d', 'dist', '-q', '--copy-files'], { stdio: 'inherit' });
process.exit(run.status ?? 1);
