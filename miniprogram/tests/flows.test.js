/**
 * @jest-environment jsdom
 *
 * The main trainee flows, page by page, against the real server: log in with WeChat and
 * register, list sessions, try to enroll without a photo, take the photo (refused, then
 * accepted), enroll with a new address, see the enrollment with its pay deadline, cancel it.
 * Each page is rendered by miniprogram-simulate with the real tdesign components.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const { loadPage, textOf, changeEvent, until } = require('./support/page');
const { idNumber, phone, smsCode, FIXTURES } = require('./support/server');
const { getToken } = require('../utils/auth');

const person = { name: '林晓', id_number: idNumber(), phone: phone(), email: 'linxiao@example.com', password: 'Lin-Xiao-2026!' };
let sessionId = '';

beforeEach(() => {
  wx.__calls.length = 0;
});

function fill(page, form, values) {
  for (const [field, value] of Object.entries(values)) {
    page.instance.onInput(changeEvent({ form, field }, value));
  }
}

test('login: WeChat not bound yet → register → the WeChat is bound and logs in next time', async () => {
  const page = loadPage('login');
  page.instance.onLoad({});
  expect(textOf(page)).toContain('微信一键登录');

  await page.instance.onWeChatLogin();
  expect(page.data.step).toBe('bind');
  expect(textOf(page)).toContain('绑定已有账号');

  page.instance.onStep({ currentTarget: { dataset: { step: 'register' } } });
  fill(page, 'reg', { ...person, id_number: '110101199001011234' });
  await page.instance.onSendCode({ currentTarget: { dataset: { form: 'reg' } } });
  expect(wx.__callsOf('showToast').map((t) => t.title)).toContain('验证码已发送');
  expect(textOf(page)).toMatch(/\d+ 秒后重发/);
  const sent = wx.__state.requests.length;
  await page.instance.onSendCode({ currentTarget: { dataset: { form: 'reg' } } });
  expect(wx.__state.requests.length).toBe(sent); // no second code while the countdown runs
  fill(page, 'reg', { sms_code: await smsCode(person.phone, 'register') });

  // A wrong check digit: the server's field message appears under the ID number input.
  await page.instance.onRegister();
  expect(page.data.errors.id_number).toMatch(/[\u4e00-\u9fa5]/);
  expect(textOf(page)).toContain(page.data.errors.id_number);
  expect(wx.__callsOf('reLaunch')).toEqual([]);

  fill(page, 'reg', { id_number: person.id_number });
  await page.instance.onRegister();
  expect(wx.__callsOf('reLaunch')).toEqual([{ url: '/pages/sessions/index' }]);
  expect(getToken()).not.toBe('');

  const again = loadPage('login');
  await again.instance.onWeChatLogin();
  expect(wx.__callsOf('reLaunch')).toHaveLength(2);
  expect(again.data.step).toBe('start');
});

test('sessions: the open sessions with my status, in Chinese money and dates', async () => {
  const page = loadPage('sessions');
  page.instance.onShow();
  await until(() => page.data.loaded && page.data.cards.length);
  const text = textOf(page);
  expect(text).toContain('待申请');
  expect(text).toMatch(/¥[\d,]+\.\d\d/);
  expect(text).toMatch(/报名时间：\d{4}年\d{1,2}月\d{1,2}日 至 \d{4}年/);
  const all = page.data.cards.length;

  // search by session code; then without "只看可报名" the closed and coming sessions appear too
  page.instance.onSearch({ detail: { value: page.data.cards[0].code } });
  await until(() => page.data.cards.length === 1);
  page.instance.onSearch({ detail: { value: '' } });
  await until(() => page.data.cards.length === all);
  page.instance.onOpenOnly({ detail: { value: false } });
  await until(() => page.data.cards.length > all);
  expect(textOf(page)).toContain('未开放');
  page.instance.onOpenOnly({ detail: { value: true } });
  await until(() => page.data.cards.length === all);
  for (const card of page.data.cards) {
    const detail = loadPage('session');
    await detail.instance.onLoad({ id: card.id });
    if (detail.data.session.mails_books) {
      sessionId = card.id;
      expect(detail.data.action).toBe('enroll');
      expect(textOf(detail)).toContain('本次培训有培训书籍要快递');
      expect(textOf(detail)).toContain(`培训地点${detail.data.session.venue}`);
      expect(textOf(detail)).toMatch(/费用¥[\d,]+\.\d\d/);
      break;
    }
  }
  expect(sessionId).not.toBe('');
});

test('enroll without an ID photo: the server refuses and the page leads to the photo page', async () => {
  const page = loadPage('enroll');
  await page.instance.onLoad({ id: sessionId });
  expect(page.data.showNewAddress).toBe(true);
  fill(page, undefined, {});
  for (const [field, value] of Object.entries({ recipient: '林晓', phone: person.phone, region: '上海市徐汇区', address: '宜山路 700 号 3 楼' })) {
    page.instance.onNewAddressInput(changeEvent({ field }, value));
  }
  await page.instance.onSubmit();
  const modal = await until(() => wx.__callsOf('showModal')[0]);
  expect(modal.content).toBe('报名前请先上传证件照');
  await until(() => wx.__callsOf('navigateTo').length);
  expect(wx.__callsOf('navigateTo')).toEqual([{ url: '/pages/photo/index' }]);
  expect(page.data.addressOptions).toHaveLength(1); // the address was saved on the way
});

test('photo: consent first; two faces are refused in plain Chinese; a portrait becomes 295×413', async () => {
  const page = loadPage('photo');
  await page.instance.onShow();
  expect(textOf(page)).toContain('尚未上传证件照');

  await page.instance.onChoose();
  expect(wx.__callsOf('chooseMedia')).toEqual([]);
  expect(wx.__callsOf('showToast')[0].title).toBe('请先阅读并同意照片用途说明');

  page.instance.onConsent({ detail: { checked: true } });
  wx.__state.chooseMediaPath = path.join(FIXTURES, 'two_faces.jpg');
  await page.instance.onChoose();
  expect(page.data.refusal.message).toBe('检测到多张人脸，请单人拍摄');
  expect(textOf(page)).toContain('只拍本人一人');

  wx.__state.chooseMediaPath = path.join(FIXTURES, 'portrait.jpg');
  await page.instance.onChoose();
  expect(page.data.refusal).toBeNull();
  expect(page.data.size).toBe('295×413');
  const jpeg = fs.readFileSync(page.data.photoPath);
  expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
  expect(textOf(page)).toMatch(/已裁剪为 295×413 像素一寸照，更新于 \d{4}年/);
});

test('enroll with the saved address and an invoice template choice; the deadline reminder is asked for and reported', async () => {
  const { request } = require('../api/request');
  const template = await request('/api/v1/invoice-templates', {
    method: 'POST', data: { kind: 'normal', medium: 'electronic', title_type: 'personal', title: '林晓', email: person.email, is_default: true },
  });
  const page = loadPage('enroll');
  await page.instance.onLoad({ id: sessionId });
  expect(page.data.showNewAddress).toBe(false);
  expect(page.data.invoiceId).toBe(template.id); // the default template is preselected
  const text = textOf(page);
  expect(text).toContain('林晓');
  expect(text).toContain('暂不选择（缴费时填写）');
  await page.instance.onSubmit();
  expect(wx.__callsOf('switchTab')).toEqual([{ url: '/pages/enrollments/index' }]);
  const mine = await request('/api/v1/enrollments');
  expect(wx.getStorageSync(`invoice_template:${mine.items[0].id}`)).toBe(template.id);
  expect(mine.items[0].address.region).toBe('上海市徐汇区');
  // the modal's tap asks WeChat for the deadline reminder (config/index.ts), the answer goes to the server
  const modal = wx.__callsOf('showModal')[0];
  expect(modal.title).toBe('报名成功');
  expect(modal.content).toContain('请在缴费截止前完成缴费');
  const { SUBSCRIBE_TEMPLATES } = require('../config/index');
  expect(wx.__callsOf('requestSubscribeMessage').map((a) => a.tmplIds)).toEqual([[SUBSCRIBE_TEMPLATES.payment_deadline_near]]);
  const consent = await request('/api/v1/me/subscriptions');
  const reminder = consent.items.find((i) => i.kind === 'payment_deadline_near');
  expect(reminder).toMatchObject({ available: true, remaining: 1, last_result: 'accept', template_id: SUBSCRIBE_TEMPLATES.payment_deadline_near });
  expect(consent.items.find((i) => i.kind === 'payment_approved').remaining).toBe(0);
});

test('my enrollments: status, fee and pay deadline; cancel after confirming', async () => {
  const page = loadPage('enrollments');
  await page.instance.onShow();
  expect(page.data.cards).toHaveLength(1);
  const text = textOf(page);
  expect(text).toContain('待缴费');
  expect(text).toMatch(/缴费截止：\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d（还剩 \d+ 天）/);

  wx.__state.modalConfirm = false;
  await page.instance.onCancel({ currentTarget: { dataset: { id: page.data.cards[0].id } } });
  expect(page.data.cards[0].statusLabel).toBe('待缴费');

  wx.__state.modalConfirm = true;
  await page.instance.onCancel({ currentTarget: { dataset: { id: page.data.cards[0].id } } });
  expect(page.data.cards[0].statusLabel).toBe('已取消');
  expect(page.data.cards[0].cancellable).toBe(false);
  expect(textOf(page)).not.toContain('取消报名');

  const detail = loadPage('session');
  await detail.instance.onLoad({ id: sessionId });
  expect(detail.data.action).toBe('enroll'); // a cancelled enrollment may enroll again
});
