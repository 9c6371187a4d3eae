// Shared Jest settings for every workspace. Source of sibling packages is mapped
// directly so unit tests never run against a stale dist/. Type checking is done by
// `tsc --noEmit` in each package's `typecheck` step, so ts-jest only transpiles.
const path = require('node:path');

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.base.json') }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@patchbay/client$': path.join(__dirname, 'packages/client/src/index.ts'),
    '^@patchbay/client/pg$': path.join(__dirname, 'packages/client/src/pg/index.ts'),
    '^@patchbay/core$': path.join(__dirname, 'packages/core/src/index.ts'),
    '^@patchbay/core/redis$': path.join(__dirname, 'packages/core/src/redis/index.ts'),
    '^@patchbay/nest$': path.join(__dirname, 'packages/nest/src/index.ts'),
    '^@patchbay/proto$': path.join(__dirname, 'packages/proto/src/index.ts'),
    '^@patchbay/testkit$': path.join(__dirname, 'packages/testkit/src/index.ts'),
  },
  reporters: ['default', path.join(__dirname, 'scripts/jest-summary-reporter.js')],
  testTimeout: 30000,
};
