/** The person's units: see them and leave. */
import { request } from './request';
import type { MyUnitList } from './types';

/** GET /api/v1/me/units. */
export function listMyUnits(): Promise<MyUnitList> {
  return request<MyUnitList>('/api/v1/me/units');
}

/** DELETE /api/v1/me/units/{id}: leave the unit (its consent goes too). */
export function leaveUnit(unitId: string): Promise<unknown> {
  return request(`/api/v1/me/units/${encodeURIComponent(unitId)}`, { method: 'DELETE' });
}
