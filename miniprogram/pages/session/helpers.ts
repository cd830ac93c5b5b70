/** Pure helpers of pages/session (tested without rendering). */
import type { SessionDetail } from '../../api/types';


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
