// Chinese conventions for what the pages show: dates, money, masked numbers.

const BEIJING = 'Asia/Shanghai'

/** 2025-12-06 → 2025年12月6日 (a date alone is shown as given: it is a Beijing date). */
export function formatDate(value: string | null | undefined): string {
  if (!value) return '—'
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  if (match) return `${match[1]}年${Number(match[2])}月${Number(match[3])}日`
  const ym = /^(\d{4})-(\d{2})$/.exec(value)
  if (ym) return `${ym[1]}年${Number(ym[2])}月`
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) return value
  return new Intl.DateTimeFormat('zh-CN', {
    timeZone: BEIJING, year: 'numeric', month: 'long', day: 'numeric',
  }).format(time)
}

/** An instant in Beijing time: 2025年12月6日 14:30. */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '—'
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) return value
  const parts = new Intl.DateTimeFormat('zh-CN', {
    timeZone: BEIJING, year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(time)
  return parts
}

/** Fen → ¥1,200.00. */
export function formatMoney(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return '—'
  return `¥${(fen / 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
}

export const ROLE_LABELS: Record<string, string> = {
  trainee: '学员', unit: '单位', admin: '协会管理员', reviewer: '协会审核员', scanner: '协会核验员',
}

export const ACCOUNT_STATUS: Record<string, { label: string; theme: 'success' | 'warning' | 'danger' }> = {
  active: { label: '已激活', theme: 'success' },
  pending: { label: '待激活', theme: 'warning' },
  disabled: { label: '已停用', theme: 'danger' },
}

/** 110105…002X → 1101**********002X, as the server masks (an ID number is never shown in full in a list). */
export function maskId(value: string): string {
  if (value.length < 8) return value
  return value.slice(0, 4) + '*'.repeat(value.length - 8) + value.slice(-4)
}

/** 13812345678 → 138****5678 (a phone number on screen, as the mini-program shows it). */
export function maskPhone(value: string | null | undefined): string {
  if (!value) return '—'
  return value.length === 11 ? `${value.slice(0, 3)}****${value.slice(-4)}` : value
}
