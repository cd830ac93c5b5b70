/**
 * api/request.ts against the real server: URL and token, the 401 refresh (once, shared),
 * network retries only for idempotent calls, the error envelope as toast or field messages.
 */
'use strict';
const { request, upload, ApiError } = require('../api/request');
const { getToken, setToken } = require('../utils/auth');
const { newTrainee } = require('./support/accounts');
const { FIXTURES } = require('./support/server');
const path = require('path');

const toasts = () => wx.__callsOf('showToast').map((t) => t.title);

beforeEach(() => {
  wx.__calls.length = 0;
  wx.__state.requests.length = 0;
});

test('an anonymous GET reaches the configured server with its query', async () => {
  const page = await request('/api/v1/sessions', { query: { page: 1, page_size: 5, q: undefined } });
  expect(page.total).toBeGreaterThan(0);
  expect(page.items.length).toBeLessThanOrEqual(5);
  expect(wx.__state.requests[0].url).toBe(`${process.env.MINI_API_BASE}/api/v1/sessions?page=1&page_size=5`);
});

describe('logged in', () => {
  beforeAll(async () => {
    await newTrainee();
  });

  test('the bearer token is sent', async () => {
    const me = await request('/api/v1/me');
    expect(me.role).toBe('trainee');
    expect(me.wechat_bound).toBe(true);
  });

  test('a 401 refreshes the login once through wx.login and retries', async () => {
    setToken('expired-or-revoked-token');
    const me = await request('/api/v1/me');
    expect(me.role).toBe('trainee');
    expect(wx.__callsOf('login')).toHaveLength(1);
    expect(getToken()).not.toBe('expired-or-revoked-token');
    expect(toasts()).toEqual([]);
  });

  test('concurrent 401s share one refresh', async () => {
    setToken('stale-token');
    const [a, b, c] = await Promise.all([request('/api/v1/me'), request('/api/v1/me/profile'), request('/api/v1/enrollments')]);
    expect(a.role).toBe('trainee');
    expect(b.name).toBe('测试学员');
    expect(c.items).toEqual([]);
    expect(wx.__callsOf('login')).toHaveLength(1);
  });

  test('a failed network call is retried when idempotent (GET)', async () => {
    wx.__state.failNext = 2;
    const me = await request('/api/v1/me');
    expect(me.role).toBe('trainee');
    expect(wx.__state.requests).toHaveLength(3);
  });

  test('a failed network call is not retried when not idempotent (POST)', async () => {
    wx.__state.failNext = 1;
    const error = await request('/api/v1/enrollments', { method: 'POST', data: { session_id: 'f'.repeat(24) } }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('network_error');
    expect(wx.__state.requests).toHaveLength(1);
    expect(toasts()).toEqual(['网络连接失败，请检查网络后重试']);
  });

  test('the error envelope becomes a toast with the server\'s Chinese message', async () => {
    const error = await request('/api/v1/enrollments', { method: 'POST', data: { session_id: 'f'.repeat(24) } }).catch((e) => e);
    expect(error.status).toBe(404);
    expect(toasts()).toEqual([error.message]);
    expect(error.message).toMatch(/[\u4e00-\u9fa5]/);
  });

  test('a 422 on a form gives field messages and no toast', async () => {
    const error = await request('/api/v1/auth/sms-codes', { method: 'POST', data: { phone: '12345', purpose: 'register' }, show: 'form' }).catch((e) => e);
    expect(error.status).toBe(422);
    expect(Object.keys(error.fields)).toEqual(['phone']);
    expect(error.fields.phone).toMatch(/[\u4e00-\u9fa5]/);
    expect(toasts()).toEqual([]);
  });

  test('upload() sends multipart through wx.uploadFile with the token', async () => {
    const body = await upload('/api/v1/me/qualifications', {
      filePath: path.join(FIXTURES, 'portrait.jpg'), name: 'image', formData: { type: '注册岩土工程师', number: 'AY20260001' },
    });
    expect(body.number).toBe('AY20260001');
    const list = await request('/api/v1/me/qualifications');
    expect(list.items.map((q) => q.number)).toContain('AY20260001');
  });
});

test('a 401 that the WeChat login cannot refresh clears the token and opens the login page', async () => {
  wx.__state.openid = 'never-bound-openid';
  setToken('revoked-token');
  const error = await request('/api/v1/me').catch((e) => e);
  expect(error.status).toBe(401);
  expect(getToken()).toBe('');
  expect(wx.__callsOf('reLaunch')).toEqual([{ url: '/pages/login/index' }]);
  expect(toasts()).toHaveLength(1);
});

test('a non-JSON error answer still becomes an ApiError', async () => {
  const { toApiError } = require('../api/request');
  const error = toApiError(502, '<html>502 Bad Gateway</html>');
  expect(error.code).toBe('server_error');
  expect(error.message).toBe('服务器开小差了，请稍后再试');
});

describe('the API base URL (config/index.ts)', () => {
  const { apiBase, PRODUCTION_API_BASE } = require('../config/index');
  const { DEV_API_BASE } = require('../config/dev');
  const real = wx.getAccountInfoSync;
  afterEach(() => {
    wx.getAccountInfoSync = real;
  });
  const as = (envVersion) => {
    wx.getAccountInfoSync = () => ({ miniProgram: { appId: 'wx0123456789abcdef', envVersion, version: '' } });
  };

  test('trial and release always use the HTTPS production server, whatever the storage says', () => {
    expect(PRODUCTION_API_BASE.startsWith('https://')).toBe(true);
    as('release');
    expect(apiBase()).toBe(PRODUCTION_API_BASE);
    as('trial');
    expect(apiBase()).toBe(PRODUCTION_API_BASE);
  });

  test('the develop version uses the dev config, or the dev server chosen in storage', () => {
    as('develop');
    expect(apiBase()).toBe(process.env.MINI_API_BASE);
    wx.removeStorageSync('dev_api_base');
    expect(apiBase()).toBe(DEV_API_BASE);
    wx.setStorageSync('dev_api_base', `${process.env.MINI_API_BASE}/`);
    expect(apiBase()).toBe(process.env.MINI_API_BASE);
  });
});
