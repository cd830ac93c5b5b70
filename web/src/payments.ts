// Payments and passes in the web view: the payer's enrollments with names and sessions, the status
// labels, and the multipart submit of a payment (payload JSON + 1–5 proof images).
import { ApiError, api, call, readCookie, toApiError, type Schemas } from './api/client'
import { formatDate, maskId } from './format'

export type Payment = Schemas['PaymentOut']
export type Due = Schemas['PaymentDueOut']

/** An enrollment of the payer, with what the pages show beside it (person and session). */
export interface EnrollmentRow {
  id: string
  status: string
  statusLabel: string
  feeFen: number
  payBy: string | null
  sessionId: string
  session: string // "KQ-2026-01 课程名（第1期）"
  dates: string // "2026年12月10日 至 2026年12月12日"
  venue: string
  traineeName: string
  idMasked: string
  paymentId: string | null
  rejectionReason: string | null
}

/** Enrollments that may be paid (again, after a rejection). */
export const PAYABLE = new Set(['pending_payment', 'rejected'])
export const MAX_PROOFS = 5
export const PROOF_TYPES = 'image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif'

type Theme = 'default' | 'primary' | 'success' | 'warning' | 'danger'

/** Tag colour of an enrollment status (labels come from the server). */
export function enrollmentTheme(status: string): Theme {
  if (status === 'approved' || status.startsWith('completed')) return 'success'
  if (status === 'pending_payment' || status === 'payment_submitted') return 'warning'
  if (status === 'rejected') return 'danger'
  return 'default'
}

/** Tag colour of a payment status (待审核 / 已通过 / 已驳回). */
export function paymentTheme(status: string): Theme {
  return status === 'approved' ? 'success' : status === 'rejected' ? 'danger' : 'warning'
}

async function allPages<T>(fetchPage: (page: number) => Promise<{ items: T[]; total: number }>): Promise<T[]> {
  const items: T[] = []
  for (let page = 1; page <= 20; page += 1) {
    const answer = await fetchPage(page)
    items.push(...answer.items)
    if (items.length >= answer.total || !answer.items.length) break
  }
  return items
}

/** The caller's enrollments (a unit: its staff's), newest first, with names and session facts. */
export async function loadEnrollments(me: Schemas['AccountOut']): Promise<EnrollmentRow[]> {
  const enrollments = await allPages((page) => call(api.GET('/api/v1/enrollments', { params: { query: { page, page_size: 100 } } })))
  const people = new Map<string, { name: string; masked: string }>()
  if (me.role === 'unit') {
    const staff = await allPages((page) => call(api.GET('/api/v1/unit/staff', { params: { query: { page, page_size: 100 } } })))
    for (const person of staff) people.set(person.id, { name: person.name, masked: person.id_masked })
  } else {
    people.set(me.id, { name: me.name, masked: maskId(me.id_number ?? '') })
  }
  const sessionIds = [...new Set(enrollments.map((e) => e.session_id))]
  const sessions = new Map<string, Schemas['SessionDetail'] | null>()
  await Promise.all(sessionIds.map(async (id) => {
    sessions.set(id, await call(api.GET('/api/v1/sessions/{session_id}', { params: { path: { session_id: id } } })).catch(() => null))
  }))
  return enrollments.map((e) => {
    const s = sessions.get(e.session_id)
    const person = people.get(e.trainee_id)
    return {
      id: e.id,
      status: e.status.code,
      statusLabel: e.status.label,
      feeFen: e.fee_fen,
      payBy: e.pay_by,
      sessionId: e.session_id,
      session: s ? `${s.code} ${s.course_name}（${s.round}）` : '班次',
      dates: s ? `${formatDate(s.start_date)} 至 ${formatDate(s.end_date)}` : '',
      venue: s?.venue ?? '',
      traineeName: person?.name ?? '本单位人员',
      idMasked: person?.masked ?? '',
      paymentId: e.payment_id ?? null,
      rejectionReason: e.rejection_reason ?? null,
    }
  })
}

/** Rows grouped by session, in the order the sessions first appear. */
export function bySession(rows: EnrollmentRow[]): { sessionId: string; session: string; dates: string; venue: string; rows: EnrollmentRow[] }[] {
  const groups = new Map<string, { sessionId: string; session: string; dates: string; venue: string; rows: EnrollmentRow[] }>()
  for (const row of rows) {
    const group = groups.get(row.sessionId) ?? { sessionId: row.sessionId, session: row.session, dates: row.dates, venue: row.venue, rows: [] }
    group.rows.push(row)
    groups.set(row.sessionId, group)
  }
  return [...groups.values()]
}

/** What is due for these enrollments: the association's account, the amount and the reference. */
export async function loadDue(ids: string[]): Promise<Due> {
  return call(api.GET('/api/v1/payments/due', { params: { query: { enrollment_ids: ids.join(',') } } }))
}

/** ``POST /payments`` as multipart: the JSON payload and the proof images; an ApiError on refusal. */
export async function submitPayment(
  payload: { enrollment_ids: string[] } & ({ invoice_template_id: string } | { invoice: Schemas['InvoiceTemplateIn'] }), proofs: File[],
): Promise<Payment> {
  const body = new FormData()
  body.append('payload', JSON.stringify(payload))
  for (const file of proofs) body.append('proofs', file, file.name)
  let response: Response
  try {
    response = await fetch('/api/v1/payments', {
      method: 'POST', body, credentials: 'same-origin', headers: { 'X-XSRF-Token': readCookie('XSRF-TOKEN') },
    })
  } catch {
    throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试')
  }
  const parsed: unknown = await response.json().catch(() => null)
  if (response.ok) return parsed as Payment
  const error = toApiError(response.status, parsed)
  // A picture refused as a whole (too big, not an image) concerns the upload field.
  if ((error.status === 413 || error.status === 415) && !Object.keys(error.fields).length) error.fields.proofs = error.message
  throw error
}

/** Copy text to the clipboard; false where the browser refuses (the text stays selectable). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    return false
  }
}
