/** The pass and results pages' pure helpers, the QR matrix, and the waitlist cards. */
'use strict';
const { passView, resultRow, certificateRow, storePass, storedPass, dropPass } = require('../pass/helpers');
const { qrMatrix, qrVersion, drawQr } = require('../pass/qr');
const { toWaitlistCard } = require('../pages/enrollments/helpers');
const { waitlistText } = require('../pages/session/helpers');
const { decodeQr } = require('./support/qr-decode');

const PASS = {
  serial: '0a1b2c3d4e5f60718293', token: 'PS1:ABC', enrollment_id: 'e1', session_id: 's1', status: 'valid',
  valid_from: '2026-12-20T00:00:00Z', valid_to: '2026-12-21T15:59:59Z', issued_at: '2026-12-03T02:00:00Z',
};

test('a pass is shown with its serial in groups, validity, session facts, and 作废 when revoked', () => {
  const session = { course: '岩土培训', code: 'A-01　一期', dates: '2026年12月20日 至 12月21日', venue: '上海' };
  const view = passView({ pass: PASS, session, savedAt: '2026-12-03T02:05:00Z' }, true);
  expect(view).toMatchObject({
    serialShown: '0A1B 2C3D 4E5F 6071 8293', valid: true, offline: true, course: '岩土培训', venue: '上海',
    validity: '2026年12月20日 至 2026年12月21日', savedAt: '2026年12月3日 10:05',
  });
  expect(passView({ pass: { ...PASS, status: 'revoked' }, session: null, savedAt: '' }, false)).toMatchObject({ valid: false, course: '' });
});

test('the stored pass: kept per enrollment, a broken entry is ignored, dropped on refusal', () => {
  storePass({ pass: PASS, session: null, savedAt: '' });
  expect(storedPass('e1').pass.token).toBe('PS1:ABC');
  wx.setStorageSync('pass:e2', 'garbage');
  expect(storedPass('e2')).toBe(null);
  dropPass('e1');
  expect(storedPass('e1')).toBe(null);
});

test('results: 合格 green, 不合格 red, 缺考 orange without a score; certificates with the revocation reason', () => {
  const base = { id: 'r', course_name: '课程', session_code: 'A-01', published_at: '2026-11-01T02:00:00Z' };
  expect(resultRow({ ...base, verdict: 'passed', verdict_label: '合格', score: 86 })).toMatchObject({ verdictTheme: 'success', score: '86 分' });
  expect(resultRow({ ...base, verdict: 'failed', verdict_label: '不合格', score: 45 })).toMatchObject({ verdictTheme: 'danger', score: '45 分' });
  expect(resultRow({ ...base, verdict: 'absent', verdict_label: '缺考', score: null })).toMatchObject({ verdictTheme: 'warning', score: '—' });
  const cert = { id: 'c', number: 'SKX-2026-000001', course: '课程', hours: 8, start_date: '2026-10-01', end_date: '2026-10-02',
    issued_on: '2026-11-02', status: 'revoked', status_label: '已撤销', revoke_reason: '成绩更正' };
  expect(certificateRow(cert)).toMatchObject({ valid: false, reason: '成绩更正', hours: '8 学时', issuedOn: '2026年11月2日' });
  expect(certificateRow({ ...cert, status: 'valid', status_label: '有效' })).toMatchObject({ valid: true, reason: '' });
});

test('the QR: alphanumeric for a base45 token (version 6–9 at level M for 138 characters), drawn with a quiet zone', () => {
  const token = `PS1:${'A1 $%*+-./:'.repeat(13)}`.slice(0, 138);
  const matrix = qrMatrix(token);
  expect(qrVersion(matrix)).toBeGreaterThanOrEqual(6);
  expect(qrVersion(matrix)).toBeLessThanOrEqual(9);
  // byte mode would need a larger version for the same text in lower case
  expect(qrVersion(qrMatrix(token.toLowerCase()))).toBeGreaterThan(qrVersion(matrix));
  const rects = [];
  const ctx = { fillStyle: '', fillRect: (x, y, w, h) => rects.push([ctx.fillStyle, x, y, w, h]) };
  const cell = drawQr(ctx, matrix, 300);
  expect(rects[0]).toEqual(['#ffffff', 0, 0, 300, 300]);
  expect(cell).toBe(Math.floor(300 / (matrix.length + 8)));
  const dark = rects.slice(1);
  expect(dark.length).toBe(matrix.flat().filter(Boolean).length);
  expect(Math.min(...dark.map((r) => r[1]))).toBeGreaterThanOrEqual(4 * cell);
});

test('a place in line: waiting with its position, offered with the deadline', () => {
  const entry = { id: 'w', session_id: 's', trainee_id: 't', status: 'waiting', position: 2, session_code: 'A-01', course_name: '课程', offer_until: null };
  expect(toWaitlistCard(entry)).toMatchObject({ title: '课程', code: 'A-01', text: '候补中，排第 2 位', offered: false });
  expect(waitlistText(entry)).toBe('候补中，排第 2 位');
  const offered = { ...entry, status: 'offered', position: 0, offer_until: '2026-12-05T04:00:00Z' };
  expect(toWaitlistCard(offered)).toMatchObject({ text: '有空位，名额保留至 2026年12月5日 12:00', offered: true });
  expect(waitlistText(offered)).toBe('有空位了，名额为你保留至 2026年12月5日 12:00，请尽快报名');
});

test('50 random 138-character base45 tokens, drawn as the pass page draws them, all decode back (zxing-cpp)', () => {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
  const tokens = Array.from({ length: 50 }, (_, i) => {
    let t = 'PS1:';
    for (let j = 0; j < 134; j += 1) t += alphabet[(i * 7919 + j * j * 31 + j * 17) % 45];
    return t;
  });
  const bitmaps = tokens.map((token) => {
    const side = 300;
    const pixels = new Uint8Array(side * side).fill(255);
    const ctx = {
      fillStyle: '',
      fillRect(x, y, w, h) {
        const v = ctx.fillStyle === '#ffffff' ? 255 : 0;
        for (let r = y; r < Math.min(side, y + h); r += 1) pixels.fill(v, r * side + x, r * side + Math.min(side, x + w));
      },
    };
    drawQr(ctx, qrMatrix(token), side);
    return { width: side, height: side, pixels };
  });
  expect(decodeQr(bitmaps)).toEqual(tokens);
});
