#!/usr/bin/env node
/**
 * The package check:
 * - every page in app.json (main package and sub-packages) has its .wxml, .json, .wxss and .ts
 *   (compiled to .js) files;
 * - the main package (what WeChat uploads: our files outside the sub-packages plus the
 *   miniprogram_npm files that the pages really use, as DevTools' "过滤无依赖文件" keeps them)
 *   stays under 2 MB, and each sub-package (its own folder) under 2 MB too;
 * - no http:// address in our code outside config/dev.ts (production is HTTPS).
 * `tsc --noEmit` runs beside it in the Makefile (make mini-test).
 *
 *   node scripts/check-package.js    prints the figures; exit 1 on any problem
 */
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const LIMIT_BYTES = 2 * 1024 * 1024;
const DEV_CONFIG = ['config/dev.ts', 'config/dev.js'];
// What project.config.json's packOptions.ignore leaves out of the upload.
const NOT_UPLOADED_DIRS = new Set(['node_modules', 'tests', 'scripts', 'miniprogram_npm', 'coverage', '.git']);
const NOT_UPLOADED_FILES = new Set(['package.json', 'package-lock.json', 'tsconfig.json', 'jest.config.js', 'README.md', '.gitignore']);

function walk(dir, root, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!(dir === root && NOT_UPLOADED_DIRS.has(entry.name))) walk(full, root, out);
    } else if (!(dir === root && NOT_UPLOADED_FILES.has(entry.name))) {
      out.push(full);
    }
  }
  return out;
}

/** Our own files in the package (the .ts sources stay behind, their .js go up). */
function ownFiles(root, dir = root) {
  return walk(dir, root).filter((f) => !f.endsWith('.ts'));
}

