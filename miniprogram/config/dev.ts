/**
 * The development configuration: the only file allowed to name an http:// address
 * (scripts/check-package.js enforces it). Used in WeChat DevTools ("develop" version),
 * with "不校验合法域名" ticked; a dev server can also be chosen at run time with
 * wx.setStorageSync('dev_api_base', 'http://192.168.1.5:8000') in the DevTools console.
 */
export const DEV_API_BASE = 'http://127.0.0.1:8000';
