/**
 * @jest-environment jsdom
 *
 * Binding a WeChat to an account that already exists (password, or an SMS code to the phone on
 * record), a wrong password shown in Chinese, then the profile and units pages of that person:
 * the demo unit binds the trainee, the trainee sees the unit and leaves it.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { loadPage, textOf, changeEvent, until } = require('./support/page');
const { idNumber, phone, smsCode } = require('./support/server');
const { request } = require('../api/request');
const { getToken, clearToken } = require('../utils/auth');

beforeEach(() => {
  wx.__calls.length = 0;
});

/** A trainee registered without WeChat (as on the web view). */
async function registerWithoutWeChat() {
  const person = { name: '周敏', id_number: idNumber(), phone: phone(), email: 'zhoumin@example.com', password: 'Zhou-Min-2026!' };
  await request('/api/v1/auth/sms-codes', { method: 'POST', data: { phone: person.phone, purpose: 'register' }, auth: false });
  const code = await smsCode(person.phone, 'register');
  await request('/api/v1/auth/register/trainee', { method: 'POST', data: { ...person, sms_code: code }, auth: false });
  clearToken();
  return person;
}

function fill(page, values) {
  for (const [field, value] of Object.entries(values)) {
    page.instance.onInput(changeEvent({ form: 'bind', field }, value));
  }
}

test('bind an existing account with its password (a wrong one is refused in Chinese)', async () => {
  const person = await registerWithoutWeChat();
  wx.__state.openid = 'openid-password-bind';
  const page = loadPage('login');
  await page.instance.onWeChatLogin();
  expect(page.data.step).toBe('bind');

  fill(page, { account: person.id_number, password: 'wrong-password-1' });
  await page.instance.onBind();
  expect(wx.__callsOf('reLaunch')).toEqual([]);
  expect(wx.__callsOf('showToast')[0].title).toMatch(/[\u4e00-\u9fa5]/);

  fill(page, { password: person.password });
  await page.instance.onBind();
  expect(wx.__callsOf('reLaunch')).toEqual([{ url: '/pages/sessions/index' }]);
  const me = await request('/api/v1/me');
  expect(me.wechat_bound).toBe(true);
  expect(me.name).toBe('周敏');
});

test('bind an existing account with an SMS code to the phone on record', async () => {
  const person = await registerWithoutWeChat();
  wx.__state.openid = 'openid-sms-bind';
  const page = loadPage('login');
  await page.instance.onWeChatLogin();
  page.instance.onBindMode({ currentTarget: { dataset: { mode: 'sms' } } });
  expect(textOf(page)).toContain('获取验证码');

  fill(page, { account: person.id_number, phone: person.phone });
  await page.instance.onSendCode({ currentTarget: { dataset: { form: 'bind' } } });
  fill(page, { sms_code: await smsCode(person.phone, 'bind') });
  await page.instance.onBind();
  expect(wx.__callsOf('reLaunch')).toEqual([{ url: '/pages/sessions/index' }]);
  expect(getToken()).not.toBe('');
});

test('an empty bind form is checked before anything is sent', async () => {
  wx.__state.openid = 'openid-empty-form';
  const page = loadPage('login');
  await page.instance.onWeChatLogin();
  const before = wx.__state.requests.length;
  await page.instance.onBind();
  expect(page.data.errors).toEqual({ account: '请输入身份证号', password: '请输入密码' });
  expect(textOf(page)).toContain('请输入身份证号');
  expect(wx.__state.requests.length).toBe(before);
});

test('profile: masked ID, completeness, edit and save (server field messages beside the inputs)', async () => {
  // logged in as 周敏 (SMS bind) from the test before
  const page = loadPage('profile');
  await page.instance.onShow();
  const text = textOf(page);
  expect(text).toContain('周敏');
  expect(text).toMatch(/居民身份证 \d{4}\*{10}[\dX]{4}/);
  expect(text).toContain('资料待完善');

  page.instance.onInput(changeEvent({ field: 'email' }, 'not-an-email'));
  await page.instance.onSave();
  expect(Object.keys(page.data.errors)).toContain('email');

  for (const [field, value] of Object.entries({
    email: 'zhoumin@example.com', employer: '上海示例勘察设计有限公司', position: '工程师',
    specialty: '岩土工程', work_start: '2015-07', address: '上海市徐汇区宜山路 700 号', postcode: '200233',
  })) {
    page.instance.onInput(changeEvent({ field }, value));
  }
  await page.instance.onSave();
  expect(page.data.errors).toEqual({});
  expect(page.data.profile.employer).toBe('上海示例勘察设计有限公司');
  expect(wx.__callsOf('showToast').map((t) => t.title)).toContain('已保存');
});

test('units: the unit that bound me, what it sees, and leaving it', async () => {
  const me = await request('/api/v1/me');
  const token = getToken();
  // The demo unit (its password is printed once in the server's output) binds this trainee.
  const log = fs.readFileSync(path.join(process.env.MINI_DATA_DIR, 'server.log'), 'utf8');
  const [, uscc, password] = /demo unit.*?账号 (\S+)\s+密码 (\S+)/.exec(log);
  const unit = await request('/api/v1/auth/login', { method: 'POST', data: { account: uscc, password }, auth: false });
  wx.setStorageSync('auth_token', unit.token);
  await request('/api/v1/unit/staff/bind', { method: 'POST', data: { name: me.name, id_number: me.id_number } });
  wx.setStorageSync('auth_token', token);

  const page = loadPage('units');
  await page.instance.onShow();
  expect(textOf(page)).toContain('上海示例勘察设计有限公司');
  expect(textOf(page)).toContain('单位仅能看到您的姓名和脱敏证件号');

  const unitId = page.data.cards[0].id;
  await page.instance.onLeave({ currentTarget: { dataset: { id: unitId, name: page.data.cards[0].name } } });
  expect(wx.__callsOf('showModal')[0].content).toContain('上海示例勘察设计有限公司');
  await until(() => page.data.cards.length === 0);
  expect(textOf(page)).toContain('您不属于任何单位');
});
