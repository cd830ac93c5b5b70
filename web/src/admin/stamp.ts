// Instants in the back office as staff read them in a spreadsheet: 2026-12-03 14:30 (Beijing time).

const PARTS = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  hour12: false,
})

/** 2026-12-03T06:30:00Z → 2026-12-03 14:30; empty → —. */
export function stamp(value: string | null | undefined): string {
  if (!value) return '—'
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) return value
  const part = Object.fromEntries(PARTS.formatToParts(time).map((p) => [p.type, p.value]))
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`
}
