/**
 * @jest-environment jsdom
 *
 * The trainee's pass, results and certificates, and leaving a waitlist, against the real server.
 *
 * A trainee enrolls, pays (one real transfer screenshot through api/payments) and a reviewer (made
 * with `python -m server create-staff` in globalSetup) approves: the pass page then shows the
 * server's signed token as a QR drawn on the 2D canvas (decoded back from the canvas bitmap), the
 * serial, course, dates and venue, with the brightness raised and restored. With the server
 * unreachable (a closed port: real connection failures), a second load shows the stored pass with
 * 离线. The PDF opens. The demo trainee sees the published demo result (合格, 86 分) and her
 * certificate's PDF. A trainee in line for a full session sees her place and leaves it.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { loadPage, textOf, until } = require('./support/page');
const { FIXTURES } = require('./support/server');
const { decodeQr } = require('./support/qr-decode');
const { newTrainee } = require('./support/accounts');
const { staffLogin } = require('./support/totp');
const { request } = require('../api/request');
const { uploadPhoto } = require('../api/profile');
const { enroll, joinWaitlist } = require('../api/enrollments');
const payments = require('../api/payments');
const { qrMatrix, qrVersion } = require('../pass/qr');
const { passKey } = require('../pass/helpers');

const SHOT = path.join(process.env.MINI_DATA_DIR, 'proofs', 'transfer-wechat.jpg');
const UNREACHABLE = 'http://127.0.0.1:9'; // discard port: nothing listens, every request fails to connect
const token = {};
const ids = {};

function beijingDate(offsetDays) {
  return new Date(Date.now() + 8 * 3600 * 1000 + offsetDays * 86400 * 1000).toISOString().slice(0, 10);
}

function as(who) {
  wx.setStorageSync('auth_token', token[who]);
}

function asStaff(who, pathname, options = {}) {
  return request(pathname, { ...options, auth: false, header: { ...(options.header || {}), Authorization: `Bearer ${token[who]}` } });
}

async function session(name, capacity) {
  const course = await asStaff('admin', '/api/v1/admin/courses', {
    method: 'POST', data: { name, course_type: '继续教育', activity_type: '培训', specialty: '岩土工程', hours: 8, mails_books: false },
  });
  const s = await asStaff('admin', '/api/v1/admin/sessions', {
    method: 'POST',
    data: {
      course_id: course.id, code: `PASS-${crypto.randomBytes(3).toString('hex')}`, round: '一期',
      enroll_start: beijingDate(0), enroll_end: beijingDate(10), start_date: beijingDate(20), end_date: beijingDate(21),
      fee_fen: 80000, capacity, venue: '上海市徐汇区宜山路 700 号',
    },
  });
  await asStaff('admin', `/api/v1/admin/sessions/${s.id}/publish`, { method: 'POST' });
  return s.id;
}

async function trainee(who) {
  wx.__state.openid = `openid-pass-${who}`;
  wx.removeStorageSync('auth_token');
  await newTrainee({ name: '赵听课' });
  await uploadPhoto(path.join(FIXTURES, 'portrait.jpg'), true);
  token[who] = wx.getStorageSync('auth_token');
}

function serverLog() {
  return fs.readFileSync(path.join(process.env.MINI_DATA_DIR, 'server.log'), 'utf8');
}

/** The text of the QR drawn on the page's canvas (decoded by zxing-cpp from the bitmap it painted). */
function decodeCanvas(canvas) {
  return decodeQr([{ width: canvas.width, height: canvas.height, pixels: canvas.pixels }])[0];
}

beforeAll(async () => {
  const [, password] = /账号 admin\s+密码 (\S+)/.exec(serverLog());
  token.admin = (await staffLogin('admin', password)).token; // with the demo staff's 动态验证码
  const reviewer = JSON.parse(process.env.MINI_REVIEWER);
  token.reviewer = (await staffLogin(reviewer.username, reviewer.password)).token;
  ids.session = await session('听课证出示专项培训', 10);
  ids.full = await session('候补退出专项培训', 1);
  await trainee('holder');
  ids.approved = (await enroll(ids.session)).id;
  const paid = await payments.submitPayment(
    { enrollmentIds: [ids.approved], invoice: { kind: 'normal', medium: 'electronic', title_type: 'personal', title: '赵听课', email: 'pass@example.com' } },
    [{ path: SHOT, size: fs.statSync(SHOT).size }]);
  await asStaff('reviewer', `/api/v1/review/payments/${paid.id}/approve`, { method: 'POST' });
  ids.unpaid = (await enroll(ids.full)).id; // takes the only seat of the full session
});

