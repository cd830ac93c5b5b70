/** The package check (scripts/check-package.js) on this project, and on broken copies of one. */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { checkPackage, LIMIT_BYTES } = require('../scripts/check-package');

test('this mini-program passes: every page complete, main package under 2 MB, no http:// outside the dev config', () => {
  const result = checkPackage();
  expect(result.errors).toEqual([]);
  expect(result.mainPackageBytes).toBeLessThan(LIMIT_BYTES);
  expect(result.components).toBeGreaterThan(5);
  expect(result.npmBytes).toBeGreaterThan(50 * 1024); // the used tdesign components are counted
});

function project(files) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-pkg-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
  fs.mkdirSync(path.join(root, 'miniprogram_npm', 'tdesign-miniprogram'), { recursive: true });
  return root;
}

const page = (p) => ({ [`${p}.ts`]: '', [`${p}.js`]: '', [`${p}.json`]: '{}', [`${p}.wxml`]: '<view/>', [`${p}.wxss`]: '' });

test('a page without its .wxss, an http:// address in a page and an oversized package are caught', () => {
  const root = project({
    'app.json': JSON.stringify({ pages: ['pages/a/index', 'pages/b/index'] }),
    ...page('pages/a/index'),
    ...page('pages/b/index'),
    'pages/b/index.ts': "const api = 'http://10.0.0.1:8000';",
    'config/dev.ts': "export const DEV_API_BASE = 'http://127.0.0.1:8000';",
    'assets/big.bin': Buffer.alloc(LIMIT_BYTES),
  });
  fs.rmSync(path.join(root, 'pages/a/index.wxss'));
  const { errors } = checkPackage(root);
  expect(errors).toEqual(expect.arrayContaining([
    'pages/a/index: missing pages/a/index.wxss',
    'pages/b/index.ts: an http:// address outside the dev config (config/dev.ts)',
    expect.stringMatching(/over WeChat's 2 MB limit/),
  ]));
  expect(errors.join('\n')).not.toContain('config/dev.ts:');
  fs.rmSync(root, { recursive: true, force: true });
});

test('sub-packages: their pages are checked, their files count for them and not for the main package', () => {
  const root = project({
    'app.json': JSON.stringify({ pages: ['pages/a/index'], subPackages: [{ root: 'pay', pages: ['pages/p/index', 'pages/q/index'] }] }),
    ...page('pages/a/index'),
    ...page('pay/pages/p/index'),
    'pay/pages/q/index.ts': '',
    'pay/big.bin': Buffer.alloc(LIMIT_BYTES - 200 * 1024),
  });
  const result = checkPackage(root);
  expect(result.errors).toEqual([
    'pay/pages/q/index: missing pay/pages/q/index.wxml',
    'pay/pages/q/index: missing pay/pages/q/index.json',
    'pay/pages/q/index: missing pay/pages/q/index.wxss',
    'pay/pages/q/index: missing pay/pages/q/index.js (run npm run build)',
  ]);
  expect(result.mainPackageBytes).toBeLessThan(10 * 1024);
  expect(result.subPackageBytes.pay).toBeGreaterThan(LIMIT_BYTES - 200 * 1024);
  fs.writeFileSync(path.join(root, 'pay/big.bin'), Buffer.alloc(LIMIT_BYTES));
  expect(checkPackage(root).errors).toContain("sub-package pay is 2048 KB, over WeChat's 2 MB limit");
  fs.rmSync(root, { recursive: true, force: true });
});

test('this mini-program keeps the pay pages in their sub-package', () => {
  const result = checkPackage();
  expect(Object.keys(result.subPackageBytes)).toEqual(expect.arrayContaining(['pay', 'pass']));
  expect(result.subPackageBytes.pay).toBeGreaterThan(5 * 1024);
  expect(result.subPackageBytes.pass).toBeGreaterThan(5 * 1024);
});

test('the staff scanner is a sub-package; the Ed25519 library it requires counts for the main package', () => {
  const result = checkPackage();
  expect(Object.keys(result.subPackageBytes)).toEqual(expect.arrayContaining(['scan']));
  expect(result.subPackageBytes.scan).toBeGreaterThan(20 * 1024);
  const ed = fs.statSync(path.join(__dirname, '..', 'miniprogram_npm', '@noble', 'ed25519', 'index.js')).size;
  expect(result.npmBytes).toBeGreaterThan(ed);
  expect(result.errors).toEqual([]);
});
