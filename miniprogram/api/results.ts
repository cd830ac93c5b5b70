/** Exam results (查看成绩) and certificates (合格证): only what the association has published. */
import { openPdf, request } from './request';
import type { CertificatePage, ResultPage } from './types';

/** GET /api/v1/results: my published results, newest first. */
export function listResults(page = 1, pageSize = 50): Promise<ResultPage> {
  return request<ResultPage>('/api/v1/results', { query: { page, page_size: pageSize } });
}

/** GET /api/v1/certificates: my certificates (valid or revoked), newest first. */
export function listCertificates(page = 1, pageSize = 50): Promise<CertificatePage> {
  return request<CertificatePage>('/api/v1/certificates', { query: { page, page_size: pageSize } });
}

/** GET /api/v1/certificates/{id}/pdf (A4) with wx.downloadFile, opened with wx.openDocument. */
export function openCertificatePdf(certificateId: string): Promise<string> {
  return openPdf(`/api/v1/certificates/${encodeURIComponent(certificateId)}/pdf`, '合格证暂不可下载');
}