beforeEach(() => {
  wx.__calls.length = 0;
  wx.__state.requests.length = 0;
  wx.__state.canvases.length = 0;
  wx.__state.brightness = 0.4;
});

test('the pass page shows the server\'s signed token as a QR, the serial and session facts, at full brightness', async () => {
  as('holder');
  const page = loadPage('pass/pages/pass');
  await page.instance.onLoad({ id: ids.approved });
  page.instance.onShow();
  const pass = await request(`/api/v1/enrollments/${ids.approved}/pass`);
  expect(pass.token).toMatch(/^PS1:[0-9A-Z $%*+\-./:]+$/);
  const view = page.data.view;
  expect(view).toMatchObject({ token: pass.token, serial: pass.serial, valid: true, offline: false, venue: '上海市徐汇区宜山路 700 号' });
  const text = textOf(page);
  for (const shown of ['听课证出示专项培训', '上海市徐汇区宜山路 700 号', view.serialShown, view.dates, '下载 PDF 听课证']) {
    expect(text).toContain(shown);
  }
  expect(text).not.toContain('离线');
  // the QR: alphanumeric at level M, the version the issue expects; drawn on the canvas and decoded back
  expect(page.data.qrModules).toBe(qrMatrix(pass.token).length);
  expect(qrVersion(qrMatrix(pass.token))).toBeGreaterThanOrEqual(6);
  expect(qrVersion(qrMatrix(pass.token))).toBeLessThanOrEqual(9);
  const drawn = await until(() => wx.__state.canvases.find((c) => c.selector === '#qr' && c.canvas.pixels));
  expect(drawn.canvas.width).toBe(600); // 300 CSS px at pixel ratio 2
  expect(decodeCanvas(drawn.canvas)).toBe(pass.token);
  // brightness raised to the full and the screen kept on; restored on hide
  await until(() => wx.__state.brightness === 1);
  expect(wx.__callsOf('setKeepScreenOn')[0]).toEqual({ keepScreenOn: true });
  page.instance.onHide();
  expect(wx.__state.brightness).toBe(0.4);
  // kept for offline use
  expect(wx.getStorageSync(passKey(ids.approved)).pass.token).toBe(pass.token);
});

test('offline: with the server unreachable the stored pass is shown with 离线; a pass never downloaded cannot be', async () => {
  as('holder');
  const base = wx.getStorageSync('dev_api_base');
  wx.setStorageSync('dev_api_base', UNREACHABLE);
  try {
    const page = loadPage('pass/pages/pass');
    await page.instance.onLoad({ id: ids.approved });
    expect(wx.__state.requests.every((r) => r.url.startsWith(UNREACHABLE))).toBe(true);
    expect(wx.__state.requests.length).toBeGreaterThanOrEqual(1);
    expect(page.data.view).toMatchObject({ offline: true, venue: '上海市徐汇区宜山路 700 号' });
    expect(textOf(page)).toContain('离线');
    expect(textOf(page)).toContain('听课证出示专项培训');
    const drawn = await until(() => wx.__state.canvases.find((c) => c.canvas.pixels));
    expect(decodeCanvas(drawn.canvas)).toBe(page.data.view.token);
    expect(wx.__callsOf('showToast')).toEqual([]);

    const never = loadPage('pass/pages/pass');
    await never.instance.onLoad({ id: ids.unpaid });
    expect(never.data.view).toBe(null);
    expect(textOf(never)).toContain('本机还没有保存过这张听课证');
  } finally {
    wx.setStorageSync('dev_api_base', base);
  }
  // back online: the same pass, fresh
  const page = loadPage('pass/pages/pass');
  await page.instance.onLoad({ id: ids.approved });
  expect(page.data.view.offline).toBe(false);
});

test('the pass PDF opens; an enrollment not approved has no pass, said in Chinese, and nothing is kept', async () => {
  as('holder');
  const page = loadPage('pass/pages/pass');
  await page.instance.onLoad({ id: ids.approved });
  await page.instance.onPdf();
  const opened = wx.__callsOf('openDocument')[0];
  expect(opened).toMatchObject({ fileType: 'pdf', head: '%PDF-' });

  wx.setStorageSync(passKey(ids.unpaid), { pass: { token: 'PS1:OLD', enrollment_id: ids.unpaid }, session: null, savedAt: '' });
  const unpaid = loadPage('pass/pages/pass');
  await unpaid.instance.onLoad({ id: ids.unpaid });
  expect(unpaid.data.view).toBe(null);
  expect(unpaid.data.error).toMatch(/[\u4e00-\u9fa5]/);
  expect(wx.getStorageSync(passKey(ids.unpaid))).toBe('');
});

