/**
 * @jest-environment jsdom
 *
 * The staff scanner against the real server, with real passes: trainees enrol, pay and are
 * approved by the reviewer (payments API); the server issues their passes. The scanner logs in,
 * downloads the session's bundle, and judges tokens on the phone (base45 + Ed25519 with
 * @noble/ed25519, as packed for WeChat): valid accepted; forged, tampered, unknown kid, revoked
 * (a re-issued pass), other session, out of window refused with the right reason. Offline scans
 * are queued and replayed after "reconnect": each recorded once, and a replay records nothing.
 */
'use strict';
const crypto = require('crypto');
const P = require('./support/passes');
const { setToken } = require('../utils/auth');
const { b45decode, b45encode, b64decode } = require('../scan/lib/base45');
const { sha512 } = require('../scan/lib/sha512');
const { parseToken, judgeOffline } = require('../scan/lib/token');
const bundles = require('../scan/lib/bundle');
const { ScanQueue } = require('../scan/lib/queue');
const { memoryStorage } = require('../scan/lib/store');
const helpers = require('../scan/helpers');
const api = require('../api/scanner');
const { loadPage, textOf, until, changeEvent } = require('./support/page');
const { installScannerWx } = require('./support/scanner-wx');
const { nextCode } = require('./support/totp');

const t = {};
const passes = {};
let sessionA;
let sessionB;
let admin;
let scannerLogin;
let bundle;
let context;

beforeAll(async () => {
  admin = (await P.demoStaffToken('admin')).token;
  scannerLogin = await P.demoStaffToken('scanner');
  const reviewer = await P.reviewerToken();
  sessionA = await P.newSession(admin, '岩土工程勘察现场签到培训');
  sessionB = await P.newSession(admin, '基坑监测继续教育');
  t.wang = await P.approvedTrainee(reviewer, sessionA.id, '王签到');
  t.li = await P.approvedTrainee(reviewer, sessionA.id, '李离线');
  t.zhao = await P.approvedTrainee(reviewer, sessionA.id, '赵补发');
  t.sun = await P.approvedTrainee(reviewer, sessionA.id, '孙页面');
  t.qian = await P.approvedTrainee(reviewer, sessionB.id, '钱别班');
  await P.moveToToday(admin, sessionA.id);
  await P.moveToToday(admin, sessionB.id);
  for (const who of Object.keys(t)) {
    passes[who] = await P.passOf(t[who]);
  }
  // 赵 lost his pass: re-issued, the old serial goes on the revocation list
  passes.zhaoOld = passes.zhao;
  passes.zhao = await P.asToken(t.zhao.token, `/api/v1/enrollments/${t.zhao.enrollmentId}/pass/reissue`, { method: 'POST' });
}, 120000);

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token with one byte of its 89 changed (then re-encoded: still well-formed base45). */
function mutate(token, index, xor) {
  const raw = b45decode(token.slice(4));
  raw[index] ^= xor;
  return `PS1:${b45encode(raw)}`;
}

/** A token signed with a key of ours (not the association's), with the given kid. */
function forge(token, kid) {
  const raw = Buffer.from(b45decode(token.slice(4)));
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const payload = Buffer.from(raw.subarray(0, 25));
  payload[1] = kid;
  const signature = crypto.sign(null, payload, privateKey);
  return `PS1:${b45encode(new Uint8Array(Buffer.concat([payload, signature])))}`;
}

test('SHA-512 and base45/base64 agree with Node and the server', () => {
  for (let n = 0; n <= 300; n += 1) {
    const data = crypto.randomBytes(n);
    expect(Buffer.from(sha512(new Uint8Array(data))).toString('hex')).toBe(crypto.createHash('sha512').update(data).digest('hex'));
    expect(Buffer.from(b45decode(b45encode(new Uint8Array(data)))).equals(data)).toBe(true);
    expect(Buffer.from(b64decode(data.toString('base64'))).equals(data)).toBe(true);
  }
  expect(b45encode(new Uint8Array(Buffer.from('ietf!')))).toBe('QED8WEX0'); // RFC 9285's example
  expect(() => b45decode('GGW')).toThrow('out of range'); // 65535 < 'GGW' as the server refuses
  expect(Array.from(b45decode('00'))).toEqual([0]);
  expect(() => b45decode('ABCD')).toThrow('length');
});

