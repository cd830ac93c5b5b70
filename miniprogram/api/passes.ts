/** The trainee's pass (听课证): the QR text and its PDF. */
import { openPdf, request } from './request';
import type { PassOut } from './types';

/**
 * GET /api/v1/enrollments/{id}/pass: the valid pass of an approved enrollment (issued on the first
 * request). Nothing is shown here: the pass page falls back to the stored pass when offline.
 */
export function getPass(enrollmentId: string): Promise<PassOut> {
  return request<PassOut>(`/api/v1/enrollments/${encodeURIComponent(enrollmentId)}/pass`, { show: 'none' });
}

/** GET /api/v1/enrollments/{id}/pass.pdf (A6) with wx.downloadFile, opened with wx.openDocument. */
export function openPassPdf(enrollmentId: string): Promise<string> {
  return openPdf(`/api/v1/enrollments/${encodeURIComponent(enrollmentId)}/pass.pdf`,
    '听课证暂不可下载（报名未通过审核或已取消）');
}
