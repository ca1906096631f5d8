#!/usr/bin/env node
// The `payouts` command: runs the build in dist/ (npm run build).
require('../dist/src/app/cli.js').main(process.argv);
