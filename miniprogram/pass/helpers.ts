/**
 * Pure helpers of the pass and results pages, and the pass kept on the phone.
 *
 * Offline: every pass downloaded is kept with wx.setStorageSync (`pass:<enrollment id>`): the QR
 * text, serial and validity, and the session facts printed beside it (course, dates, venue). The
 * door's Wi-Fi is often poor: when the request fails for want of network, the page shows the kept
 * pass with a 离线 hint; the QR is the same signed token, so the scanner accepts it. A refusal by
 * the server (the enrollment was cancelled, the pass revoked) drops the kept copy instead.
 */
import type { CertificateOut, PassOut, ResultOut, SessionDetail } from '../api/types';
import { formatDate, formatDateRange, formatDateTime } from '../utils/format';

const STORAGE_PREFIX = 'pass:';

/** The session facts printed on the pass (a copy, so the pass shows offline). */
export interface PassSession {
  course: string;
  code: string;
  dates: string;
  venue: string;
}

/** What is kept on the phone for one enrollment. */
export interface StoredPass {
  pass: PassOut;
  session: PassSession | null;
  /** when it was downloaded (ISO) */
  savedAt: string;
}

/** The storage key of an enrollment's pass. */
export function passKey(enrollmentId: string): string {
  return STORAGE_PREFIX + enrollmentId;
}

/** The session facts of a session detail. */
export function passSession(s: SessionDetail): PassSession {
  return { course: s.course_name, code: `${s.code}　${s.round}`, dates: formatDateRange(s.start_date, s.end_date), venue: s.venue };
}

/** Keep the pass (and its session facts) for offline use. */
export function storePass(stored: StoredPass): void {
  wx.setStorageSync(passKey(stored.pass.enrollment_id), stored);
}

/** The pass kept for the enrollment, or null. */
export function storedPass(enrollmentId: string): StoredPass | null {
  const value = wx.getStorageSync(passKey(enrollmentId)) as StoredPass | '';
  return value && typeof value === 'object' && value.pass && value.pass.token ? value : null;
}

/** Forget the kept pass (the server no longer stands by it). */
export function dropPass(enrollmentId: string): void {
  wx.removeStorageSync(passKey(enrollmentId));
}

/** How the pass page shows a pass. */
export interface PassView {
  token: string;
  serial: string;
  /** the serial in groups of four, easier to read out at the door */
  serialShown: string;
  valid: boolean;
  validity: string;
  course: string;
  code: string;
  dates: string;
  venue: string;
  offline: boolean;
  savedAt: string;
}

/** The pass page's view of a pass (fresh or kept). */
export function passView(stored: StoredPass, offline: boolean): PassView {
  const { pass, session } = stored;
  return {
    token: pass.token,
    serial: pass.serial,
    serialShown: pass.serial.toUpperCase().replace(/(.{4})(?=.)/g, '$1 '),
    valid: pass.status === 'valid',
    validity: `${formatDate(pass.valid_from)} 至 ${formatDate(pass.valid_to)}`,
    course: session ? session.course : '',
    code: session ? session.code : '',
    dates: session ? session.dates : '',
    venue: session ? session.venue : '',
    offline,
    savedAt: formatDateTime(stored.savedAt),
  };
}

/** One published result as the results page lists it. */
export interface ResultRow {
  id: string;
  course: string;
  code: string;
  verdict: string;
  verdictTheme: 'success' | 'danger' | 'warning';
  score: string;
  publishedOn: string;
}

const VERDICT_THEMES: Record<string, ResultRow['verdictTheme']> = { passed: 'success', failed: 'danger', absent: 'warning' };

/** How a result is shown: 合格 green, 不合格 red, 缺考 orange; no score for 缺考. */
export function resultRow(r: ResultOut): ResultRow {
  return {
    id: r.id,
    course: r.course_name,
    code: r.session_code,
    verdict: r.verdict_label,
    verdictTheme: VERDICT_THEMES[r.verdict] || 'warning',
    score: r.score === null || r.score === undefined ? '—' : `${r.score} 分`,
    publishedOn: formatDate(r.published_at),
  };
}

/** One certificate as the results page lists it. */
export interface CertificateRow {
  id: string;
  number: string;
  course: string;
  hours: string;
  dates: string;
  issuedOn: string;
  valid: boolean;
  statusLabel: string;
  reason: string;
}

/** How a certificate is shown (a revoked one with its reason, and no download). */
export function certificateRow(c: CertificateOut): CertificateRow {
  return {
    id: c.id,
    number: c.number,
    course: c.course,
    hours: `${c.hours} 学时`,
    dates: formatDateRange(c.start_date, c.end_date),
    issuedOn: formatDate(c.issued_on),
    valid: c.status === 'valid',
    statusLabel: c.status_label,
    reason: c.status === 'revoked' ? c.revoke_reason || '' : '',
  };
}
