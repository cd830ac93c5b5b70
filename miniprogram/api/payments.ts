/**
 * Payments by bank transfer: what is due, submitting the transfer screenshots, my payments, the
 * e-invoice PDF.
 *
 * Why submit() builds its own multipart body: the server takes a payment in ONE request (the
 * `payload` JSON and all 1–5 `proofs` files, checked and written in one transaction), while
 * wx.uploadFile sends exactly one file per request. So the files are read and put into one
 * multipart/form-data body here, sent by wx.request as an ArrayBuffer (request 合法域名, not
 * uploadFile). wx.request reports no upload progress, so progress is given by steps (reading each
 * picture, then sending).
 */
import { ApiError, buildUrl, readFileBytes, refreshLogin, request } from './request';
import type { InvoiceTemplateIn, PaymentDueOut, PaymentOut, PaymentPage } from './types';
import { getToken } from '../utils/auth';

/** The server's limits (server/handlers/payments/payments.py, server/services/payments). */
export const MAX_PROOFS = 5;
export const MAX_PROOF_BYTES = 8 * 1024 * 1024;
export const MAX_BODY_BYTES = 15 * 1024 * 1024;
const UPLOAD_TIMEOUT_MS = 120000;

/** One picture chosen with wx.chooseMedia. */
export interface ProofFile {
  path: string;
  size: number;
}

/** What the payment page sends besides the pictures: one of a template and typed details. */
export interface PaymentDetails {
  enrollmentIds: string[];
  invoiceTemplateId?: string;
  invoice?: InvoiceTemplateIn;
}

/** A step of a submit, for the page's progress bar. */
export interface SubmitProgress {
  step: 'reading' | 'sending' | 'done';
  /** 0–100 */
  percent: number;
  text: string;
}

/** GET /api/v1/payments/due: the account, the amount and the reference for the remark. */
export function paymentDue(enrollmentIds: string[]): Promise<PaymentDueOut> {
  return request<PaymentDueOut>('/api/v1/payments/due', {
    query: { enrollment_ids: enrollmentIds.join(',') }, show: 'none',
  });
}

/** GET /api/v1/payments: mine, newest first. */
export function listPayments(page = 1, pageSize = 50): Promise<PaymentPage> {
  return request<PaymentPage>('/api/v1/payments', { query: { page, page_size: pageSize } });
}

/** GET /api/v1/payments/{id} (the payer sees status and reason, never the OCR reading). */
export function getPayment(id: string): Promise<PaymentOut> {
  return request<PaymentOut>(`/api/v1/payments/${encodeURIComponent(id)}`);
}

/** UTF-8 bytes of a string (TextEncoder is missing on some WeChat runtimes). */
export function utf8(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    } else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
  }
  return out;
}

function contentTypeOf(path: string): string {
  const ext = (/\.([a-z0-9]+)$/i.exec(path) || ['', ''])[1].toLowerCase();
  return ({ png: 'image/png', webp: 'image/webp', heic: 'image/heic', heif: 'image/heif' } as Record<string, string>)[ext]
    || 'image/jpeg';
}

/** One multipart/form-data body: text fields, then files (name, filename, type, bytes). */
export function multipartBody(
  boundary: string,
  fields: Record<string, string>,
  files: { name: string; filename: string; type: string; data: ArrayBuffer }[],
): ArrayBuffer {
  const chunks: Uint8Array[] = [];
  const text = (s: string) => chunks.push(new Uint8Array(utf8(s)));
  Object.keys(fields).forEach((name) => {
    text(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${fields[name]}\r\n`);
  });
  files.forEach((f) => {
    text(`--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"; filename="${f.filename}"\r\n`
      + `Content-Type: ${f.type}\r\n\r\n`);
    chunks.push(new Uint8Array(f.data));
    text('\r\n');
  });
  text(`--${boundary}--\r\n`);
  const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  chunks.forEach((c) => {
    body.set(c, at);
    at += c.length;
  });
  return body.buffer;
}

/** A refusal before anything is sent (too many or too big pictures), in the server's words. */
export function checkProofs(files: ProofFile[]): string {
  if (!files.length) {
    return '请选择转账截图（1～5 张）';
  }
  if (files.length > MAX_PROOFS) {
    return `最多上传 ${MAX_PROOFS} 张截图`;
  }
  const big = files.findIndex((f) => f.size > MAX_PROOF_BYTES);
  if (big >= 0) {
    return `第 ${big + 1} 张截图超过 8 MB，请裁剪或截取后重新选择`;
  }
  if (files.reduce((n, f) => n + f.size, 0) > MAX_BODY_BYTES) {
    return '截图合计超过 15 MB，请减少张数或选择更小的截图';
  }
  return '';
}

