/** jest: page tests (miniprogram-simulate, jsdom) and flows against a real server (tests/support). */
module.exports = {
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  globalSetup: '<rootDir>/tests/support/global-setup.js',
  globalTeardown: '<rootDir>/tests/support/global-teardown.js',
  setupFiles: ['<rootDir>/tests/support/install-wx.js'],
  testTimeout: 30000,
  maxWorkers: 2,
};
