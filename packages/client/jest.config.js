module.exports = {
  ...require('../../jest.preset.js'),
  rootDir: __dirname,
  roots: ['<rootDir>/src', '<rootDir>/test'].filter((p) => require('node:fs').existsSync(p.replace('<rootDir>', __dirname))),
};
