// The back-office menus, per staff role (admin sees all; reviewer and scanner their part).
import type { MenuEntry } from '../menus'

export const ADMIN_MENUS: Record<'admin' | 'reviewer' | 'scanner', MenuEntry[]> = {
  admin: [
    { label: '首页', path: '/' },
    { label: '培训管理', children: [
      { label: '课程管理', path: '/admin/courses' },
      { label: '班次管理', path: '/admin/sessions' },
      { label: '报名管理', path: '/admin/enrollments' },
    ] },
    { label: '签到管理', children: [{ label: '签到看板', path: '/admin/checkin' }] },
  ],
  reviewer: [
    { label: '首页', path: '/' },
    { label: '培训管理', children: [
      { label: '课程管理', path: '/admin/courses' },
      { label: '班次管理', path: '/admin/sessions' },
      { label: '报名管理', path: '/admin/enrollments' },
    ] },
  ],
  scanner: [
    { label: '首页', path: '/' },
    { label: '签到管理', children: [{ label: '签到看板', path: '/admin/checkin' }] },
  ],
}