test('staff login: only the scanner and admin roles enter; the bundle is downloaded and kept', async () => {
  const kv = memoryStorage();
  const reviewer = JSON.parse(process.env.MINI_REVIEWER);
  await expect(helpers.loginStaff(kv, reviewer.username, reviewer.password, await nextCode(reviewer.username)))
    .rejects.toMatchObject({ status: 403, message: '此账号不是验证员，不能使用扫码签到' });
  expect(wx.getStorageSync('auth_token')).toBe('');
  await expect(helpers.loginStaff(kv, 'scanner', 'wrong-password')).rejects.toMatchObject({ status: 401 });
  // staff sign in with the second factor: the password alone is not enough
  await expect(helpers.loginStaff(kv, 'scanner', scannerLogin.password)).rejects.toMatchObject({ status: 401, code: 'totp_required' });
  await expect(helpers.loginStaff(kv, 'scanner', scannerLogin.password, '000000')).rejects.toMatchObject({ status: 401, code: 'totp_invalid' });
  expect(wx.getStorageSync('auth_token')).toBe('');
  const staff = await helpers.loginStaff(kv, 'scanner', scannerLogin.password, await nextCode('scanner'));
  expect(staff).toEqual({ name: '验证员', role: 'scanner' });
  expect(wx.getStorageSync('auth_token')).toBeTruthy();

  const stored = await helpers.downloadBundle(kv, sessionA.id, sessionA.name);
  expect(stored.roster.map((e) => e.name).sort()).toEqual(['孙页面', '李离线', '王签到', '赵补发']);
  expect(stored.revoked).toEqual([passes.zhaoOld.serial]);
  expect(stored.roster.every((e) => e.photo && e.photo.length > 500)).toBe(true); // a JPEG thumbnail to compare faces
  expect(stored.bytes).toBeGreaterThan(3 * 1000); // three thumbnails of about 2 KB
  expect(bundles.listBundles(kv).map((b) => b.session_id)).toEqual([sessionA.id]);
  bundle = stored;
  context = bundles.offlineContext(bundle);
});

test('offline: a valid pass is accepted with the name and photo from the bundle', () => {
  const verdict = judgeOffline(passes.wang.token, context, nowSeconds());
  expect(verdict).toMatchObject({ result: 'ok', serial: passes.wang.serial, name: '王签到' });
  expect(verdict.photo).toBe(bundle.roster.find((e) => e.name === '王签到').photo);
  expect(parseToken(passes.wang.token).payload).toMatchObject({ version: 1, sessionNumber: bundle.session_number });
});