test('my enrollments: 出示听课证 for the approved enrollment only, and links to results', async () => {
  as('holder');
  const page = loadPage('enrollments');
  await page.instance.onShow();
  const approved = page.data.cards.find((c) => c.id === ids.approved);
  const unpaid = page.data.cards.find((c) => c.id === ids.unpaid);
  expect(approved.hasPass).toBe(true);
  expect(unpaid.hasPass).toBe(false);
  expect(textOf(page)).toContain('出示听课证');
  page.instance.onPass({ currentTarget: { dataset: { id: ids.approved } } });
  expect(wx.__callsOf('navigateTo')[0].url).toBe(`/pass/pages/pass/index?id=${ids.approved}`);
  page.instance.onResults();
  expect(wx.__callsOf('navigateTo')[1].url).toBe('/pass/pages/results/index');
});

test('results and certificates: the demo trainee sees her published result and opens her certificate', async () => {
  const [, account, password] = /演示学员[^\n]*账号 (\S+)\s+密码 (\S+)/.exec(serverLog());
  token.demo = (await request('/api/v1/auth/login', { method: 'POST', data: { account, password }, auth: false })).token;
  as('demo');
  const page = loadPage('pass/pages/results');
  await page.instance.onLoad();
  expect(page.data.results).toEqual([expect.objectContaining({
    course: '勘察安全生产管理专项培训', verdict: '合格', verdictTheme: 'success', score: '86 分',
  })]);
  expect(page.data.certificates).toEqual([expect.objectContaining({ course: '勘察安全生产管理专项培训', valid: true, hours: '8 学时' })]);
  const text = textOf(page);
  for (const shown of ['考试成绩', '合格', '86 分', '合格证', page.data.certificates[0].number, '查看合格证（PDF）']) {
    expect(text).toContain(shown);
  }
  await page.instance.onCertificate({ currentTarget: { dataset: { id: page.data.certificates[0].id } } });
  expect(wx.__callsOf('openDocument')[0]).toMatchObject({ fileType: 'pdf', head: '%PDF-' });

  // a trainee with nothing published sees empty lists, not an error
  as('holder');
  const empty = loadPage('pass/pages/results');
  await empty.instance.onLoad();
  expect(empty.data.results).toEqual([]);
  expect(textOf(empty)).toContain('暂无已发布的成绩');
  expect(wx.__callsOf('showToast')).toEqual([]);
});

test('a full session: join the waitlist on the session page, see the place there and in my enrollments, leave it', async () => {
  await trainee('waiting');
  const detail = loadPage('session');
  await detail.instance.onLoad({ id: ids.full });
  expect(detail.data.action).toBe('waitlist');
  await detail.instance.onWaitlist();
  expect(detail.data.entry).toMatchObject({ status: 'waiting', position: 1 });
  expect(textOf(detail)).toContain('候补中，排第 1 位');
  expect(textOf(detail)).toContain('退出候补');
  expect(textOf(detail)).not.toContain('名额已满，加入候补');

  const mine = loadPage('enrollments');
  await mine.instance.onShow();
  expect(mine.data.waiting).toEqual([expect.objectContaining({ title: '候补退出专项培训', text: '候补中，排第 1 位', offered: false })]);
  expect(textOf(mine)).toContain('我的候补');
  wx.__state.modalConfirm = false; // 再想想: nothing sent
  await mine.instance.onLeaveWaitlist({ currentTarget: { dataset: { id: mine.data.waiting[0].id } } });
  expect(wx.__state.requests.filter((r) => r.url.endsWith('/leave'))).toEqual([]);
  wx.__state.modalConfirm = true;
  await mine.instance.onLeaveWaitlist({ currentTarget: { dataset: { id: mine.data.waiting[0].id } } });
  expect(wx.__callsOf('showModal')[1].title).toBe('退出候补');
  expect(wx.__callsOf('showToast').map((t) => t.title)).toContain('已退出候补');
  expect(mine.data.waiting).toEqual([]);
  expect((await request('/api/v1/waitlist')).total).toBe(0);

  // leaving again (from a stale session page) is the server's 409, in Chinese
  await detail.instance.onLeaveWaitlist();
  const toasts = wx.__callsOf('showToast').map((t) => t.title);
  expect(toasts[toasts.length - 1]).toContain('候补已结束');
  // and the session page offers the waitlist again
  await detail.instance.loadEntry();
  expect(detail.data.entry).toBe(null);
  expect(textOf(detail)).toContain('名额已满，加入候补');
  await joinWaitlist(ids.full); // the line can be joined again
  expect((await request('/api/v1/waitlist')).items[0].position).toBe(1);
});
