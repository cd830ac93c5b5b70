// Helpers of the back-office pages: filters that stick (URL query + localStorage), Beijing dates
// as staff read them (2026-12-03, 2026-12-03 09:30), session labels.
import { reactive } from 'vue'
import { useRoute, useRouter } from 'vue-router'

/**
 * Filters kept in the URL query (shareable, back button) and in localStorage (the page opens
 * with the last filters used). The URL wins when it names any filter. Values are strings.
 */
export function useStickyFilters<T extends Record<string, string>>(key: string, defaults: T) {
  const route = useRoute()
  const router = useRouter()
  const filters = reactive({ ...defaults }) as T
  const names = Object.keys(defaults) as (keyof T & string)[]
  const fromUrl = names.some((name) => typeof route.query[name] === 'string')
  let saved: Record<string, unknown> = {}
  try {
    saved = fromUrl ? route.query : JSON.parse(localStorage.getItem(storageKey(key)) ?? '{}')
  } catch {
    saved = {}
  }
  for (const name of names) {
    const value = saved[name]
    if (typeof value === 'string') (filters as Record<string, string>)[name] = value
  }
  /** Write the filters to the URL and localStorage (call after each change). */
  function persist(): void {
    const query: Record<string, string> = {}
    for (const name of names) if (filters[name] !== defaults[name] && filters[name] !== '') query[name] = filters[name]
    try { localStorage.setItem(storageKey(key), JSON.stringify(query)) } catch { /* private mode: the URL still has them */ }
    void router.replace({ query })
  }
  /** Back to the defaults (and persist). */
  function reset(): void {
    Object.assign(filters, defaults)
    persist()
  }
  return { filters, persist, reset }
}

function storageKey(key: string): string {
  return `office.filters.${key}`
}

const BEIJING_PARTS = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  hourCycle: 'h23',
})

/** An instant in Beijing time: 2026-12-03 09:30. */
export function stamp(value: string | null | undefined): string {
  if (!value) return '—'
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) return value
  const p = Object.fromEntries(BEIJING_PARTS.formatToParts(time).map((x) => [x.type, x.value]))
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`
}

/** A date as staff read it: 2026-12-03 (a date is already a Beijing day). */
export function day(value: string | null | undefined): string {
  return value ? value.slice(0, 10) : '—'
}

/** Today in Beijing: 2026-12-03. */
export function todayBeijing(): string {
  return stamp(new Date().toISOString()).slice(0, 10)
}

export const SESSION_STATUS: Record<string, { label: string; theme: 'default' | 'success' | 'warning' }> = {
  draft: { label: '草稿', theme: 'warning' },
  published: { label: '已发布', theme: 'success' },
  closed: { label: '已结束', theme: 'default' },
}

export const ENROLLMENT_STATUS: Record<string, string> = {
  pending_payment: '待缴费', payment_submitted: '待审核', approved: '通过', rejected: '驳回', cancelled: '已取消',
  expired: '已过期', completed: '已结业', completed_passed: '已结业（合格）', completed_failed: '已结业（不合格）',
  absent: '缺考',
}

/** How a session is named in pickers: 岩土工程勘察专项培训 · YT-2026-01 一期. */
export function sessionLabel(s: { code: string; round: string; course_name: string }): string {
  return `${s.course_name} · ${s.code} ${s.round}`
}
