/** Chinese display conventions and the pages' pure helpers. */
'use strict';
const { formatDate, formatDateTime, formatDateRange, formatDateWeekday, formatMoney, deadlineText, statusTheme } = require('../utils/format');
const { actionFor } = require('../pages/session/helpers');
const { toEnrollmentCard } = require('../pages/enrollments/helpers');
const { refusalOf } = require('../pages/photo/helpers');
const { maskId, maskPhone, updateBody } = require('../pages/profile/helpers');
const { ApiError } = require('../api/request');

test('dates are shown in Beijing time, the Chinese way', () => {
  expect(formatDate('2025-12-06')).toBe('2025年12月6日');
  expect(formatDateWeekday('2025-12-06')).toBe('2025年12月6日（周六）');
  // 16:30 UTC is already the next day in Beijing
  expect(formatDate('2025-12-06T16:30:00+00:00')).toBe('2025年12月7日');
  expect(formatDateTime('2025-12-06T06:05:00Z')).toBe('2025年12月6日 14:05');
  expect(formatDateRange('2025-12-06', '2025-12-19')).toBe('2025年12月6日 至 12月19日');
  expect(formatDateRange('2025-12-30', '2026-01-05')).toBe('2025年12月30日 至 2026年1月5日');
  expect(formatDate(null)).toBe('');
  expect(formatDate('not a date')).toBe('');
});

test('money is fen shown as yuan with two decimals and thousands separators', () => {
  expect(formatMoney(120000)).toBe('¥1,200.00');
  expect(formatMoney(5)).toBe('¥0.05');
  expect(formatMoney(123456789)).toBe('¥1,234,567.89');
  expect(formatMoney(0)).toBe('¥0.00');
});

test('pay deadlines count whole days left', () => {
  const now = Date.parse('2025-12-06T00:00:00Z');
  expect(deadlineText('2025-12-09T12:00:00Z', now)).toBe('还剩 3 天');
  expect(deadlineText('2025-12-06T08:00:00Z', now)).toBe('今天截止');
  expect(deadlineText('2025-12-05T00:00:00Z', now)).toBe('已过期');
});

test('each enrollment status has its tag colour', () => {
  expect(statusTheme('pending_payment')).toBe('warning');
  expect(statusTheme('approved')).toBe('success');
  expect(statusTheme('rejected')).toBe('danger');
  expect(statusTheme('cancelled')).toBe('default');
  expect(statusTheme('something_new')).toBe('default');
});

const session = (over) => ({ open_now: true, seats_left: 3, my_status: { code: 'not_applied', label: '待申请' }, ...over });

test('the session detail offers enroll, waitlist, login or my enrollment', () => {
  expect(actionFor(session({}), true)).toBe('enroll');
  expect(actionFor(session({ seats_left: 0 }), true)).toBe('waitlist');
  expect(actionFor(session({ my_status: null }), false)).toBe('login');
  expect(actionFor(session({ my_status: { code: 'pending_payment', label: '待缴费' } }), true)).toBe('mine');
  expect(actionFor(session({ my_status: { code: 'cancelled', label: '已取消' } }), true)).toBe('enroll');
  expect(actionFor(session({ open_now: false }), true)).toBe('none');
  expect(actionFor(session({ open_now: false, my_status: { code: 'approved', label: '通过' } }), true)).toBe('mine');
});

test('an enrollment card shows the deadline only while payment is due', () => {
  const e = {
    id: 'e1', session_id: 's1', status: { code: 'pending_payment', label: '待缴费' }, fee_fen: 120000,
    pay_by: '2025-12-09T06:00:00Z', created_at: '2025-12-02T03:00:00Z', address: null,
  };
  const card = toEnrollmentCard(e, { id: 's1', course_name: '岩土工程勘察', code: 'S2025-01', round: '一期' }, Date.parse('2025-12-06T00:00:00Z'));
  expect(card).toMatchObject({ title: '岩土工程勘察', fee: '¥1,200.00', payBy: '2025年12月9日 14:00（还剩 3 天）', cancellable: true, enrolledOn: '2025年12月2日' });
  const approved = toEnrollmentCard({ ...e, status: { code: 'approved', label: '通过' } }, undefined);
  expect(approved).toMatchObject({ payBy: '', cancellable: false, statusTheme: 'success' });
});

test('photo refusals get plain advice', () => {
  const r = refusalOf(new ApiError(422, 'photo_face_too_small', '人脸在照片中太小，请靠近镜头重新拍摄'));
  expect(r.message).toBe('人脸在照片中太小，请靠近镜头重新拍摄');
  expect(r.hints[0]).toContain('靠近镜头');
  expect(refusalOf(new Error('boom'))).toEqual({ message: '上传失败，请重试', hints: [] });
});

test('personal data is masked on screen; the profile body keeps what is not edited here', () => {
  expect(maskId('11010119900101123X')).toBe('1101**********123X');
  expect(maskPhone('13812345678')).toBe('138****5678');
  const body = updateBody({ name: '林晓', sex: 'female', birth_date: '1990-01-01', email: 'a@b.cn', education: '大学本科', id: 'x', has_photo: true },
    { email: ' new@b.cn ', employer: '', position: '', specialty: '岩土', work_start: '2015-07', address: '上海', postcode: '' });
  expect(body).toMatchObject({ name: '林晓', sex: 'female', education: '大学本科', email: 'new@b.cn', employer: null, specialty: '岩土' });
  expect(body).not.toHaveProperty('id');
  expect(body).not.toHaveProperty('has_photo');
});