/** The miniprogram_npm files reachable from the components our pages use. */
function npmFiles(root, componentPaths) {
  const seen = new Set();
  const npmRoot = path.join(root, 'miniprogram_npm');
  const add = (file) => {
    if (!fs.existsSync(file) || seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    const dir = path.dirname(file);
    if (file.endsWith('.json')) {
      const using = (JSON.parse(text).usingComponents) || {};
      Object.values(using).forEach((p) => addComponent(path.resolve(dir, p)));
    } else if (file.endsWith('.js') || file.endsWith('.wxs')) {
      for (const m of text.matchAll(/(?:from\s*|require\(\s*|import\s*)["']([^"']+)["']/g)) {
        addModule(dir, m[1]);
      }
    } else if (file.endsWith('.wxml')) {
      for (const m of text.matchAll(/<(?:wxs|import|include)[^>]*\bsrc=["']([^"']+)["']/g)) add(path.resolve(dir, m[1]));
    } else if (file.endsWith('.wxss')) {
      for (const m of text.matchAll(/@import\s+["']([^"']+)["']/g)) add(path.resolve(dir, m[1]));
    }
  };
  const addModule = (dir, spec) => {
    if (spec.startsWith('.')) {
      const base = path.resolve(dir, spec);
      [base, `${base}.js`, path.join(base, 'index.js')].forEach((f) => fs.existsSync(f) && fs.statSync(f).isFile() && add(f));
    } else {
      // a package's own dependency, from the nearest miniprogram_npm above
      for (let d = dir; d.startsWith(npmRoot); d = path.dirname(d)) {
        const candidate = path.join(d, 'miniprogram_npm', spec, 'index.js');
        if (fs.existsSync(candidate)) {
          add(candidate);
          return;
        }
      }
    }
  };
  const addComponent = (base) => ['.js', '.json', '.wxml', '.wxss'].forEach((ext) => add(base + ext));
  componentPaths.forEach(addComponent);
  return [...seen];
}

/** The problems of the package at `root` (this project by default) and its size. */
function checkPackage(root = ROOT) {
  const errors = [];
  const app = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));
  const usedComponents = new Set();
  const collect = (json) => Object.values(json.usingComponents || {}).forEach((p) => {
    if (p.startsWith('tdesign-miniprogram/')) usedComponents.add(path.join(root, 'miniprogram_npm', p));
  });
  collect(app);
  const subPackages = app.subPackages || app.subpackages || [];
  const allPages = app.pages.concat(...subPackages.map((p) => p.pages.map((page) => path.posix.join(p.root, page))));
  for (const page of allPages) {
    for (const ext of ['.wxml', '.json', '.wxss', '.ts', '.js']) {
      if (!fs.existsSync(path.join(root, page + ext))) {
        errors.push(`${page}: missing ${page}${ext}${ext === '.js' ? ' (run npm run build)' : ''}`);
      }
    }
    const json = path.join(root, `${page}.json`);
    if (fs.existsSync(json)) collect(JSON.parse(fs.readFileSync(json, 'utf8')));
  }
  for (const tab of (app.tabBar && app.tabBar.list) || []) {
    if (!app.pages.includes(tab.pagePath)) errors.push(`tabBar page ${tab.pagePath} is not in pages`);
  }
  if (!fs.existsSync(path.join(root, 'miniprogram_npm', 'tdesign-miniprogram'))) {
    errors.push('miniprogram_npm is not packed (run npm run pack-npm)');
  }

  const subRoots = subPackages.map((p) => path.join(root, p.root) + path.sep);
  const inSub = (f) => subRoots.some((r) => f.startsWith(r));
  const own = ownFiles(root).filter((f) => !inSub(f));
  const subPackageBytes = {};
  for (const p of subPackages) {
    const bytes = ownFiles(root, path.join(root, p.root)).reduce((sum, f) => sum + fs.statSync(f).size, 0);
    subPackageBytes[p.root] = bytes;
    if (bytes >= LIMIT_BYTES) errors.push(`sub-package ${p.root} is ${(bytes / 1024).toFixed(0)} KB, over WeChat's 2 MB limit`);
  }
  // npm packages our own code requires (the scanner's @noble/ed25519, the pass page's qrcode-generator): miniprogram_npm is in the main package
  const required = new Set();
  for (const f of ownFiles(root).filter((file) => file.endsWith('.js'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/require\(\s*["']([^."'][^"']*)["']\s*\)/g)) {
      const candidate = path.join(root, 'miniprogram_npm', m[1], 'index.js');
      if (fs.existsSync(candidate)) required.add(candidate);
    }
  }
  const npm = [...new Set([...npmFiles(root, [...usedComponents]), ...required])];
  const size = (files) => files.reduce((sum, f) => sum + fs.statSync(f).size, 0);
  const ownBytes = size(own);
  const npmBytes = size(npm);
  const mainPackageBytes = ownBytes + npmBytes;
  if (mainPackageBytes >= LIMIT_BYTES) {
    errors.push(`main package is ${(mainPackageBytes / 1024).toFixed(0)} KB, over WeChat's 2 MB limit`);
  }

  const sources = walk(root, root).filter((f) => /\.(ts|js|wxml|wxss|json|wxs)$/.test(f));
  for (const file of sources) {
    const rel = path.relative(root, file);
    if (DEV_CONFIG.includes(rel)) continue;
    if (/http:\/\//i.test(fs.readFileSync(file, 'utf8'))) {
      errors.push(`${rel}: an http:// address outside the dev config (config/dev.ts)`);
    }
  }
  return {
    errors, mainPackageBytes, ownBytes, npmBytes, npmFileCount: npm.length, components: usedComponents.size, subPackageBytes,
  };
}

if (require.main === module) {
  const r = checkPackage();
  console.log(
    `main package: ${(r.mainPackageBytes / 1024).toFixed(1)} KB of 2048 KB ` +
      `(our code ${(r.ownBytes / 1024).toFixed(1)} KB; ${r.components} tdesign components with their dependencies, ` +
      `${r.npmFileCount} files, ${(r.npmBytes / 1024).toFixed(1)} KB)`,
  );
  for (const [rootDir, bytes] of Object.entries(r.subPackageBytes)) {
    console.log(`sub-package ${rootDir}: ${(bytes / 1024).toFixed(1)} KB of 2048 KB`);
  }
  r.errors.forEach((e) => console.error(`✗ ${e}`));
  process.exit(r.errors.length ? 1 : 0);
}

module.exports = { checkPackage, LIMIT_BYTES };
