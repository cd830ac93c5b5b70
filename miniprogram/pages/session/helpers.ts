/** Pure helpers of pages/session (tested without rendering). */
import type { SessionDetail, WaitlistOut } from '../../api/types';
import { formatDateTime } from '../../utils/format';


const REENROLLABLE = ['not_applied', 'cancelled', 'expired'];

export type Action = 'login' | 'enroll' | 'waitlist' | 'mine' | 'none';

/** What the main button of the detail does for this person. */
export function actionFor(s: SessionDetail, loggedIn: boolean): Action {
  if (!s.open_now) {
    return s.my_status && !REENROLLABLE.includes(s.my_status.code) ? 'mine' : 'none';
  }
  if (!loggedIn || !s.my_status) {
    return 'login';
  }
  if (!REENROLLABLE.includes(s.my_status.code)) {
    return 'mine';
  }
  return s.seats_left > 0 ? 'enroll' : 'waitlist';
}

/** My place in line in words: 候补中，排第 N 位 / 有空位，名额为你保留至 …. */
export function waitlistText(entry: WaitlistOut): string {
  if (entry.status === 'offered') {
    return `有空位了，名额为你保留至 ${formatDateTime(entry.offer_until)}，请尽快报名`;
  }
  return `候补中，排第 ${entry.position} 位`;
}