test('offline: forged, tampered, unknown kid, revoked, other session, out of window are refused with the reason', () => {
  const now = nowSeconds();
  const good = passes.wang.token;
  const kid = parseToken(good).payload.kid;
  expect(judgeOffline(mutate(good, 60, 0x01), context, now)).toMatchObject({ result: 'invalid', reason: 'signature' }); // signature byte
  expect(judgeOffline(mutate(good, 5, 0x80), context, now)).toMatchObject({ result: 'invalid', reason: 'signature' }); // serial byte
  expect(judgeOffline(mutate(good, 15, 0x01), context, now)).toMatchObject({ result: 'invalid', reason: 'signature' }); // session number
  expect(judgeOffline(forge(good, kid), context, now)).toMatchObject({ result: 'invalid', reason: 'signature' }); // our own key
  expect(judgeOffline(forge(good, 200), context, now)).toMatchObject({ result: 'invalid', reason: 'unknown kid' });
  expect(judgeOffline(mutate(good, 0, 0x03), context, now)).toMatchObject({ result: 'invalid', reason: 'version' });
  expect(judgeOffline(good.slice(0, -2), context, now)).toMatchObject({ result: 'invalid', reason: 'length' });
  expect(judgeOffline(good.toLowerCase(), context, now)).toMatchObject({ result: 'invalid', reason: 'prefix' });
  expect(judgeOffline(`${good.slice(0, 10)}~${good.slice(11)}`, context, now)).toMatchObject({ result: 'invalid', reason: 'encoding' });
  expect(judgeOffline(passes.zhaoOld.token, context, now)).toMatchObject({ result: 'revoked', serial: passes.zhaoOld.serial });
  expect(judgeOffline(passes.zhao.token, context, now)).toMatchObject({ result: 'ok', name: '赵补发' });
  expect(judgeOffline(passes.qian.token, context, now)).toMatchObject({ result: 'wrong_session' });
  const { validFrom, validTo } = parseToken(good).payload;
  expect(judgeOffline(good, context, validTo + 601)).toMatchObject({ result: 'not_today' });
  expect(judgeOffline(good, context, validFrom - 601)).toMatchObject({ result: 'not_today' });
  expect(judgeOffline(good, context, validTo + 599)).toMatchObject({ result: 'ok' }); // within the allowed clock drift
});

test('offline: 1,000 random mutations of a valid token, none accepted', () => {
  const now = nowSeconds();
  const good = passes.li.token;
  let accepted = 0;
  for (let i = 0; i < 1000; i += 1) {
    const raw = b45decode(good.slice(4));
    // 1 to 3 distinct bytes changed (two flips of one byte could cancel out and give back the good token)
    const at = new Set();
    const flips = 1 + crypto.randomInt(3);
    while (at.size < flips) at.add(crypto.randomInt(raw.length));
    for (const index of at) raw[index] ^= 1 + crypto.randomInt(255);
    if (judgeOffline(`PS1:${b45encode(raw)}`, context, now).result === 'ok') accepted += 1;
  }
  expect(accepted).toBe(0);
});

test('a queue of offline scans replayed after reconnect records each once; replayed again, no duplicates', async () => {
  const kv = memoryStorage();
  const queue = new ScanQueue(kv, 'door-1');
  const first = await helpers.scan(passes.wang.token, sessionA.id, context, queue, true);
  const second = await helpers.scan(passes.li.token, sessionA.id, context, queue, true);
  expect([first, second].map((o) => [o.result, o.offline, o.queued])).toEqual([['ok', true, true], ['ok', true, true]]);
  // the same pass again on this phone: answered at once, nothing queued
  const again = await helpers.scan(passes.wang.token, sessionA.id, context, queue, true);
  expect(again).toMatchObject({ result: 'already_checked_in', firstDevice: 'door-1', queued: false });
  expect(queue.pending().length).toBe(2);
  const forged = await helpers.scan(mutate(passes.li.token, 70, 1), sessionA.id, context, queue, true);
  expect(forged.result).toBe('invalid');
  expect(queue.pending().length).toBe(2);

  const before = await api.attendance(sessionA.id);
  const snapshot = JSON.parse(JSON.stringify(queue.all()));
  // still no network: nothing lost
  wx.__state.failNext = 3;
  await expect(helpers.syncQueue(queue)).rejects.toMatchObject({ status: 0 });
  expect(queue.pending().length).toBe(2);
  // reconnect
  const report = await helpers.syncQueue(queue);
  expect(report).toMatchObject({ sent: 2, recorded: 2, conflicts: 0, refused: 0, pending: 0 });
  expect(queue.all().map((s) => s.result)).toEqual(['ok', 'ok']);
  // the answer was lost (the phone kept its old queue): the same batch again records nothing
  kv.set('scan_queue', snapshot);
  const replay = await helpers.syncQueue(new ScanQueue(kv, 'door-1'));
  expect(replay).toMatchObject({ sent: 2, recorded: 0, conflicts: 0, pending: 0 });
  const after = await api.attendance(sessionA.id);
  expect(after.checked_in - before.checked_in).toBe(2);

  // another phone scanned 王 offline too: recorded as a conflict for staff, not a second check-in
  const other = new ScanQueue(memoryStorage(), 'door-2');
  await helpers.scan(passes.wang.token, sessionA.id, context, other, true);
  const merged = await helpers.syncQueue(other);
  expect(merged).toMatchObject({ recorded: 0, conflicts: 1 });
  expect(other.conflicts().map((s) => s.serial)).toEqual([passes.wang.serial]);
  expect((await api.attendance(sessionA.id))).toMatchObject({ checked_in: after.checked_in, conflicts: 1 });
});

