/**
 * Render a page (a Component-built page) with miniprogram-simulate and the real tdesign
 * components from miniprogram_npm; `await settle()` lets real HTTP answers arrive.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const simulate = require('miniprogram-simulate');

const ROOT = path.resolve(__dirname, '..', '..');

// A page's .js runs once per test file (require caches it), so each page is loaded once
// and rendered afresh each time. Each load registers its components anew, so their modules
// are dropped from jest's registry first: a cached tdesign module would not call Component()
// again, and the component would render nothing on the second page that uses it.
const loaded = new Map();

function loadPage(name) {
  if (!loaded.has(name)) {
    loaded.set(name, register(name));
  }
  const page = simulate.render(loaded.get(name));
  page.attach(document.createElement('parent-wrapper'));
  return page;
}

function register(name) {
  jest.resetModules();
  // 'enroll' is pages/enroll/index; a sub-package page is named by its folder ('pay/pages/pay')
  const base = name.includes('/') ? path.join(ROOT, name, 'index') : path.join(ROOT, 'pages', name, 'index');
  const json = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  const usingComponents = {};
  for (const [tag, target] of Object.entries(json.usingComponents || {})) {
    usingComponents[tag] = target.startsWith('tdesign-miniprogram/') ? `/miniprogram_npm/${target}` : target;
  }
  return simulate.load(base, { rootPath: ROOT, usingComponents });
}

/** The text a person sees. */
function textOf(page) {
  return page.dom.textContent.replace(/\s+/g, ' ');
}

/** A t-input / t-switch change event as the page's handlers receive it. */
function changeEvent(dataset, value) {
  return { currentTarget: { dataset }, target: { dataset }, detail: { value } };
}

/** Wait until `check()` is truthy (real HTTP needs real time). */
async function until(check, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

module.exports = { loadPage, textOf, changeEvent, until, ROOT };
