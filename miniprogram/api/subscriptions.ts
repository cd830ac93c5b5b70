/**
 * Subscribe-message consent (订阅消息): ask with wx.requestSubscribeMessage for the kinds the moment
 * calls for (README, Notifications: after enrolling the deadline reminder; after submitting a
 * payment approved / rejected / invoice ready), then report WeChat's answer as it came to
 * POST /api/v1/me/subscriptions (each "accept" is one message the server may send by WeChat).
 *
 * WeChat only shows the prompt from a tap: the pages call this from a modal's confirm button.
 * Consent is never in the way: a refusal, a failure or an error of the report is ignored.
 */
import { SUBSCRIBE_TEMPLATES, type SubscribeKind } from '../config/index';
import { request } from './request';
import type { SubscriptionsOut } from './types';

/** The configured template ids of these kinds (kinds without one are not asked for). */
export function templateIds(kinds: SubscribeKind[]): string[] {
  return kinds.map((k) => SUBSCRIBE_TEMPLATES[k]).filter((id) => !!id);
}

/** POST /api/v1/me/subscriptions with wx.requestSubscribeMessage's answer. */
export function reportSubscriptions(results: Record<string, string>): Promise<SubscriptionsOut> {
  return request<SubscriptionsOut>('/api/v1/me/subscriptions', { method: 'POST', data: { results }, show: 'none' });
}

/** GET /api/v1/me/subscriptions. */
export function mySubscriptions(): Promise<SubscriptionsOut> {
  return request<SubscriptionsOut>('/api/v1/me/subscriptions', { show: 'none' });
}

/**
 * Ask for these kinds and report the answer; resolves with the answer per template id (empty when
 * nothing was asked or WeChat refused to ask), never rejects.
 */
export function askSubscribe(kinds: SubscribeKind[]): Promise<Record<string, string>> {
  const tmplIds = templateIds(kinds);
  if (!tmplIds.length || typeof wx.requestSubscribeMessage !== 'function') {
    return Promise.resolve({});
  }
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds,
      success: (res) => {
        const results: Record<string, string> = {};
        tmplIds.forEach((id) => {
          const answer = (res as unknown as Record<string, unknown>)[id];
          if (typeof answer === 'string') {
            results[id] = answer;
          }
        });
        if (!Object.keys(results).length) {
          resolve({});
          return;
        }
        reportSubscriptions(results).then(() => resolve(results), () => resolve(results));
      },
      // the main switch is off, no template may be used, not from a tap…: nothing to report
      fail: () => resolve({}),
    });
  });
}
