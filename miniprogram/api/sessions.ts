/** The catalog: sessions open for enrollment, with the caller's status in each. */
import { request } from './request';
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

/** GET /api/v1/sessions/{id}. */
export function getSession(id: string): Promise<SessionDetail> {
  return request<SessionDetail>(`/api/v1/sessions/${encodeURIComponent(id)}`);
}