test('online: the server records and answers; a lost answer is queued under the same client id', async () => {
  const queue = new ScanQueue(memoryStorage(), 'door-3');
  const online = await helpers.scan(passes.zhao.token, sessionA.id, context, queue, false);
  expect(online).toMatchObject({ result: 'ok', offline: false, name: '赵补发' });
  // another phone, online: the server knows 赵 is in, with the first scan's device
  const elsewhere = await helpers.scan(passes.zhao.token, sessionA.id, context, new ScanQueue(memoryStorage(), 'door-4'), false);
  expect(elsewhere).toMatchObject({ result: 'already_checked_in', offline: false, firstDevice: 'door-3' });
  // 李 again while the network drops: decided on the phone, queued; the merge knows it is a repeat
  const q = new ScanQueue(memoryStorage(), 'door-1');
  wx.__state.failNext = 1;
  const lost = await helpers.scan(passes.li.token, sessionA.id, context, q, false);
  expect(lost).toMatchObject({ result: 'ok', offline: true, queued: true });
  const report = await helpers.syncQueue(q);
  expect(report).toMatchObject({ sent: 1, recorded: 0, conflicts: 0 });
  // the server refuses what the phone refused
  const revoked = await api.checkin({ token: passes.zhaoOld.token, session_id: sessionA.id, client_id: 'x-1', device_id: 'door-3' });
  expect(revoked.result).toBe('revoked');
  const counts = await api.attendance(sessionA.id);
  expect(counts).toMatchObject({ approved: 4, checked_in: 3, not_yet: 1 });

  // the staff login expired at the door: no WeChat refresh (that would be a trainee's login), the
  // scan is judged on the phone and kept; the upload waits for the new login
  const staffToken = wx.getStorageSync('auth_token');
  wx.setStorageSync('auth_token', 'an-expired-staff-token');
  wx.__calls.length = 0;
  const late = new ScanQueue(memoryStorage(), 'door-5');
  const kept = await helpers.scan(passes.wang.token, sessionA.id, context, late, false);
  expect(kept).toMatchObject({ result: 'ok', offline: true, queued: true, name: '王签到' });
  await expect(helpers.syncQueue(late)).rejects.toMatchObject({ status: 401 });
  expect(late.pending().length).toBe(1);
  expect(wx.__callsOf('login')).toEqual([]); // no wx.login refresh
  expect(wx.__callsOf('reLaunch')).toEqual([]); // not sent to the trainees' login page
  wx.setStorageSync('auth_token', staffToken);
  expect(await helpers.syncQueue(late)).toMatchObject({ sent: 1, recorded: 0, conflicts: 1 }); // 王 was in already, on door-1
});

