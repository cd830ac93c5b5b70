/**
 * @jest-environment jsdom
 *
 * Paying against the real server: a trainee enrolled in two sessions ticks both on the pay page,
 * copies the account, sends two transfer screenshots (JPEGs drawn by the server's renderer) in one
 * multipart request and sees 待审核; the consent for the review messages is reported. A reviewer
 * (a staff account made with `python -m server create-staff` in globalSetup) rejects with a reason: the payer sees it and pays again. Another trainee's
 * tampered amount is ignored; her approved payment shows 已通过 and its e-invoice PDF opens.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { loadPage, textOf, until, changeEvent } = require('./support/page');
const { FIXTURES } = require('./support/server');
const { newTrainee } = require('./support/accounts');
const { staffLogin } = require('./support/totp');
const { request } = require('../api/request');
const { uploadPhoto } = require('../api/profile');
const { enroll } = require('../api/enrollments');
const payments = require('../api/payments');
const { SUBSCRIBE_TEMPLATES } = require('../config/index');

const PROOFS = path.join(process.env.MINI_DATA_DIR, 'proofs');
const SHOTS = [path.join(PROOFS, 'transfer-wechat.jpg'), path.join(PROOFS, 'transfer-alipay.jpg')];
const INVOICE = { kind: 'normal', medium: 'electronic', title_type: 'personal', title: '测试学员', tax_id: '', email: 'pay@example.com', address_phone: '', bank_account: '', is_default: false };
const token = {};
const sessions = [];
const mine = {};

function beijingDate(offsetDays) {
  return new Date(Date.now() + 8 * 3600 * 1000 + offsetDays * 86400 * 1000).toISOString().slice(0, 10);
}

function as(who) {
  wx.setStorageSync('auth_token', token[who]);
}

/** A call as staff ('admin': the demo admin; 'reviewer': made by create-staff in globalSetup), whoever is logged in. */
function asStaff(who, pathname, options = {}) {
  return request(pathname, { ...options, auth: false, header: { ...(options.header || {}), Authorization: `Bearer ${token[who]}` } });
}
const asAdmin = (pathname, options) => asStaff('admin', pathname, options);
const asReviewer = (pathname, options) => asStaff('reviewer', pathname, options);

async function session(name, feeFen) {
  const course = await asAdmin('/api/v1/admin/courses', {
    method: 'POST', data: { name, course_type: '继续教育', activity_type: '培训', specialty: '岩土工程', hours: 8, mails_books: false },
  });
  const s = await asAdmin('/api/v1/admin/sessions', {
    method: 'POST',
    data: {
      course_id: course.id, code: `PAY-${crypto.randomBytes(3).toString('hex')}`, round: '一期',
      enroll_start: beijingDate(0), enroll_end: beijingDate(10), start_date: beijingDate(20), end_date: beijingDate(21),
      fee_fen: feeFen, capacity: 10, venue: '上海市徐汇区宜山路 700 号',
    },
  });
  await asAdmin(`/api/v1/admin/sessions/${s.id}/publish`, { method: 'POST' });
  return s.id;
}

async function trainee(who) {
  wx.__state.openid = `openid-${who}`;
  wx.removeStorageSync('auth_token');
  await newTrainee({ name: who === 'payer' ? '王缴费' : '李审核' });
  await uploadPhoto(path.join(FIXTURES, 'portrait.jpg'), true);
  token[who] = wx.getStorageSync('auth_token');
}

beforeAll(async () => {
  const log = fs.readFileSync(path.join(process.env.MINI_DATA_DIR, 'server.log'), 'utf8');
  const [, password] = /账号 admin\s+密码 (\S+)/.exec(log);
  token.admin = (await staffLogin('admin', password)).token; // with the demo staff's 动态验证码
  const reviewer = JSON.parse(process.env.MINI_REVIEWER);
  token.reviewer = (await staffLogin(reviewer.username, reviewer.password)).token;
  sessions.push(await session('岩土工程勘察专项培训', 80000), await session('基坑监测继续教育', 120000));
  await trainee('payer');
  mine.first = (await enroll(sessions[0])).id;
  mine.second = (await enroll(sessions[1])).id;
  await trainee('other');
  mine.other = (await enroll(sessions[0])).id;
});

