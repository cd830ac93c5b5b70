/** The catalog: sessions open for enrollment, with the caller's status in each. */
import { request, type RequestOptions } from './request';
import type { SessionDetail, SessionPage } from './types';

export interface SessionQuery {
  page?: number;
  page_size?: number;
  q?: string;
  open_now?: boolean;
}

/** GET /api/v1/sessions. */
export function listSessions(query: SessionQuery = {}): Promise<SessionPage> {
  return request<SessionPage>('/api/v1/sessions', { query: { ...query } });
}

/** GET /api/v1/sessions/{id} (`show: 'none'` where a missing session is not worth a toast). */
export function getSession(id: string, show: RequestOptions['show'] = 'toast'): Promise<SessionDetail> {
  return request<SessionDetail>(`/api/v1/sessions/${encodeURIComponent(id)}`, { show });
}
