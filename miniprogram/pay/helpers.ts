/** Pure helpers of the pay sub-package (tested without rendering). */
import type { EnrollmentOut, InvoiceTemplateOut, PaymentOut, SessionDetail } from '../api/types';
import { formatDate, formatDateTime, formatMoney } from '../utils/format';

/** Enrollment statuses that may be paid (a rejected payment's enrollments are paid again). */
export const PAYABLE = ['pending_payment', 'rejected'];

/** One enrollment the payer may tick on the pay page. */
export interface PayableRow {
  id: string;
  title: string;
  code: string;
  fee: string;
  statusLabel: string;
  statusTheme: string;
  payBy: string;
  reason: string;
  checked: boolean;
}

/** My enrollments that can be paid now, the `selected` ones ticked. */
export function payableRows(
  enrollments: EnrollmentOut[], sessions: Record<string, SessionDetail>, selected: string[],
): PayableRow[] {
  return enrollments.filter((e) => PAYABLE.includes(e.status.code)).map((e) => {
    const s = sessions[e.session_id];
    return {
      id: e.id,
      title: s ? s.course_name : '班次',
      code: s ? `${s.code}　${s.round}` : '',
      fee: formatMoney(e.fee_fen),
      statusLabel: e.status.label,
      statusTheme: e.status.code === 'rejected' ? 'danger' : 'warning',
      payBy: e.pay_by ? formatDateTime(e.pay_by) : '',
      reason: e.status.code === 'rejected' ? e.rejection_reason || '' : '',
      checked: selected.includes(e.id),
    };
  });
}

/** The account number in groups of four (easier to read aloud and compare). */
export function groupDigits(number: string): string {
  return number.replace(/\s+/g, '').replace(/(\d{4})(?=\d)/g, '$1 ');
}

/** A picker label of an invoice template. */
export function invoiceTemplateLabel(t: InvoiceTemplateOut): string {
  const kind = t.kind === 'special' ? '专票' : '普票';
  return `${t.title}${t.tax_id ? `（${t.tax_id}）` : ''} · ${kind}${t.is_default ? '（默认）' : ''}`;
}

const PAYMENT_THEMES: Record<string, string> = { submitted: 'primary', approved: 'success', rejected: 'danger' };

/** How a payment shows in my list and on its detail page. */
export interface PaymentCard {
  id: string;
  reference: string;
  statusLabel: string;
  statusTheme: string;
  amount: string;
  courses: string;
  people: string;
  submittedAt: string;
  reason: string;
  rejected: boolean;
  enrollmentIds: string[];
  invoiceTitle: string;
  invoiceLine: string;
  invoiceNumber: string;
  invoiceDetail: string;
  hasInvoicePdf: boolean;
  proofCount: number;
  reviewedAt: string;
  ocrState: string;
  ocrReadings: string[];
  ocrHints: string[];
}

/** The OCR reading of the payer's pictures, one line each (识别结果, for reference: a reviewer decides). */
function ocrLines(p: PaymentOut): { state: string; readings: string[]; hints: string[] } {
  const ocr = p.ocr;
  if (!ocr || ocr.status === 'pending') return { state: '正在识别转账截图…', readings: [], hints: [] };
  if (ocr.status === 'failed') return { state: '截图未能自动识别，将由人工核对', readings: [], hints: [] };
  const readings = ocr.readings.map((r, i) => [
    `第 ${i + 1} 张`,
    r.amount_fen !== null ? formatMoney(r.amount_fen) : '金额未识别',
    r.payee_name || '收款方未识别',
    r.paid_at ? formatDateTime(r.paid_at) : '',
  ].filter(Boolean).join(' · '));
  return { state: '', readings, hints: ocr.flags.map((f) => f.message) };
}

/** The payer's view of a payment: status, reason, invoice, and the OCR reading of their pictures. */
export function paymentCard(p: PaymentOut): PaymentCard {
  const courses = Array.from(new Set(p.lines.map((l) => l.course_name).filter(Boolean)));
  const names = Array.from(new Set(p.lines.map((l) => l.trainee_name)));
  const issue = p.invoice_issue;
  const inv = p.invoice;
  return {
    id: p.id,
    reference: p.reference,
    statusLabel: p.status_label,
    statusTheme: PAYMENT_THEMES[p.status] || 'default',
    amount: formatMoney(p.amount_fen),
    courses: courses.join('、'),
    people: names.length > 3 ? `${names.slice(0, 3).join('、')} 等 ${names.length} 人` : names.join('、'),
    submittedAt: formatDateTime(p.submitted_at),
    reason: p.status === 'rejected' && p.review ? p.review.reason || '' : '',
    rejected: p.status === 'rejected',
    enrollmentIds: p.lines.map((l) => l.enrollment_id),
    invoiceTitle: inv.title,
    invoiceLine: `${inv.kind === 'special' ? '增值税专用发票' : '普通发票'} · ${inv.medium === 'paper' ? '纸质' : '电子'}`
      + `${inv.tax_id ? ` · 税号 ${inv.tax_id}` : ''}`,
    invoiceNumber: issue ? issue.number : '',
    invoiceDetail: issue ? `${formatDate(issue.date)} · ${issue.type_label} · ${issue.medium_label}` : '',
    hasInvoicePdf: !!(issue && issue.has_file),
    proofCount: p.proofs.length,
    reviewedAt: p.review ? formatDateTime(p.review.at) : '',
    ...((o) => ({ ocrState: o.state, ocrReadings: o.readings, ocrHints: o.hints }))(ocrLines(p)),
  };
}