test('the bundle: a delta brings re-issues and revocations; an expired bundle is deleted', async () => {
  const kv = memoryStorage();
  setToken(wx.getStorageSync('auth_token'));
  const full = await helpers.downloadBundle(kv, sessionA.id, sessionA.name);
  const oldSerial = passes.li.serial;
  passes.li = await P.asToken(t.li.token, `/api/v1/enrollments/${t.li.enrollmentId}/pass/reissue`, { method: 'POST' });
  const merged = await helpers.downloadBundle(kv, sessionA.id, sessionA.name);
  expect(merged.version).toBeGreaterThan(full.version);
  expect(merged.revoked.sort()).toEqual([passes.zhaoOld.serial, oldSerial].sort());
  expect(merged.roster.map((e) => e.serial).sort()).toEqual([passes.wang.serial, passes.zhao.serial, passes.li.serial, passes.sun.serial].sort());
  const ctx = bundles.offlineContext(merged);
  expect(judgeOffline(passes.li.token, ctx, nowSeconds()).result).toBe('ok');
  // before the delta, the new pass was unknown to the phone: refused offline, the scanner asks for a refresh
  expect(judgeOffline(passes.li.token, bundles.offlineContext(full), nowSeconds()).result).toBe('not_in_roster');

  // valid at most PASS_BUNDLE_HOURS and never past the session's end: then deleted, roster chunks too
  const end = new Date(Date.parse(merged.valid_until) + 1000);
  expect(Date.parse(merged.valid_until) - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000 + 60000);
  expect(bundles.loadBundle(kv, sessionA.id, new Date())).not.toBeNull();
  expect(bundles.purgeExpired(kv, end)).toEqual([sessionA.id]);
  expect([...kv.map.keys()].filter((k) => k.startsWith('scan_bundle:'))).toEqual([]);
  expect(bundles.listBundles(kv)).toEqual([]);

  // on the phone's storage: the app deletes an expired bundle at launch, even if the scanner is never opened again
  const { wxStorage } = require('../scan/lib/store');
  const expired = new Date(Date.now() - 1000).toISOString(); // the session ended: the server's valid_until is past
  bundles.saveBundle(wxStorage, { ...merged, valid_until: expired }, sessionA.name);
  expect(wx.getStorageSync(`scan_bundle:${sessionA.id}:roster:0`)).toHaveLength(4);
  let app;
  global.App = (definition) => { app = definition; };
  jest.isolateModules(() => require('../app'));
  app.onLaunch();
  expect(wx.getStorageSync(`scan_bundle:${sessionA.id}`)).toBe('');
  expect(wx.getStorageSync(`scan_bundle:${sessionA.id}:roster:0`)).toBe('');
  expect(wx.getStorageSync('scan_bundles')).toEqual([]);
});

