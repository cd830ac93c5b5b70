/** jest: page tests (miniprogram-simulate, jsdom) and flows against a real server (tests/support). */
module.exports = {
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  globalSetup: '<rootDir>/tests/support/global-setup.js',
  globalTeardown: '<rootDir>/tests/support/global-teardown.js',
  setupFiles: ['<rootDir>/tests/support/install-wx.js'],
  // tdesign-miniprogram ships ES modules (WeChat DevTools compiles them): jest needs CommonJS.
  transform: {
    'miniprogram_npm/.+\\.js$': ['babel-jest', { babelrc: false, configFile: false, plugins: ['@babel/plugin-transform-modules-commonjs'] }],
  },
  transformIgnorePatterns: ['/node_modules/'],
  // WeChat resolves a package's own dependencies from its nested miniprogram_npm.
  moduleNameMapper: {
    '^tslib$': '<rootDir>/miniprogram_npm/tdesign-miniprogram/miniprogram_npm/tslib/index.js',
    // the scanner verifies with the packed copy the phone gets, not node_modules'
    '^@noble/ed25519$': '<rootDir>/miniprogram_npm/@noble/ed25519/index.js',
  },
  testTimeout: 30000,
  maxWorkers: 2,
};