/**
 * POST /api/v1/payments: the payload and all the pictures in one multipart body (see the top of
 * this file). The amount is not sent: the server computes it. Refusals are left to the page
 * (paymentErrorMessage); nothing is retried (a POST is never sent twice).
 */
export async function submitPayment(
  details: PaymentDetails, proofs: ProofFile[], onProgress: (p: SubmitProgress) => void = () => undefined,
): Promise<PaymentOut> {
  const refused = checkProofs(proofs);
  if (refused) {
    throw new ApiError(0, 'proofs_invalid', refused);
  }
  const files = [];
  for (let i = 0; i < proofs.length; i += 1) {
    onProgress({ step: 'reading', percent: Math.round((i * 40) / proofs.length), text: `正在读取截图 ${i + 1}/${proofs.length}` });
    const data = await readFileBytes(proofs[i].path);
    const type = contentTypeOf(proofs[i].path);
    files.push({ name: 'proofs', filename: `proof-${i + 1}.${type.split('/')[1].replace('jpeg', 'jpg')}`, type, data });
  }
  const payload: Record<string, unknown> = { enrollment_ids: details.enrollmentIds };
  if (details.invoiceTemplateId) {
    payload.invoice_template_id = details.invoiceTemplateId;
  } else {
    payload.invoice = details.invoice;
  }
  const boundary = `----mp${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`;
  const body = multipartBody(boundary, { payload: JSON.stringify(payload) }, files);
  onProgress({ step: 'sending', percent: 50, text: `正在上传（${(body.byteLength / 1024 / 1024).toFixed(1)} MB）` });
  const payment = await request<PaymentOut>('/api/v1/payments', {
    method: 'POST', data: body, header: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    show: 'none', timeout: UPLOAD_TIMEOUT_MS,
  });
  onProgress({ step: 'done', percent: 100, text: '已提交' });
  return payment;
}

/** A submit's refusal in plain Chinese, with what to do. */
export function paymentErrorMessage(err: unknown): string {
  // duck-typed: an ApiError of another copy of the module (tests reload modules) is one too
  const e = err as Partial<ApiError> | null;
  if (!e || typeof e.code !== 'string' || typeof e.status !== 'number') {
    return '提交失败，请重试';
  }
  const error = e as ApiError;
  switch (error.code) {
    case 'already_in_payment':
      return '所选报名已在一笔待审核的缴费中，无需重复提交；请在“我的缴费”查看';
    case 'already_paid':
      return '所选报名已缴费审核通过，无需再缴';
    case 'enrollment_closed':
      return '所选报名已取消或已过缴费期限，不能缴费';
    case 'enrollment_changed':
      return '报名状态刚刚发生变化，请返回刷新后重试';
    case 'enrollment_not_found':
      return '找不到所选报名，请返回刷新后重试';
    case 'network_error':
      return '网络连接失败，缴费未提交，请检查网络后重试';
    default:
      break;
  }
  if (error.status === 413) {
    return '截图太大：每张不超过 8 MB，合计不超过 15 MB，请减少张数或选择更小的截图';
  }
  if (error.status === 415) {
    return `${error.message}（请上传手机转账成功页面的截图：JPG、PNG、WebP 或 HEIC 图片）`;
  }
  const fields = Object.keys(error.fields || {});
  if (fields.length) {
    return error.fields[fields[0]];
  }
  return error.message;
}

/** The token-carrying GET of a file (wx.downloadFile); one login refresh on 401. */
function download(url: string, retried = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const token = getToken();
    wx.downloadFile({
      url,
      header: token ? { Authorization: `Bearer ${token}` } : {},
      success: async (res) => {
        if (res.statusCode === 200) {
          resolve(res.tempFilePath);
        } else if (res.statusCode === 401 && !retried && (await refreshLogin())) {
          download(url, true).then(resolve, reject);
        } else if (res.statusCode === 404) {
          reject(new ApiError(404, 'not_found', '发票文件尚未上传，请稍后再试'));
        } else {
          reject(new ApiError(res.statusCode, 'http_error', `下载失败（${res.statusCode}）`));
        }
      },
      fail: () => reject(new ApiError(0, 'network_error', '网络连接失败，请检查网络后重试')),
    });
  });
}

/** Download the e-invoice PDF (GET /payments/{id}/invoice.pdf) and open it (wx.openDocument). */
export async function openInvoicePdf(paymentId: string): Promise<string> {
  const filePath = await download(buildUrl(`/api/v1/payments/${encodeURIComponent(paymentId)}/invoice.pdf`));
  await new Promise<void>((resolve, reject) => {
    wx.openDocument({
      filePath, fileType: 'pdf', showMenu: true,
      success: () => resolve(),
      fail: (err) => reject(new ApiError(0, 'open_failed', `无法打开发票：${err.errMsg}`)),
    });
  });
  return filePath;
}
