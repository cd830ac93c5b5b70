/**
 * @jest-environment jsdom
 *
 * The ID photo page with the <camera> view: the face frame and its hint, the shutter, the
 * server's refusals (face too small, no face) explained, then a good picture accepted.
 * The pictures are the real ones the server's photo tests use (tests/fixtures/photos).
 */
'use strict';
const path = require('path');
const { loadPage, textOf } = require('./support/page');
const { FIXTURES } = require('./support/server');
const { newTrainee } = require('./support/accounts');

beforeAll(async () => {
  wx.__state.openid = 'openid-photo-camera';
  await newTrainee({ name: '韩雪' });
});

beforeEach(() => {
  wx.__calls.length = 0;
});

test('the camera opens only after consent, with a face-shaped frame and a hint', async () => {
  const page = loadPage('photo');
  await page.instance.onShow();
  page.instance.onOpenCamera();
  expect(page.data.camera).toBe(false);
  expect(wx.__callsOf('showToast')[0].title).toBe('请先阅读并同意照片用途说明');

  page.instance.onConsent({ detail: { checked: true } });
  page.instance.onOpenCamera();
  expect(page.data.camera).toBe(true);
  expect(page.querySelector('.face-frame')).toBeTruthy();
  expect(textOf(page)).toContain('请将面部放入框内，正对镜头，保持光线充足');
});

test('a picture too small and one without a face are refused with advice; a portrait is accepted', async () => {
  const page = loadPage('photo');
  await page.instance.onShow();
  page.instance.onConsent({ detail: { checked: true } });

  page.instance.onOpenCamera();
  wx.__state.cameraPhotoPath = path.join(FIXTURES, 'too_small.jpg');
  await page.instance.onShoot();
  expect(page.data.camera).toBe(false);
  expect(page.data.refusal.message).toBe('照片分辨率过低，请使用更清晰的照片');
  expect(textOf(page)).toContain('不要使用截图或压缩过的图片');

  wx.__state.chooseMediaPath = path.join(FIXTURES, 'no_face.jpg');
  await page.instance.onChoose();
  expect(wx.__callsOf('chooseMedia')[0]).toMatchObject({ camera: 'front', mediaType: ['image'] });
  expect(page.data.refusal.message).toBe('未检测到人脸，请正对镜头、光线充足后重新拍摄');
  expect(textOf(page)).toContain('在光线充足处拍摄，避免逆光');
  expect(page.data.photoPath).toBe('');

  page.instance.onOpenCamera();
  wx.__state.cameraPhotoPath = path.join(FIXTURES, 'portrait.png');
  await page.instance.onShoot();
  expect(page.data.refusal).toBeNull();
  expect(page.data.size).toBe('295×413');
  expect(page.data.photoPath).not.toBe('');
  expect(wx.__callsOf('showToast').map((t) => t.title)).toContain('证件照已更新');
});
