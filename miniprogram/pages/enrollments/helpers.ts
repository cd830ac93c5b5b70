/** Pure helpers of pages/enrollments (tested without rendering). */
import type { EnrollmentOut, SessionDetail } from '../../api/types';
import { deadlineText, formatDate, formatDateTime, formatMoney, statusTheme } from '../../utils/format';


const CANCELLABLE = ['pending_payment', 'payment_submitted'];

export interface EnrollmentCard {
  id: string;
  sessionId: string;
  title: string;
  code: string;
  statusLabel: string;
  statusTheme: string;
  fee: string;
  enrolledOn: string;
  payBy: string;
  cancellable: boolean;
  address: string;
  /** 待缴费 or 驳回: the pay page can take it */
  payable: boolean;
  /** a rejected payment's reason */
  reason: string;
  paymentId: string;
}

/** How one enrollment is shown (its session's name when known). */
export function toEnrollmentCard(e: EnrollmentOut, session: SessionDetail | undefined, now: number = Date.now()): EnrollmentCard {
  const pending = e.status.code === 'pending_payment' || e.status.code === 'rejected';
  return {
    id: e.id,
    sessionId: e.session_id,
    title: session ? session.course_name : '班次',
    code: session ? `${session.code}　${session.round}` : '',
    statusLabel: e.status.label,
    statusTheme: statusTheme(e.status.code),
    fee: formatMoney(e.fee_fen),
    enrolledOn: formatDate(e.created_at),
    payBy: pending && e.pay_by ? `${formatDateTime(e.pay_by)}（${deadlineText(e.pay_by, now)}）` : '',
    cancellable: CANCELLABLE.includes(e.status.code),
    address: e.address ? `${e.address.recipient}　${e.address.region}${e.address.address}` : '',
    payable: pending,
    reason: e.status.code === 'rejected' ? e.rejection_reason || '' : '',
    paymentId: e.payment_id || '',
  };
}
