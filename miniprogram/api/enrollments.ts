/** Enrollment: enroll, list mine, cancel, join and leave a full session's waitlist. */
import { request } from './request';
import type { EnrollmentOut, EnrollmentPage, WaitlistOut, WaitlistPage } from './types';

/**
 * POST /api/v1/enrollments (address required when the course mails books). Refusals are left to
 * the page (no toast): it turns no_photo and session_full into the next step.
 */
export function enroll(sessionId: string, addressId?: string): Promise<EnrollmentOut> {
  const data: { session_id: string; address_id?: string } = { session_id: sessionId };
  if (addressId) {
    data.address_id = addressId;
  }
  return request<EnrollmentOut>('/api/v1/enrollments', { method: 'POST', data, show: 'none' });
}

/** GET /api/v1/enrollments: mine, newest first. */
export function listEnrollments(page = 1, pageSize = 50): Promise<EnrollmentPage> {
  return request<EnrollmentPage>('/api/v1/enrollments', { query: { page, page_size: pageSize } });
}

/** GET /api/v1/enrollments/{id}. */
export function getEnrollment(id: string): Promise<EnrollmentOut> {
  return request<EnrollmentOut>(`/api/v1/enrollments/${encodeURIComponent(id)}`);
}

/** POST /api/v1/enrollments/{id}/cancel (before the payment is approved). */
export function cancelEnrollment(id: string): Promise<EnrollmentOut> {
  return request<EnrollmentOut>(`/api/v1/enrollments/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
}

/** POST /api/v1/waitlist: wait for a seat in a full session. */
export function joinWaitlist(sessionId: string): Promise<WaitlistOut> {
  return request<WaitlistOut>('/api/v1/waitlist', { method: 'POST', data: { session_id: sessionId } });
}

/** GET /api/v1/waitlist: my open places in line (waiting or offered), with session code and course. */
export function listWaitlist(): Promise<WaitlistPage> {
  return request<WaitlistPage>('/api/v1/waitlist');
}

/** POST /api/v1/waitlist/{id}/leave: leave the line (a held seat goes to the next in line). */
export function leaveWaitlist(entryId: string): Promise<WaitlistOut> {
  return request<WaitlistOut>(`/api/v1/waitlist/${encodeURIComponent(entryId)}/leave`, { method: 'POST' });
}
