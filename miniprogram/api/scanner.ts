/** The staff scanner's calls: staff login, sessions, the offline bundle, check-ins (issue 12/16). */
import { request } from './request';
import type { AccountOut, TokenOut } from './types';
import type { components } from './schema';

type S = components['schemas'];
export type BundleOut = S['BundleOut'];
export type CheckinOut = S['CheckinOut'];
export type CheckinBatchOut = S['CheckinBatchOut'];
export type DashboardOut = S['DashboardOut'];
export type OfflineScan = S['OfflineScan'];
export type ScannerKeys = S['ScannerKeys'];

/** Roles that may use the scanner. */
export const SCANNER_ROLES: ReadonlyArray<string> = ['scanner', 'admin'];
/** A scan waits this long for the server before it is kept offline (the door must not wait). */
export const ONLINE_TIMEOUT_MS = 4000;

/**
 * POST /auth/login with an association username and the 动态验证码 of the staff member's authenticator
 * (401 totp_required without it); the token is NOT stored (the caller checks the role first).
 */
export function staffLogin(account: string, password: string, totpCode?: string): Promise<TokenOut> {
  const data = totpCode ? { account, password, totp_code: totpCode } : { account, password };
  return request<TokenOut>('/api/v1/auth/login', { method: 'POST', data, auth: false, show: 'form' });
}

/** GET /me with a given token (before it is kept). */
export function whoIs(token: string): Promise<AccountOut> {
  return request<AccountOut>('/api/v1/me', { auth: false, header: { Authorization: `Bearer ${token}` } });
}

/** GET /scanner/keys. */
export function scannerKeys(): Promise<ScannerKeys> {
  return request<ScannerKeys>('/api/v1/scanner/keys', { refresh: false });
}

/** GET /scanner/sessions/{id}/bundle: the full bundle, or the delta after `since`. */
export function sessionBundle(sessionId: string, since?: number): Promise<BundleOut> {
  return request<BundleOut>(`/api/v1/scanner/sessions/${encodeURIComponent(sessionId)}/bundle`,
    { query: { since }, timeout: 60000, refresh: false });
}

/** POST /checkins: one scan online. Idempotent by client id, but never retried here (the door waits). */
export function checkin(scan: { token: string; session_id: string; client_id: string; device_id: string }): Promise<CheckinOut> {
  return request<CheckinOut>('/api/v1/checkins', { method: 'POST', data: scan, show: 'none', timeout: ONLINE_TIMEOUT_MS, refresh: false });
}

/** POST /checkins/batch: offline scans as facts (idempotent by client id, so it may be retried). */
export function checkinBatch(scans: OfflineScan[]): Promise<CheckinBatchOut> {
  return request<CheckinBatchOut>('/api/v1/checkins/batch', { method: 'POST', data: { scans }, show: 'none', idempotent: true, timeout: 60000, refresh: false });
}

/** GET /admin/sessions/{id}/attendance: approved, checked in, not yet, late, conflicts today. */
export function attendance(sessionId: string): Promise<DashboardOut> {
  return request<DashboardOut>(`/api/v1/admin/sessions/${encodeURIComponent(sessionId)}/attendance`, { show: 'none', refresh: false });
}
