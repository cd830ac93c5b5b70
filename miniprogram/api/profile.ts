/** The trainee's own profile and ID photo. */
import { buildUrl, readFileBytes, request } from './request';
import type { PhotoOut, ProfileOut, ProfileUpdate } from './types';
import { getToken } from '../utils/auth';

/** GET /api/v1/me/profile. */
export function getProfile(): Promise<ProfileOut> {
  return request<ProfileOut>('/api/v1/me/profile');
}

/** PUT /api/v1/me/profile. */
export function updateProfile(body: ProfileUpdate): Promise<ProfileOut> {
  return request<ProfileOut>('/api/v1/me/profile', { method: 'PUT', data: body, show: 'form' });
}

/**
 * PUT /api/v1/me/photo with the image bytes and ?consent=true. wx.uploadFile can only POST,
 * so the file is read and sent as the raw body (the endpoint accepts image/jpeg or image/png).
 * Refusals (no face, two faces, too small) come back as a 422 ApiError with the server's message.
 */
export async function uploadPhoto(filePath: string, consent: boolean): Promise<PhotoOut> {
  const bytes = await readFileBytes(filePath);
  const type = /\.png$/i.test(filePath) ? 'image/png' : 'image/jpeg';
  return request<PhotoOut>('/api/v1/me/photo', {
    method: 'PUT', data: bytes, query: { consent }, header: { 'content-type': type }, show: 'none',
  });
}

/**
 * The stored photo (295×413 JPEG) as a local file for <image>: GET /api/v1/me/photo needs the
 * bearer token, so it is downloaded with wx.downloadFile. Resolves '' when there is none.
 */
export function downloadPhoto(): Promise<string> {
  return new Promise((resolve) => {
    wx.downloadFile({
      url: buildUrl('/api/v1/me/photo'),
      header: { Authorization: `Bearer ${getToken()}` },
      success: (res) => resolve(res.statusCode === 200 ? res.tempFilePath : ''),
      fail: () => resolve(''),
    });
  });
}
