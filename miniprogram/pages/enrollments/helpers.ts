/** Pure helpers of pages/enrollments (tested without rendering). */
import type { EnrollmentOut, SessionDetail, WaitlistOut } from '../../api/types';
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
  /** approved: the pass (听课证) can be shown */
  hasPass: boolean;
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
    hasPass: e.status.code === 'approved',
  };
}

/** One of my places in line, as 我的报名 lists it. */
export interface WaitlistCard {
  id: string;
  sessionId: string;
  title: string;
  code: string;
  text: string;
  offered: boolean;
}

/** How a place in line is shown: the course, the session code, the place or the offer's deadline. */
export function toWaitlistCard(w: WaitlistOut): WaitlistCard {
  const offered = w.status === 'offered';
  return {
    id: w.id,
    sessionId: w.session_id,
    title: w.course_name || '班次',
    code: w.session_code || '',
    text: offered ? `有空位，名额保留至 ${formatDateTime(w.offer_until)}` : `候补中，排第 ${w.position} 位`,
    offered,
  };
}