beforeEach(() => {
  wx.__calls.length = 0;
  wx.__state.requests.length = 0;
  wx.__state.subscribeAnswer = 'accept';
});

test('the pay page: both unpaid enrollments offered, the account with copy buttons, amount and reference of the ticked ones', async () => {
  as('payer');
  const page = loadPage('pay/pages/pay');
  await page.instance.onLoad({ ids: mine.first });
  expect(page.data.rows.map((r) => [r.title, r.fee, r.statusLabel, r.checked])).toEqual(expect.arrayContaining([
    ['岩土工程勘察专项培训', '¥800.00', '待缴费', true],
    ['基坑监测继续教育', '¥1,200.00', '待缴费', false],
  ]));
  expect(page.data.amount).toBe('¥800.00');

  await page.instance.onToggle({ ...changeEvent({ id: mine.second }), detail: { checked: true } });
  expect(page.data.selected.sort()).toEqual([mine.first, mine.second].sort());
  expect(page.data.amount).toBe('¥2,000.00');
  const due = await payments.paymentDue([mine.first, mine.second]);
  expect(page.data.reference).toBe(due.reference);
  expect(due.reference).toMatch(/^[A-Z0-9]{8}$/);
  const text = textOf(page);
  for (const shown of ['岩土工程勘察专项培训', '基坑监测继续教育', '¥1,200.00', '待缴费', '应缴金额', '¥2,000.00', due.reference,
    '上海市勘察设计行业协会', '中国工商银行上海市分行营业部', '1001 2440 0902 6688 123', '转账附言请填写缴费编号', '添加截图']) {
    expect(text).toContain(shown);
  }
  expect(text.split('复制').length - 1).toBe(4); // 缴费编号, 户名, 开户行, 账号

  await page.instance.onCopy({ currentTarget: { dataset: { text: page.data.account.number, label: '账号' } } });
  expect(wx.__callsOf('setClipboardData')[0].data).toBe('1001244009026688123');
  await until(() => wx.__callsOf('showToast').length);
  expect(wx.__callsOf('showToast')[0].title).toBe('账号已复制');

  // nothing chosen yet: refused on the phone, nothing sent
  await page.instance.onSubmit();
  expect(page.data.errorText).toBe('请选择转账截图（1～5 张）');
  expect(wx.__state.requests.filter((r) => r.method === 'POST')).toEqual([]);
});

