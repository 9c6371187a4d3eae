// Records each workspace's Jest totals so `npm test` can print one closing line
// ("N passed, N failed") for the whole monorepo after turbo has run every package.
const fs = require('node:fs');
const path = require('node:path');

class JestSummaryReporter {
  onRunComplete(_contexts, results) {
    const dir = path.join(__dirname, '..', '.test-results');
    fs.mkdirSync(dir, { recursive: true });
    const name = path.basename(process.cwd());
    const summary = {
      workspace: path.relative(path.join(__dirname, '..'), process.cwd()),
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(summary));
  }
}

module.exports = JestSummaryReporter;
