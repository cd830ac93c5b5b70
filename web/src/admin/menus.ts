// The back-office menus, per staff role (admin sees all; reviewer and scanner their part).
import type { MenuEntry } from '../menus'

export const ADMIN_MENUS: Record<'admin' | 'reviewer' | 'scanner', MenuEntry[]> = {
  admin: [
    { label: '首页', path: '/' },
  ],
  reviewer: [
    { label: '首页', path: '/' },
  ],
  scanner: [
    { label: '首页', path: '/' },
  ],
}