test('two screenshots in one multipart request: 待审核, the amount the server computed, the review messages subscribed', async () => {
  as('payer');
  const page = loadPage('pay/pages/pay');
  await page.instance.onLoad({ ids: `${mine.first},${mine.second}` });
  await page.instance.onInvoiceChoice({ detail: { value: 'typed' } });
  expect(textOf(page)).toContain('发票抬头');
  page.instance.onInvoiceInput(changeEvent({ field: 'title' }, '王缴费'));
  page.instance.onInvoiceInput(changeEvent({ field: 'email' }, 'pay@example.com'));
  wx.__state.chooseMediaPaths = SHOTS;
  await page.instance.onChooseProofs();
  expect(page.data.proofs).toHaveLength(2);
  expect(wx.__callsOf('chooseMedia')[0]).toMatchObject({ count: 5, mediaType: ['image'], sourceType: ['album', 'camera'] });

  await page.instance.onSubmit();
  expect(page.data.errorText).toBe('');
  expect(page.data.progress).toEqual({ percent: 100, text: '已提交' });
  const posts = wx.__state.requests.filter((r) => r.method === 'POST');
  expect(posts.map((r) => r.url.replace(process.env.MINI_API_BASE, ''))).toEqual(['/api/v1/payments', '/api/v1/me/subscriptions']);

  // the modal's tap asked WeChat for the three review messages; the answer went to the server
  expect(wx.__callsOf('showModal')[0].title).toBe('缴费已提交');
  expect(wx.__callsOf('requestSubscribeMessage')[0].tmplIds).toEqual([
    SUBSCRIBE_TEMPLATES.payment_approved, SUBSCRIBE_TEMPLATES.payment_rejected, SUBSCRIBE_TEMPLATES.invoice_ready,
  ]);
  const consent = await request('/api/v1/me/subscriptions');
  const remaining = Object.fromEntries(consent.items.map((i) => [i.kind, i.remaining]));
  expect(remaining).toMatchObject({ payment_approved: 1, payment_rejected: 1, invoice_ready: 1 });

  const url = wx.__callsOf('redirectTo')[0].url;
  expect(url).toMatch(/^\/pay\/pages\/payment\/index\?id=[0-9a-f]{24}$/);
  mine.payment = url.split('=')[1];
  const detail = loadPage('pay/pages/payment');
  await detail.instance.onLoad({ id: mine.payment });
  const text = textOf(detail);
  expect(detail.data.card.statusLabel).toBe('待审核');
  expect(text).toContain('¥2,000.00');
  expect(text).toContain('王缴费');
  expect(text).toContain('已上传转账截图 2 张');
  expect(text).toContain('普通发票 · 电子');
  // the OCR reading of the payer's own pictures shows once the job has read them (for reference only)
  expect(text).toContain('截图识别结果');
  expect(text).toContain('识别结果仅供参考');
  const raw = await payments.getPayment(mine.payment);
  expect(['pending', 'done']).toContain(raw.ocr.status); // read by the server's job runner (see the last test)
  expect(raw.proofs.map((p) => p.content_type)).toEqual(['image/jpeg', 'image/jpeg']);
  expect(raw.invoice).toMatchObject({ title: '王缴费', email: 'pay@example.com', template_id: null }); // UTF-8 of the hand-made body
  expect(raw.amount_fen).toBe(200000);

  // paying the same enrollments again: 409, said plainly
  const again = payments.submitPayment({ enrollmentIds: [mine.first], invoice: INVOICE }, [{ path: SHOTS[0], size: 1 }]);
  await expect(again).rejects.toMatchObject({ status: 409, code: 'already_in_payment' });
  expect(payments.paymentErrorMessage(await again.catch((e) => e))).toBe('所选报名已在一笔待审核的缴费中，无需重复提交；请在“我的缴费”查看');

  const list = loadPage('pay/pages/payments');
  await list.instance.onShow();
  expect(textOf(list)).toContain(`缴费编号 ${raw.reference}`);
  expect(textOf(list)).toContain('待审核');
});

test('a rejection shows its reason on the payment and on my enrollments; paying again works', async () => {
  await asReviewer(`/api/v1/review/payments/${mine.payment}/reject`, {
    method: 'POST', data: { reason_code: 'proof_unclear', note: '截图未显示收款方' },
  });
  as('payer');
  const detail = loadPage('pay/pages/payment');
  await detail.instance.onLoad({ id: mine.payment });
  expect(detail.data.card.statusLabel).toBe('已驳回');
  expect(textOf(detail)).toContain('缴费凭证不清晰或不完整：截图未显示收款方');
  detail.instance.onRepay();
  const repay = wx.__callsOf('navigateTo')[0].url;
  expect(repay).toMatch(/^\/pay\/pages\/pay\/index\?ids=/);

  const enrollments = loadPage('enrollments');
  await enrollments.instance.onShow();
  expect(textOf(enrollments)).toContain('驳回原因：缴费凭证不清晰或不完整：截图未显示收款方');
  expect(textOf(enrollments)).toContain('重新缴费');

  const page = loadPage('pay/pages/pay');
  await page.instance.onLoad({ ids: repay.split('ids=')[1] });
  expect(page.data.selected.sort()).toEqual([mine.first, mine.second].sort());
  expect(page.data.rows.every((r) => r.reason === '缴费凭证不清晰或不完整：截图未显示收款方')).toBe(true);
  const rejectedRef = (await payments.getPayment(mine.payment)).reference;
  expect(page.data.reference).not.toBe(rejectedRef); // a new reference for the new transfer
  await page.instance.onInvoiceChoice({ detail: { value: 'typed' } });
  page.instance.onInvoiceInput(changeEvent({ field: 'title' }, '王缴费'));
  wx.__state.chooseMediaPaths = [SHOTS[1]];
  await page.instance.onChooseProofs();
  wx.__state.subscribeAnswer = 'fail'; // WeChat may refuse to ask: the payment is in all the same
  await page.instance.onSubmit(); // an e-invoice needs an e-mail: the server's 422 goes under its input
  expect(page.data.errorText).toBe('电子发票须填写接收邮箱');
  expect(page.data.errors.email).toBe('电子发票须填写接收邮箱');
  expect(textOf(page)).toContain('电子发票须填写接收邮箱');
  expect(wx.__callsOf('redirectTo')).toEqual([]);
  page.instance.onInvoiceInput(changeEvent({ field: 'email' }, 'pay@example.com'));
  await page.instance.onSubmit();
  expect(page.data.errorText).toBe('');
  const newId = wx.__callsOf('redirectTo')[0].url.split('=')[1];
  expect(newId).not.toBe(mine.payment);
  const all = await payments.listPayments();
  expect(all.items.map((p) => [p.id, p.status_label])).toEqual([[newId, '待审核'], [mine.payment, '已驳回']]);
});

