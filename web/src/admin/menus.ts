// The back-office menus, per staff role (admin sees all; reviewer and scanner their part).
import type { MenuEntry } from '../menus'

const TRAINING: MenuEntry = { label: '培训管理', children: [
  { label: '课程管理', path: '/admin/courses' },
  { label: '班次管理', path: '/admin/sessions' },
  { label: '报名管理', path: '/admin/enrollments' },
] }

const CHECKIN: MenuEntry = { label: '签到管理', children: [{ label: '签到看板', path: '/admin/checkin' }] }

const RESULTS: MenuEntry = { label: '成绩与合格证', children: [
  { label: '成绩管理', path: '/admin/results' },
  { label: '成绩导入', path: '/admin/results/import' },
  { label: '合格证管理', path: '/admin/certificates' },
] }

export const ADMIN_MENUS: Record<'admin' | 'reviewer' | 'scanner', MenuEntry[]> = {
  admin: [
    { label: '首页', path: '/' },
    TRAINING,
    { label: '缴费审核', path: '/review/payments' },
    CHECKIN,
    RESULTS,
    { label: '账号与单位', children: [
      { label: '账号管理', path: '/admin/accounts' },
      { label: '单位认证审核', path: '/admin/units' },
    ] },
    { label: '系统管理', children: [
      { label: '系统设置', path: '/admin/settings' },
      { label: '后台任务', path: '/admin/jobs' },
      { label: '审计日志', path: '/admin/audit' },
    ] },
  ],
  reviewer: [
    { label: '首页', path: '/' },
    TRAINING,
    { label: '缴费审核', path: '/review/payments' },
    RESULTS,
  ],
  scanner: [
    { label: '首页', path: '/' },
    CHECKIN,
  ],
}
