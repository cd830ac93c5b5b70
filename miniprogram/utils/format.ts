/**
 * Chinese display conventions: dates in Beijing time (2025年12月6日), money in yuan with
 * two decimals (¥1,200.00), and a TDesign tag theme for each status code.
 */

const BEIJING_OFFSET_MS = 8 * 3600 * 1000;
const WEEKDAYS = ['日', '一', '二', '三', '四', '五', '六'];

function pad(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** The Beijing calendar fields of an ISO date ("2025-12-06") or date-time (with offset). */
function beijingParts(value: string): { y: number; m: number; d: number; hh: number; mm: number; wd: number } | null {
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (dateOnly) {
    const y = Number(dateOnly[1]);
    const m = Number(dateOnly[2]);
    const d = Number(dateOnly[3]);
    return { y, m, d, hh: 0, mm: 0, wd: new Date(Date.UTC(y, m - 1, d)).getUTCDay() };
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    return null;
  }
  const shifted = new Date(time + BEIJING_OFFSET_MS);
  return {
    y: shifted.getUTCFullYear(),
    m: shifted.getUTCMonth() + 1,
    d: shifted.getUTCDate(),
    hh: shifted.getUTCHours(),
    mm: shifted.getUTCMinutes(),
    wd: shifted.getUTCDay(),
  };
}

/** "2025年12月6日" (a date or a date-time shown in Beijing time); '' for nothing. */
export function formatDate(value: string | null | undefined): string {
  const p = value ? beijingParts(value) : null;
  return p ? `${p.y}年${p.m}月${p.d}日` : '';
}

/** "2025年12月6日（周六）". */
export function formatDateWeekday(value: string | null | undefined): string {
  const p = value ? beijingParts(value) : null;
  return p ? `${p.y}年${p.m}月${p.d}日（周${WEEKDAYS[p.wd]}）` : '';
}

/** "2025年12月6日 14:05" in Beijing time. */
export function formatDateTime(value: string | null | undefined): string {
  const p = value ? beijingParts(value) : null;
  return p ? `${p.y}年${p.m}月${p.d}日 ${pad(p.hh)}:${pad(p.mm)}` : '';
}

/** "12月6日 — 12月19日", or with years when they differ. */
export function formatDateRange(start: string, end: string): string {
  const a = beijingParts(start);
  const b = beijingParts(end);
  if (!a || !b) {
    return '';
  }
  if (a.y !== b.y) {
    return `${formatDate(start)} 至 ${formatDate(end)}`;
  }
  return `${a.y}年${a.m}月${a.d}日 至 ${b.m}月${b.d}日`;
}

/** Fen to "¥1,200.00" (integer arithmetic, no float rounding). */
export function formatMoney(fen: number): string {
  const negative = fen < 0;
  const abs = Math.abs(Math.round(fen));
  const yuan = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}¥${yuan}.${pad(abs % 100)}`;
}

/** Days left until a deadline, in words: "还剩 3 天", "今天截止", "已过期". */
export function deadlineText(value: string | null | undefined, now: number = Date.now()): string {
  if (!value) {
    return '';
  }
  const due = Date.parse(value);
  if (Number.isNaN(due)) {
    return '';
  }
  if (due <= now) {
    return '已过期';
  }
  const days = Math.floor((due - now) / (24 * 3600 * 1000));
  return days === 0 ? '今天截止' : `还剩 ${days} 天`;
}

type TagTheme = 'default' | 'primary' | 'success' | 'warning' | 'danger';

// The codes of server/models/enrollments.py (EnrollmentStatus) and ``not_applied``.
const STATUS_THEMES: Record<string, TagTheme> = {
  not_applied: 'default',
  pending_payment: 'warning',
  payment_submitted: 'primary',
  approved: 'success',
  rejected: 'danger',
  cancelled: 'default',
  expired: 'default',
};

/** The tag colour of a status code (the label itself always comes from the server). */
export function statusTheme(code: string | null | undefined): TagTheme {
  return (code && STATUS_THEMES[code]) || 'default';
}
