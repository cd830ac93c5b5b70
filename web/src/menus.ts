// The menus of the manual, per role; only what is built is listed.
import { ADMIN_MENUS } from './admin/menus'

export interface MenuEntry { label: string; path?: string; children?: MenuEntry[] }

export const MENUS: Record<string, MenuEntry[]> = {
  unit: [
    { label: '首页', path: '/' },
    { label: '报名缴费管理', children: [
      { label: '企业培训报名', path: '/enroll' },
      { label: '企业报名缴费', path: '/pay' },
      { label: '缴费记录', path: '/payments' },
      { label: '报名成功记录', path: '/passes' },
    ] },
    { label: '单位人员管理', children: [
      { label: '人员列表', path: '/staff' },
      { label: '单独添加学员', path: '/staff/new' },
      { label: '绑定已注册学员', path: '/staff/bind' },
      { label: '批量导入学员', path: '/staff/import' },
      { label: '批量上传照片', path: '/staff/photos' },
    ] },
    { label: '考试管理', children: [{ label: '查看成绩', path: '/results' }] },
    { label: '模板管理', children: [
      { label: '企业物流信息管理', path: '/templates/addresses' },
      { label: '企业发票管理', path: '/templates/invoices' },
    ] },
    { label: '个人中心', children: [{ label: '修改密码', path: '/password' }] },
  ],
  trainee: [
    { label: '首页', path: '/' },
    { label: '报名缴费管理', children: [
      { label: '学员培训报名', path: '/sessions' },
      { label: '学员报名缴费', path: '/pay' },
      { label: '缴费记录', path: '/payments' },
      { label: '我的听课证', path: '/my-pass' },
    ] },
    { label: '考试管理', children: [{ label: '查看成绩', path: '/results' }] },
    { label: '模板管理', children: [
      { label: '学员物流信息管理', path: '/templates/addresses' },
      { label: '学员发票管理', path: '/templates/invoices' },
    ] },
    { label: '个人中心', children: [{ label: '个人信息', path: '/profile' }, { label: '修改密码', path: '/password' }] },
  ],
  ...ADMIN_MENUS,
}

export function menuFor(role: string): MenuEntry[] {
  return MENUS[role] ?? [{ label: '首页', path: '/' }, { label: '个人中心', children: [{ label: '修改密码', path: '/password' }] }]
}
