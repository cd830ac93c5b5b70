// The payment review screen's non-visual parts: filters kept in the URL and localStorage, the
// conflict message, the invoice upload, the prefetch of the next proof image.
import { ApiError, readCookie, toApiError, type Schemas } from './api/client'

export type Payment = Schemas['PaymentOut']
export type RejectReason = Schemas['RejectReasonOut']

export interface ReviewFilters {
  status: 'submitted' | 'approved' | 'rejected' | 'all'
  session_id: string
  unit_id: string
  flag: string
}

export const DEFAULT_FILTERS: ReviewFilters = { status: 'submitted', session_id: '', unit_id: '', flag: '' }
const STORAGE_KEY = 'review.payments.filters'
const STATUSES = new Set(['submitted', 'approved', 'rejected', 'all'])
const ID = /^[0-9a-f]{24}$/
const FLAG = /^[a-z_]{1,40}$/

/** The filters of a URL query (anything malformed is dropped); null when the query has none. */
export function filtersOfQuery(query: Record<string, unknown>): ReviewFilters | null {
  const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : '')
  if (!['status', 'session_id', 'unit_id', 'flag'].some((k) => text(k))) return null
  return clean({ status: text('status'), session_id: text('session_id'), unit_id: text('unit_id'), flag: text('flag') })
}

function clean(raw: Record<string, string>): ReviewFilters {
  return {
    status: (STATUSES.has(raw.status) ? raw.status : 'submitted') as ReviewFilters['status'],
    session_id: ID.test(raw.session_id ?? '') ? raw.session_id : '',
    unit_id: ID.test(raw.unit_id ?? '') ? raw.unit_id : '',
    flag: FLAG.test(raw.flag ?? '') ? raw.flag : '',
  }
}

/** The filters last used on this browser (the URL wins when it has some). */
export function storedFilters(): ReviewFilters {
  try {
    const raw = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Record<string, string> | null
    return raw ? clean(raw) : { ...DEFAULT_FILTERS }
  } catch {
    return { ...DEFAULT_FILTERS }
  }
}

export function storeFilters(filters: ReviewFilters): void {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(filters))
}

/** The URL query of the filters (only what differs from the defaults). */
export function queryOfFilters(filters: ReviewFilters): Record<string, string> {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries(filters)) {
    if (value && value !== DEFAULT_FILTERS[key as keyof ReviewFilters]) query[key] = value
  }
  return query
}

/** An instant as the back office lists it, in Beijing time: 2026-12-03 14:07. */
export function formatStamp(value: string | null | undefined): string {
  if (!value) return '—'
  const time = new Date(value)
  if (Number.isNaN(time.getTime())) return value
  return new Date(time.getTime() + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')
}

const DECISION_LABELS: Record<string, string> = { approved: '审核通过', rejected: '驳回' }

/** "该缴费已由 审核员 张敏 于 2026年12月3日 14:30 处理为 审核通过" from a 409 already_decided. */
export function conflictMessage(reference: string, error: ApiError): string {
  const d = error.details as { reviewer_name?: string; decision?: string; at?: string; reason?: string }
  const who = d.reviewer_name || '其他审核人员'
  const what = DECISION_LABELS[d.decision ?? ''] ?? '其他状态'
  const why = d.decision === 'rejected' && d.reason ? `（${d.reason}）` : ''
  return `缴费 ${reference}：该缴费已由 ${who} 于 ${formatStamp(d.at)} 处理为 ${what}${why}，您的操作未生效。`
}

/** Record the invoice of an approved payment (multipart: number, date, type, medium, optional PDF). */
export async function putInvoice(
  paymentId: string, fields: Record<string, string>, file: File | null,
): Promise<Schemas['InvoiceRecordedOut']> {
  const body = new FormData()
  for (const [name, value] of Object.entries(fields)) body.append(name, value)
  if (file) body.append('file', file, file.name)
  let response: Response
  try {
    response = await fetch(`/api/v1/review/payments/${paymentId}/invoice`, {
      method: 'PUT', body, credentials: 'same-origin', headers: { 'X-XSRF-Token': readCookie('XSRF-TOKEN') },
    })
  } catch {
    throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试')
  }
  const parsed: unknown = await response.json().catch(() => null)
  if (response.ok) return parsed as Schemas['InvoiceRecordedOut']
  throw toApiError(response.status, parsed)
}

const warmed = new Map<string, Promise<void>>()

/** Fetch and decode an image ahead of showing it (the next payment's first proof). */
export function warmImage(url: string): Promise<void> {
  let done = warmed.get(url)
  if (!done) {
    const image = new Image()
    image.src = url
    done = image.decode().catch(() => undefined)
    warmed.set(url, done)
    if (warmed.size > 40) warmed.delete(warmed.keys().next().value as string)
  }
  return done
}

/** Where the OCR's reading differs from what is expected (a hard flag) or needs a look (soft). */
export function flagTheme(flag: Schemas['OcrFlagOut']): 'danger' | 'warning' {
  return flag.soft ? 'warning' : 'danger'
}

export const FLAG_FILTERS: { value: string; label: string }[] = [
  { value: '', label: '全部' },
  { value: 'any', label: '有明确提示' },
  { value: 'soft', label: '仅需人工核对' },
  { value: 'none', label: '无提示' },
  { value: 'amount_mismatch', label: '金额不符' },
  { value: 'duplicate_screenshot', label: '重复截图' },
  { value: 'payee_mismatch', label: '收款方不符' },
  { value: 'account_mismatch', label: '收款账号不符' },
  { value: 'reference_missing', label: '备注无缴费编号' },
]

export const STATUS_FILTERS: { value: ReviewFilters['status']; label: string }[] = [
  { value: 'submitted', label: '待审核' },
  { value: 'approved', label: '已通过' },
  { value: 'rejected', label: '已驳回' },
  { value: 'all', label: '全部' },
]
