/**
 * The one place that calls wx.request / wx.uploadFile.
 *
 * - base URL from config/index.ts; the bearer token from utils/auth.ts;
 * - a 401 on an authenticated call refreshes the login once (wx.login → POST /auth/wechat,
 *   shared by concurrent callers) and retries the call once;
 * - network failures are retried only for idempotent calls (GET, PUT, DELETE, HEAD);
 * - the server's error envelope {"error": {code, message, details}} becomes an ApiError,
 *   shown as a toast, or left to the form as per-field messages (details.fields) on a 422.
 */
import { apiBase } from '../config/index';
import { clearToken, getToken, setToken } from '../utils/auth';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD';
type Query = Record<string, string | number | boolean | null | undefined>;

const IDEMPOTENT: ReadonlySet<Method> = new Set<Method>(['GET', 'PUT', 'DELETE', 'HEAD']);
/** Extra attempts after a network failure of an idempotent call, and the first wait. */
export const NETWORK_RETRIES = 2;
const RETRY_BASE_MS = 300;
const TIMEOUT_MS = 15000;
export const LOGIN_PAGE = '/pages/login/index';

/** A refused or failed call: HTTP status (0 for no answer), stable code, Chinese message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** Per-field Chinese messages of a 422 (field path → message). */
  readonly fields: Record<string, string>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    const fields = details.fields;
    this.fields = fields && typeof fields === 'object' ? (fields as Record<string, string>) : {};
  }
}

export interface RequestOptions {
  method?: Method;
  /** JSON body, or raw bytes (with a content type in `header`). */
  data?: unknown;
  query?: Query;
  header?: Record<string, string>;
  /** Send the bearer token (default true). */
  auth?: boolean;
  /**
   * How a refusal is shown: 'toast' (default) toasts every error; 'form' toasts only errors
   * without per-field messages (the page shows err.fields beside its inputs); 'none' shows nothing.
   */
  show?: 'toast' | 'form' | 'none';
  /** Override the idempotency of the method (e.g. a POST the server de-duplicates). */
  idempotent?: boolean;
  /** Milliseconds before giving up (default 15 s; uploads of several pictures need longer). */
  timeout?: number;
  /**
   * Refresh the login by WeChat on a 401 (default true). The staff scanner says false: its token is
   * a staff login, which a WeChat login cannot renew; the 401 is thrown to it instead.
   */
  refresh?: boolean;
}

interface RawResponse {
  statusCode: number;
  data: unknown;
}

interface Transport {
  (url: string, options: RequestOptions, token: string): Promise<RawResponse>;
}

/** The full URL of an API path with its query string. */
export function buildUrl(path: string, query?: Query): string {
  const parts: string[] = [];
  if (query) {
    for (const key of Object.keys(query)) {
      const value = query[key];
      if (value !== undefined && value !== null && value !== '') {
        parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
      }
    }
  }
  return `${apiBase()}${path}${parts.length ? `?${parts.join('&')}` : ''}`;
}

class NetworkError extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const sendJson: Transport = (url, options, token) =>
  new Promise((resolve, reject) => {
    const header: Record<string, string> = { ...(options.header || {}) };
    if (token) {
      header.Authorization = `Bearer ${token}`;
    }
    if (options.data !== undefined && !header['content-type'] && !header['Content-Type']) {
      header['content-type'] = 'application/json';
    }
    wx.request({
      url,
      method: (options.method || 'GET') as 'GET',
      data: options.data as WechatMiniprogram.IAnyObject,
      header,
      timeout: options.timeout || TIMEOUT_MS,
      dataType: 'json',
      success: (res) => resolve({ statusCode: res.statusCode, data: res.data }),
      fail: (err) => reject(new NetworkError(err.errMsg)),
    });
  });

/** The ApiError of a non-2xx answer: the envelope when there is one, else the status alone. */
export function toApiError(statusCode: number, data: unknown): ApiError {
  const body = typeof data === 'string' ? safeParse(data) : data;
  const error = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof e.code === 'string' && typeof e.message === 'string') {
      const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : {};
      return new ApiError(statusCode, e.code, e.message, details);
    }
  }
  if (statusCode >= 500) {
    return new ApiError(statusCode, 'server_error', '服务器开小差了，请稍后再试');
  }
  return new ApiError(statusCode, 'http_error', `请求失败（${statusCode}）`);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return null;
  }
}

/** Show an error the way `show` asks (see RequestOptions.show). */
export function presentError(error: ApiError, show: RequestOptions['show'] = 'toast'): void {
  if (show === 'none') {
    return;
  }
  if (show === 'form' && Object.keys(error.fields).length > 0) {
    return;
  }
  wx.showToast({ title: error.message, icon: 'none', duration: 2500 });
}

let refreshing: Promise<boolean> | null = null;

/** wx.login → POST /auth/wechat; true when a new token was stored. One at a time. */
export function refreshLogin(): Promise<boolean> {
  if (!refreshing) {
    refreshing = doRefresh().then((ok) => {
      refreshing = null;
      return ok;
    });
  }
  return refreshing;
}

async function doRefresh(): Promise<boolean> {
  try {
    const code = await wxLoginCode();
    const res = await sendJson(buildUrl('/api/v1/auth/wechat'), { method: 'POST', data: { code } }, '');
    const token = (res.data as { token?: unknown } | null)?.token;
    if (res.statusCode === 200 && typeof token === 'string') {
      setToken(token);
      return true;
    }
  } catch (error) {
    // no network or wx.login failed: the caller reports the original 401
  }
  return false;
}

