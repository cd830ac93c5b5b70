/**
 * @jest-environment jsdom
 *
 * A full session against the real server: an administrator opens a session with one seat, a
 * first trainee takes it; the next one is offered the waitlist on the enroll page (the server's
 * session_full) and on the session detail, and gets a place in line.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { loadPage, textOf, until } = require('./support/page');
const { FIXTURES } = require('./support/server');
const { newTrainee } = require('./support/accounts');
const { staffLogin } = require('./support/totp');
const { request } = require('../api/request');
const { uploadPhoto } = require('../api/profile');
const { enroll } = require('../api/enrollments');

let sessionId = '';

function beijingDate(offsetDays) {
  return new Date(Date.now() + 8 * 3600 * 1000 + offsetDays * 86400 * 1000).toISOString().slice(0, 10);
}

/** A trainee with an ID photo, logged in through its own WeChat. */
async function traineeWithPhoto(openid) {
  wx.__state.openid = openid;
  wx.removeStorageSync('auth_token');
  await newTrainee();
  await uploadPhoto(path.join(FIXTURES, 'portrait.jpg'), true);
}

beforeAll(async () => {
  const log = fs.readFileSync(path.join(process.env.MINI_DATA_DIR, 'server.log'), 'utf8');
  const [, password] = /账号 admin\s+密码 (\S+)/.exec(log);
  const admin = await staffLogin('admin', password); // with the demo staff's 动态验证码
  wx.setStorageSync('auth_token', admin.token);
  const course = await request('/api/v1/admin/courses', {
    method: 'POST', data: { name: '边坡工程专项培训', course_type: '继续教育', activity_type: '培训', specialty: '岩土工程', hours: 8, mails_books: false },
  });
  const session = await request('/api/v1/admin/sessions', {
    method: 'POST',
    data: {
      course_id: course.id, code: `WL-${crypto.randomBytes(3).toString('hex')}`, round: '一期',
      enroll_start: beijingDate(0), enroll_end: beijingDate(10), start_date: beijingDate(20), end_date: beijingDate(21),
      fee_fen: 80000, capacity: 1, venue: '上海市徐汇区宜山路 700 号',
    },
  });
  await request(`/api/v1/admin/sessions/${session.id}/publish`, { method: 'POST' });
  sessionId = session.id;
  await traineeWithPhoto('openid-first-in');
  await enroll(sessionId);
});

beforeEach(() => {
  wx.__calls.length = 0;
});

test('the enroll page offers the waitlist when the server says the session is full', async () => {
  await traineeWithPhoto('openid-second');
  const page = loadPage('enroll');
  await page.instance.onLoad({ id: sessionId });
  expect(textOf(page)).toContain('边坡工程专项培训');
  await page.instance.onSubmit();
  const modal = wx.__callsOf('showModal')[0];
  expect(modal.title).toBe('名额已满');
  expect(modal.content).toBe('该班次报名人数已满，可加入候补名单');
  await until(() => wx.__callsOf('showToast').length);
  expect(wx.__callsOf('showToast')[0].title).toBe('已加入候补，排第 1 位');
  expect(wx.__callsOf('switchTab')).toEqual([]);
});

test('the session detail shows the full session and puts the next trainee second in line', async () => {
  await traineeWithPhoto('openid-third');
  const page = loadPage('session');
  await page.instance.onLoad({ id: sessionId });
  expect(page.data.action).toBe('waitlist');
  expect(textOf(page)).toContain('已满（共 1 个名额）');
  expect(textOf(page)).toContain('名额已满，加入候补');
  await page.instance.onWaitlist();
  expect(wx.__callsOf('showToast')[0].title).toBe('已加入候补，排第 2 位');

  await page.instance.onWaitlist(); // once in line is enough: the server's refusal is shown
  const again = wx.__callsOf('showToast')[1].title;
  expect(again).toMatch(/[\u4e00-\u9fa5]/);
  expect(again).not.toContain('排第');
});
