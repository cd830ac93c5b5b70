/** The scanner sub-package's glue between its pages, the API and the pure libraries in lib/. */
import { ApiError } from '../api/request';
import { SCANNER_ROLES, checkin, checkinBatch, sessionBundle, staffLogin, whoIs } from '../api/scanner';
import { clearToken, setToken } from '../utils/auth';
import { type StoredBundle, loadBundle, offlineContext, saveBundle } from './lib/bundle';
import { type ScanQueue, type SyncReport } from './lib/queue';
import { type ScanOutcome, scanOnce } from './lib/scanner';
import type { KeyValue } from './lib/store';
import type { OfflineContext } from './lib/token';

export const STAFF_KEY = 'scan_staff';
export const LOGIN_URL = '/scan/pages/login/index';

export interface Staff {
  name: string;
  role: string;
}

/**
 * Log a staff member in with username and password; only the scanner and admin roles may enter
 * (anyone else is refused and their token is not kept). The token goes where the request module
 * reads it.
 */
export async function loginStaff(kv: KeyValue, username: string, password: string, totpCode?: string): Promise<Staff> {
  const login = await staffLogin(username.trim(), password, totpCode);
  if (login.totp_setup_required) {
    // The authenticator is enrolled on the web view (a QR to scan with the phone): not here.
    throw new ApiError(403, 'totp_setup_required', '请先在电脑上登录网页版，绑定身份验证器后再使用扫码签到');
  }
  const { token } = login;
  const me = await whoIs(token);
  if (!SCANNER_ROLES.includes(me.role)) {
    throw new ApiError(403, 'not_scanner', '此账号不是验证员，不能使用扫码签到');
  }
  setToken(token);
  const staff = { name: me.name, role: me.role };
  kv.set(STAFF_KEY, staff);
  return staff;
}

/** Leave the scanner (the token and the staff name; bundles are kept until they expire). */
export function logoutStaff(kv: KeyValue): void {
  kv.remove(STAFF_KEY);
  clearToken();
}

export function currentStaff(kv: KeyValue): Staff | null {
  const staff = kv.get(STAFF_KEY);
  return staff && typeof staff === 'object' ? (staff as Staff) : null;
}

/** Download the session's bundle: the delta after the kept one's version, or all of it. */
export async function downloadBundle(kv: KeyValue, sessionId: string, title: string, now: Date = new Date()): Promise<StoredBundle> {
  const kept = loadBundle(kv, sessionId, now);
  const incoming = await sessionBundle(sessionId, kept ? kept.version : undefined);
  return saveBundle(kv, incoming, title, now);
}

/** "1.2 MB", "860 KB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** One scan of the scan page: judged on the phone, sent online unless `offline`. */
export function scan(text: string, sessionId: string, context: OfflineContext, queue: ScanQueue, offline: boolean,
  now: Date = new Date()): Promise<ScanOutcome> {
  return scanOnce({ text, sessionId, context, queue, sendOnline: offline ? undefined : checkin, now });
}

/** Upload the pending offline scans. */
export function syncQueue(queue: ScanQueue): Promise<SyncReport> {
  return queue.sync((scans) => checkinBatch(scans));
}

export { offlineContext };
