/**
 * The API base URL: the one place the mini-program learns where its server is.
 *
 * Trial and release versions always use PRODUCTION_API_BASE (HTTPS, a domain whitelisted in the
 * WeChat admin console); only the "develop" version (DevTools, a preview) uses the dev config.
 */
import { DEV_API_BASE } from './dev';

/** Production server: HTTPS only (WeChat refuses anything else outside DevTools). */
export const PRODUCTION_API_BASE = 'https://train.example.org';

/** Storage key that overrides the dev server address (develop version only). */
export const DEV_API_BASE_KEY = 'dev_api_base';

type EnvVersion = 'develop' | 'trial' | 'release';

function envVersion(): EnvVersion {
  try {
    return wx.getAccountInfoSync().miniProgram.envVersion as EnvVersion;
  } catch (error) {
    return 'release';
  }
}

/** The API base URL for this run of the mini-program, without a trailing slash. */
export function apiBase(): string {
  if (envVersion() !== 'develop') {
    return PRODUCTION_API_BASE;
  }
  const override = wx.getStorageSync(DEV_API_BASE_KEY);
  const base = typeof override === 'string' && override ? override : DEV_API_BASE;
  return base.replace(/\/+$/, '');
}
