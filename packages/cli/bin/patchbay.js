#!/usr/bin/env node
'use strict';
// In the repo after `npm ci` nothing is built yet: build the CLI (and what it needs) once,
// quietly, so `npx patchbay` works straight away. An installed package ships dist/.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  const { spawnSync } = require('node:child_process');
  const root = join(__dirname, '..', '..', '..');
  process.stderr.write('patchbay: building the CLI (first run only)…\n');
  const build = spawnSync('npx', ['turbo', 'run', 'build', '--filter=@patchbay/cli', '--output-logs=errors-only'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (build.status !== 0 || !existsSync(main)) {
    process.stderr.write('patchbay: the build failed; run `npm run build` in the repository and try again\n');
    process.exit(1);
  }
}
require(main)
  .run(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