/** The code of wx.login(). */
export function wxLoginCode(): Promise<string> {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res.code ? resolve(res.code) : reject(new Error('wx.login returned no code'))),
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

async function withRetries(send: () => Promise<RawResponse>, retry: boolean): Promise<RawResponse> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof NetworkError) || !retry || attempt >= NETWORK_RETRIES) {
        throw new ApiError(0, 'network_error', '网络连接失败，请检查网络后重试');
      }
      await sleep(RETRY_BASE_MS * 2 ** attempt);
    }
  }
}

async function call<T>(path: string, options: RequestOptions, transport: Transport): Promise<T> {
  const method = options.method || 'GET';
  const retry = options.idempotent !== undefined ? options.idempotent : IDEMPOTENT.has(method);
  const useAuth = options.auth !== false;
  const url = buildUrl(path, options.query);
  let token = useAuth ? getToken() : '';
  try {
    let res = await withRetries(() => transport(url, options, token), retry);
    if (res.statusCode === 401 && useAuth && options.refresh !== false) {
      if (await refreshLogin()) {
        token = getToken();
        res = await withRetries(() => transport(url, options, token), retry);
      }
      if (res.statusCode === 401) {
        clearToken();
        onLoginRequired();
      }
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      return (typeof res.data === 'string' && res.data ? safeParse(res.data) ?? res.data : res.data) as T;
    }
    throw toApiError(res.statusCode, res.data);
  } catch (error) {
    const apiError = error instanceof ApiError ? error : new ApiError(0, 'client_error', '操作失败，请重试');
    presentError(apiError, options.show);
    throw apiError;
  }
}

function onLoginRequired(): void {
  const pages = typeof getCurrentPages === 'function' ? getCurrentPages() : [];
  const current = pages.length ? `/${pages[pages.length - 1].route}` : '';
  if (current !== LOGIN_PAGE) {
    wx.reLaunch({ url: LOGIN_PAGE });
  }
}

/** A JSON call to the API; resolves with the parsed body, rejects with a shown ApiError. */
export function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return call<T>(path, options, sendJson);
}

export interface UploadOptions extends RequestOptions {
  /** Local file path (from wx.chooseMedia, <camera>, …). */
  filePath: string;
  /** Multipart field name of the file. */
  name: string;
  /** Other multipart fields. */
  formData?: Record<string, string>;
}

/** A multipart POST of one file (wx.uploadFile); same token, refresh and error rules. */
export function upload<T>(path: string, options: UploadOptions): Promise<T> {
  const transport: Transport = (url, _opts, token) =>
    new Promise((resolve, reject) => {
      const header: Record<string, string> = { ...(options.header || {}) };
      if (token) {
        header.Authorization = `Bearer ${token}`;
      }
      wx.uploadFile({
        url,
        filePath: options.filePath,
        name: options.name,
        formData: options.formData,
        header,
        timeout: 60000,
        success: (res) => resolve({ statusCode: res.statusCode, data: res.data }),
        fail: (err) => reject(new NetworkError(err.errMsg)),
      });
    });
  return call<T>(path, { ...options, method: 'POST' }, transport);
}

/** Read a local file as bytes (for raw-body uploads such as PUT /me/photo). */
export function readFileBytes(filePath: string): Promise<ArrayBuffer> {
  return new Promise((resolve, reject) => {
    wx.getFileSystemManager().readFile({
      filePath,
      success: (res) => resolve(res.data as ArrayBuffer),
      fail: (err) => reject(new ApiError(0, 'file_unreadable', `无法读取文件：${err.errMsg}`)),
    });
  });
}

/**
 * A token-carrying GET of a file (wx.downloadFile, downloadFile 合法域名) opened with
 * wx.openDocument: pass and certificate PDFs. One login refresh on 401; the server's refusal
 * (404/409) comes back as an ApiError with `notFound` or the status in plain Chinese.
 */
export function openPdf(path: string, notFound: string): Promise<string> {
  const fetchFile = (retried: boolean): Promise<string> => new Promise((resolve, reject) => {
    const token = getToken();
    wx.downloadFile({
      url: buildUrl(path),
      header: token ? { Authorization: `Bearer ${token}` } : {},
      success: async (res) => {
        if (res.statusCode === 200) {
          resolve(res.tempFilePath);
        } else if (res.statusCode === 401 && !retried && (await refreshLogin())) {
          fetchFile(true).then(resolve, reject);
        } else if (res.statusCode === 404 || res.statusCode === 409) {
          reject(new ApiError(res.statusCode, 'not_available', notFound));
        } else {
          reject(new ApiError(res.statusCode, 'http_error', `下载失败（${res.statusCode}）`));
        }
      },
      fail: () => reject(new ApiError(0, 'network_error', '网络连接失败，请检查网络后重试')),
    });
  });
  return fetchFile(false).then((filePath) => new Promise<string>((resolve, reject) => {
    wx.openDocument({
      filePath, fileType: 'pdf', showMenu: true,
      success: () => resolve(filePath),
      fail: (err) => reject(new ApiError(0, 'open_failed', `无法打开文件：${err.errMsg}`)),
    });
  }));
}
