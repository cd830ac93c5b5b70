#!/usr/bin/env node
/**
 * Packs the npm dependencies (tdesign-miniprogram) into miniprogram_npm/ with
 * miniprogram-ci's packNpmManually — what WeChat DevTools' "构建 npm" does, offline.
 *
 * packNpmManually needs no upload key; ci.Project (not used here) would insist on a
 * privateKeyPath, so nothing here touches a key.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const ci = require('miniprogram-ci');

const root = path.resolve(__dirname, '..');

async function main() {
  const dist = path.join(root, 'miniprogram_npm');
  fs.rmSync(dist, { recursive: true, force: true });
  const started = Date.now();
  const result = await ci.packNpmManually({
    packageJsonPath: path.join(root, 'package.json'),
    miniprogramNpmDistDir: root,
    ignores: [],
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`miniprogram_npm packed in ${seconds} s:`, JSON.stringify(result));
}

main().catch((error) => {
  console.error('pack-npm failed:', error);
  process.exit(1);
});
