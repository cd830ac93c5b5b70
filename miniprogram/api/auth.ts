/** Accounts: WeChat login and binding, registration, SMS codes, the current account. */
import { request, wxLoginCode } from './request';
import type { AccountOut, SmsCodeOut, SmsPurpose, TokenOut, TraineeRegister, WeChatBindIn } from './types';
import { setToken } from '../utils/auth';

/** The result of a WeChat login: logged in, or a ticket to bind an account to this WeChat. */
export type WeChatLogin = { kind: 'token'; token: TokenOut } | { kind: 'unbound'; bindTicket: string };

/** wx.login → POST /api/v1/auth/wechat; stores the token when the WeChat is bound. */
export async function loginWithWeChat(): Promise<WeChatLogin> {
  const code = await wxLoginCode();
  try {
    const token = await request<TokenOut>('/api/v1/auth/wechat', {
      method: 'POST', data: { code }, auth: false, show: 'none',
    });
    setToken(token.token);
    return { kind: 'token', token };
  } catch (error) {
    const e = error as { code?: string; details?: Record<string, unknown> };
    if (e.code === 'wechat_not_bound' && typeof e.details?.bind_ticket === 'string') {
      return { kind: 'unbound', bindTicket: e.details.bind_ticket };
    }
    throw error;
  }
}

/** POST /api/v1/auth/wechat/bind: bind the ticket's WeChat to an account (password or SMS code). */
export async function bindWeChat(body: WeChatBindIn): Promise<TokenOut> {
  const token = await request<TokenOut>('/api/v1/auth/wechat/bind', {
    method: 'POST', data: body, auth: false, show: 'form',
  });
  setToken(token.token);
  return token;
}

/** POST /api/v1/auth/register/trainee: a new trainee account; stores the token. */
export async function registerTrainee(body: TraineeRegister): Promise<TokenOut> {
  const token = await request<TokenOut>('/api/v1/auth/register/trainee', {
    method: 'POST', data: body, auth: false, show: 'form',
  });
  setToken(token.token);
  return token;
}

/** POST /api/v1/auth/sms-codes: send a one-time code to a mobile number. */
export function sendSmsCode(phone: string, purpose: SmsPurpose): Promise<SmsCodeOut> {
  return request<SmsCodeOut>('/api/v1/auth/sms-codes', {
    method: 'POST', data: { phone, purpose }, auth: false, show: 'form',
  });
}

/** GET /api/v1/me. */
export function me(): Promise<AccountOut> {
  return request<AccountOut>('/api/v1/me');
}

/** POST /api/v1/auth/logout. */
export function logout(): Promise<unknown> {
  return request('/api/v1/auth/logout', { method: 'POST', show: 'none' });
}
