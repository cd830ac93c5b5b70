// The back-office menus, per staff role (admin sees all; reviewer and scanner their part).
import type { MenuEntry } from '../menus'

export const ADMIN_MENUS: Record<'admin' | 'reviewer' | 'scanner', MenuEntry[]> = {
  admin: [
    { label: '首页', path: '/' },
    { label: '缴费审核', path: '/review/payments' },
  ],
  reviewer: [
    { label: '首页', path: '/' },
    { label: '缴费审核', path: '/review/payments' },
  ],
  scanner: [
    { label: '首页', path: '/' },
  ],
}
