/**
 * Real passes for the scanner tests: sessions made by the demo admin, trainees who enroll, pay
 * (a real screenshot) and are approved by the reviewer through the payments API; then the
 * sessions are moved to today (before any pass is issued), so the passes are valid now.
 */
'use strict';
const { staffLogin } = require('./totp');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { FIXTURES } = require('./server');
const { newTrainee } = require('./accounts');

function beijingDate(offsetDays) {
  return new Date(Date.now() + 8 * 3600 * 1000 + offsetDays * 86400 * 1000).toISOString().slice(0, 10);
}

function serverLog() {
  return fs.readFileSync(path.join(process.env.MINI_DATA_DIR, 'server.log'), 'utf8');
}

/** The token of a demo staff account whose random password the server printed at start. */
async function demoStaffToken(username) {
  const [, password] = new RegExp(`账号 ${username}\\s+密码 (\\S+)`).exec(serverLog());
  return { password, token: (await staffLogin(username, password)).token };
}

async function reviewerToken() {
  const reviewer = JSON.parse(process.env.MINI_REVIEWER);
  return (await staffLogin(reviewer.username, reviewer.password)).token;
}

function asToken(token, pathname, options = {}) {
  const { request } = require('../../api/request');
  return request(pathname, { ...options, auth: false, header: { ...(options.header || {}), Authorization: `Bearer ${token}` } });
}

/** A published session (enrolment open today, training from tomorrow) of a new course. */
async function newSession(admin, name) {
  const course = await asToken(admin, '/api/v1/admin/courses', {
    method: 'POST', data: { name, course_type: '继续教育', activity_type: '培训', specialty: '岩土工程', hours: 8, mails_books: false },
  });
  const s = await asToken(admin, '/api/v1/admin/sessions', {
    method: 'POST',
    data: {
      course_id: course.id, code: `SCAN-${crypto.randomBytes(3).toString('hex')}`, round: '一期',
      enroll_start: beijingDate(0), enroll_end: beijingDate(0), start_date: beijingDate(1), end_date: beijingDate(2),
      fee_fen: 80000, capacity: 20, venue: '上海市徐汇区宜山路 700 号',
    },
  });
  await asToken(admin, `/api/v1/admin/sessions/${s.id}/publish`, { method: 'POST' });
  return { id: s.id, code: s.code, name };
}

/** Training today and tomorrow (enrolment closed yesterday): the passes issued after this are valid now. */
function moveToToday(admin, sessionId) {
  return asToken(admin, `/api/v1/admin/sessions/${sessionId}`, {
    method: 'PATCH', data: { enroll_start: beijingDate(-3), enroll_end: beijingDate(-1), start_date: beijingDate(0), end_date: beijingDate(1) },
  });
}

/** A trainee with a photo, enrolled in `sessionId`, paid and approved; returns { token, enrollmentId, name }. */
async function approvedTrainee(reviewer, sessionId, name) {
  const { uploadPhoto } = require('../../api/profile');
  const { enroll } = require('../../api/enrollments');
  const payments = require('../../api/payments');
  wx.__state.openid = `openid-scan-${crypto.randomBytes(4).toString('hex')}`;
  wx.removeStorageSync('auth_token');
  await newTrainee({ name });
  await uploadPhoto(path.join(FIXTURES, 'portrait.jpg'), true);
  const enrollmentId = (await enroll(sessionId)).id;
  const shot = path.join(process.env.MINI_DATA_DIR, 'proofs', 'transfer-wechat.jpg');
  const invoice = { kind: 'normal', medium: 'electronic', title_type: 'personal', title: name, tax_id: '', email: 'scan@example.com', address_phone: '', bank_account: '', is_default: false };
  const payment = await payments.submitPayment({ enrollmentIds: [enrollmentId], invoice }, [{ path: shot, size: fs.statSync(shot).size }]);
  await asToken(reviewer, `/api/v1/review/payments/${payment.id}/approve`, { method: 'POST' });
  const token = wx.getStorageSync('auth_token');
  wx.removeStorageSync('auth_token');
  return { token, enrollmentId, name };
}

/** The trainee's pass (issued on the first request). */
function passOf(trainee) {
  return asToken(trainee.token, `/api/v1/enrollments/${trainee.enrollmentId}/pass`);
}

module.exports = { beijingDate, demoStaffToken, reviewerToken, asToken, newSession, moveToToday, approvedTrainee, passOf };
