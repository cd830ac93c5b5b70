// The back-office menus, per staff role (admin sees all; reviewer and scanner their part).
import type { MenuEntry } from '../menus'

export const ADMIN_MENUS: Record<'admin' | 'reviewer' | 'scanner', MenuEntry[]> = {
  admin: [
    { label: '首页', path: '/' },
    { label: '成绩与合格证', children: [
      { label: '成绩管理', path: '/admin/results' },
      { label: '成绩导入', path: '/admin/results/import' },
      { label: '合格证管理', path: '/admin/certificates' },
    ] },
  ],
  reviewer: [
    { label: '首页', path: '/' },
    { label: '成绩与合格证', children: [
      { label: '成绩管理', path: '/admin/results' },
      { label: '成绩导入', path: '/admin/results/import' },
      { label: '合格证管理', path: '/admin/certificates' },
    ] },
  ],
  scanner: [
    { label: '首页', path: '/' },
  ],
}
