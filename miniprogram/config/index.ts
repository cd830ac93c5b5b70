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

/**
 * WeChat subscribe-message template ids (微信公众平台 → 订阅消息 → 我的模板), one per kind of
 * notification. The server must be configured with the same ids (WECHAT_TEMPLATE_<KIND>, see the
 * top-level README, Notifications); an empty id means "not configured": nothing is asked for it.
 */
export const SUBSCRIBE_TEMPLATES: Record<SubscribeKind, string> = {
  payment_deadline_near: 'tmpl-payment-deadline-near-replace-me',
  payment_approved: 'tmpl-payment-approved-replace-me',
  payment_rejected: 'tmpl-payment-rejected-replace-me',
  invoice_ready: 'tmpl-invoice-ready-replace-me',
};

/** The kinds of subscribe messages the server sends (server/models/subscriptions.py). */
export type SubscribeKind = 'payment_deadline_near' | 'payment_approved' | 'payment_rejected' | 'invoice_ready';
