module.exports = {
  ...require('../../jest.preset.js'),
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  // Starts a registry and a proxy as processes: slower than a unit test under load.
  testTimeout: 60000,
};