test("a tampering client's amount is ignored, a PDF posing as a screenshot is refused, an approval shows 已通过 and the e-invoice opens", async () => {
  as('other');
  // the invoice template chosen at enrollment (kept on the phone by the enroll page) comes first
  const template = await request('/api/v1/invoice-templates', {
    method: 'POST', data: { ...INVOICE, title: '上海某勘察设计有限公司', title_type: 'company', tax_id: '91110000600037341L' },
  });
  wx.setStorageSync(`invoice_template:${mine.other}`, template.id);
  const page = loadPage('pay/pages/pay');
  await page.instance.onLoad({});
  expect(page.data.selected).toEqual([mine.other]); // the only unpaid one is ticked
  expect(page.data.invoiceChoice).toBe(template.id);
  expect(textOf(page)).toContain('上海某勘察设计有限公司（91110000600037341L） · 普票');

  const bad = payments.submitPayment({ enrollmentIds: [mine.other], invoice: INVOICE }, [{ path: path.join(PROOFS, 'invoice.pdf'), size: 1000 }]);
  await expect(bad).rejects.toMatchObject({ status: 415 });
  expect(payments.paymentErrorMessage(await bad.catch((e) => e))).toContain('请上传手机转账成功页面的截图');
  expect((await payments.listPayments()).total).toBe(0); // nothing written

  // a client that sends its own amount: the server computes ¥800.00 anyway
  const boundary = 'tamper-boundary';
  const jpeg = fs.readFileSync(SHOTS[0]);
  const body = payments.multipartBody(boundary, { payload: JSON.stringify({ enrollment_ids: [mine.other], invoice: INVOICE, amount_fen: 1 }) },
    [{ name: 'proofs', filename: 'a.jpg', type: 'image/jpeg', data: jpeg.buffer.slice(jpeg.byteOffset, jpeg.byteOffset + jpeg.length) }]);
  const tampered = await request('/api/v1/payments', { method: 'POST', data: body, header: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  expect(tampered.amount_fen).toBe(80000);

  await asReviewer(`/api/v1/review/payments/${tampered.id}/approve`, { method: 'POST' });
  const pdf = fs.readFileSync(path.join(PROOFS, 'invoice.pdf'));
  const invoiceForm = payments.multipartBody(boundary, { number: '26312000000087654321', date: '2026-03-02', type: 'normal', medium: 'electronic' },
    [{ name: 'file', filename: 'invoice.pdf', type: 'application/pdf', data: pdf.buffer.slice(pdf.byteOffset, pdf.byteOffset + pdf.length) }]);
  const recorded = await asReviewer(`/api/v1/review/payments/${tampered.id}/invoice`, {
    method: 'PUT', data: invoiceForm, header: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  });
  expect(recorded.invoice_issue).toMatchObject({ number: '26312000000087654321', has_file: true });
  expect(recorded.notified).toBe(true);

  as('other');
  const detail = loadPage('pay/pages/payment');
  await detail.instance.onLoad({ id: tampered.id });
  const text = textOf(detail);
  expect(detail.data.card.statusLabel).toBe('已通过');
  expect(text).toContain('¥800.00');
  expect(text).toContain('26312000000087654321');
  expect(text).toContain('查看电子发票');
  await detail.instance.onInvoice();
  const opened = wx.__callsOf('openDocument')[0];
  expect(opened).toMatchObject({ fileType: 'pdf', showMenu: true, head: '%PDF-' });

  const enrollments = loadPage('enrollments');
  await enrollments.instance.onShow();
  expect(textOf(enrollments)).toContain('通过');
  expect(textOf(enrollments)).not.toContain('去缴费');
});

test('the consent is reported as WeChat answered it: a declined template earns nothing', async () => {
  as('other');
  const { askSubscribe } = require('../api/subscriptions');
  wx.__state.subscribeAnswer = (id) => (id === SUBSCRIBE_TEMPLATES.invoice_ready ? 'accept' : 'reject');
  const answer = await askSubscribe(['payment_approved', 'invoice_ready']);
  expect(answer).toEqual({ [SUBSCRIBE_TEMPLATES.payment_approved]: 'reject', [SUBSCRIBE_TEMPLATES.invoice_ready]: 'accept' });
  const items = Object.fromEntries((await request('/api/v1/me/subscriptions')).items.map((i) => [i.kind, i]));
  expect(items.payment_approved).toMatchObject({ remaining: 0, last_result: 'reject' });
  expect(items.invoice_ready).toMatchObject({ remaining: 1, last_result: 'accept' });
});

test('refusals in plain Chinese: too many, too big (on the phone), the server\'s 413, a lost connection', async () => {
  const six = Array.from({ length: 6 }, () => ({ path: SHOTS[0], size: 1000 }));
  expect(payments.checkProofs(six)).toBe('最多上传 5 张截图');
  expect(payments.checkProofs([{ path: SHOTS[0], size: 9 * 1024 * 1024 }])).toBe('第 1 张截图超过 8 MB，请裁剪或截取后重新选择');
  expect(payments.checkProofs([1, 2].map(() => ({ path: SHOTS[0], size: 7.9 * 1024 * 1024 })))).toBe('截图合计超过 15 MB，请减少张数或选择更小的截图');

  // pictures bigger than WeChat said (the phone's check passes): the server's 413, before it reads the body
  as('payer');
  const big = path.join(PROOFS, 'big.jpg');
  fs.writeFileSync(big, Buffer.alloc(8 * 1024 * 1024, 0xff));
  const refused = await payments.submitPayment({ enrollmentIds: [mine.first], invoice: INVOICE }, [big, big].map((p) => ({ path: p, size: 1 })))
    .catch((e) => e);
  expect(refused).toMatchObject({ status: 413 });
  expect(payments.paymentErrorMessage(refused)).toBe('截图太大：每张不超过 8 MB，合计不超过 15 MB，请减少张数或选择更小的截图');
  fs.rmSync(big);

  wx.__state.failNext = 1;
  const lost = await payments.submitPayment({ enrollmentIds: [mine.first], invoice: INVOICE }, [{ path: SHOTS[0], size: 1 }]).catch((e) => e);
  expect(payments.paymentErrorMessage(lost)).toBe('网络连接失败，缴费未提交，请检查网络后重试');
  expect(wx.__state.requests.filter((r) => r.method === 'POST')).toHaveLength(2); // a POST is not sent again
});

test('the OCR reading of my two screenshots shows on the payment page, without the reviewers-only hints', async () => {
  as('payer');
  // The server's job runner reads the screenshots of every payment of this file, two at a time.
  let raw = await payments.getPayment(mine.payment);
  for (let i = 0; i < 340 && raw.ocr.status === 'pending'; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    raw = await payments.getPayment(mine.payment);
  }
  expect(raw.ocr.status).toBe('done');
  expect(raw.ocr.flags.map((f) => f.code)).not.toContain('duplicate_screenshot'); // reviewers only
  const read = loadPage('pay/pages/payment');
  await read.instance.onLoad({ id: mine.payment });
  expect(read.data.card.ocrReadings).toHaveLength(2);
  expect(textOf(read)).toContain('第 1 张 · ');
  expect(textOf(read)).toContain('第 2 张 · ');
}, 180000);