test('the pages: staff login (a wrong password refused), choose a session and download, scan offline then sync', async () => {
  const device = installScannerWx(wx);
  wx.removeStorageSync('auth_token');
  wx.removeStorageSync('scan_staff');
  wx.__calls.length = 0;

  // the trainees' login page leads staff to theirs
  const entry = loadPage('login');
  expect(entry.querySelector('.staff-link').dom.tagName).toBe('WX-NAVIGATOR');
  const url = /class="staff-link" url="\/([^"]+)"/.exec(require('fs').readFileSync(require.resolve('../pages/login/index.wxml'), 'utf8'))[1];
  const app = JSON.parse(require('fs').readFileSync(require.resolve('../app.json'), 'utf8'));
  expect(app.subPackages.find((p) => p.root === 'scan').pages.map((page) => `scan/${page}`)).toContain(url);
  expect(textOf(entry)).toContain('协会工作人员：扫码签到');

  const login = loadPage('scan/pages/login');
  login.instance.onInput(changeEvent({ field: 'username' }, 'scanner'));
  login.instance.onInput(changeEvent({ field: 'password' }, 'not-the-password'));
  await login.instance.onLogin();
  expect(textOf(login)).toMatch(/密码|账号/);
  expect(wx.__callsOf('redirectTo')).toEqual([]);
  login.instance.onInput(changeEvent({ field: 'password' }, scannerLogin.password));
  await login.instance.onLogin();
  // the right password: the page asks for the 动态验证码 (the password is kept), then logs in
  expect(wx.__callsOf('redirectTo')).toEqual([]);
  expect(textOf(login)).toContain('动态验证码');
  expect(login.data.askTotp).toBe(true);
  login.instance.onInput(changeEvent({ field: 'totpCode' }, await nextCode('scanner')));
  await login.instance.onLogin();
  expect(wx.__callsOf('redirectTo')[0].url).toBe('/scan/pages/sessions/index');

  const sessions = loadPage('scan/pages/sessions');
  await sessions.instance.onShow();
  const row = sessions.data.sessions.find((s) => s.id === sessionA.id);
  expect(row).toBeTruthy();
  await sessions.instance.onDownload({ currentTarget: { dataset: { id: sessionA.id, title: `${sessionA.name} ${row.code}` } } });
  expect(textOf(sessions)).toContain('已下载的离线包');
  expect(textOf(sessions)).toMatch(/4 人 · \d+ KB · 有效至/);
  sessions.instance.onScan({ currentTarget: { dataset: { id: sessionA.id } } });
  expect(wx.__callsOf('navigateTo').pop().url).toBe(`/scan/pages/scan/index?session=${sessionA.id}`);

  // at the door with no network: 孙 (green, from the bundle), a tampered pass (red), then the camera is closed
  device.network = 'none';
  const page = loadPage('scan/pages/scan');
  await page.instance.onLoad({ session: sessionA.id });
  expect(page.data.online).toBe(false);
  expect(textOf(page)).toContain('本机今日签到 / 离线名单人数');
  const seen = [];
  device.onScan = () => seen.push(page.data.answer);
  device.scans = [passes.sun.token, mutate(passes.sun.token, 3, 0x10)];
  await page.instance.onStart();
  expect(seen[1]).toMatchObject({ ok: true, name: '孙页面', offline: true, queued: true, message: '签到成功，请核对照片' });
  expect(seen[1].photo).toMatch(/^data:image\/jpeg;base64,\/9j\//); // the JPEG thumbnail from the bundle
  expect(page.data.answer).toMatchObject({ ok: false, message: '无效的听课证（签名不符或已被篡改）' });
  expect(textOf(page)).toContain('拒绝');
  expect(wx.__callsOf('vibrateShort').map((a) => a.type)).toEqual(['light', 'heavy']);
  expect(wx.__callsOf('playSound')).toEqual(['/scan/sounds/ok.wav', '/scan/sounds/refused.wav']);
  expect(page.data.pending).toBe(1);
  expect(textOf(page)).toMatch(/待上传 1 条/);

  // the always-on viewfinder sees 孙's code again and again: one answer (今日已签到 on this phone), not one per frame
  page.instance.onToggleCamera();
  expect(page.data.cameraMode).toBe(true);
  const vibrations = wx.__callsOf('vibrateShort').length;
  await Promise.all([1, 2, 3].map(() => page.instance.onCameraScan({ detail: { result: passes.sun.token } })));
  await page.instance.onCameraScan({ detail: { result: passes.sun.token } });
  expect(wx.__callsOf('vibrateShort').length - vibrations).toBe(1);
  expect(page.data.answer).toMatchObject({ ok: false, message: '今日已签到', name: '孙页面' });
  expect(page.data.pending).toBe(1);
  page.instance.onToggleCamera();

  // the network returns: the queue goes up by itself, the counts become the server's
  device.setNetwork('wifi');
  await until(() => page.data.pending === 0 && page.data.online && page.data.expected === 4 && page.data.checkedIn === 4);
  expect(wx.__callsOf('showToast').pop().title).toBe('已上传 1 条，新记录 1，冲突 0');
  expect(await api.attendance(sessionA.id)).toMatchObject({ approved: 4, checked_in: 4, not_yet: 0 });
  page.instance.onUnload();
  expect(device.listeners).toEqual([]);
});
