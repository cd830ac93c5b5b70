// The association's back office (协会后台): its pages, each with the staff roles that may open it.
// The API enforces the same roles; hiding a menu is only a convenience.
import type { RouteRecordRaw } from 'vue-router'

export const adminRoutes: RouteRecordRaw[] = [
  { path: 'review/payments', component: () => import('../views/admin/ReviewPaymentsView.vue'), meta: { title: '缴费审核', roles: ['admin', 'reviewer'] } },
  { path: 'admin/accounts', component: () => import('../views/admin/AccountsView.vue'), meta: { title: '账号管理', roles: ['admin'] } },
  { path: 'admin/units', component: () => import('../views/admin/UnitsView.vue'), meta: { title: '单位认证审核', roles: ['admin'] } },
  { path: 'admin/audit', component: () => import('../views/admin/AuditView.vue'), meta: { title: '审计日志', roles: ['admin'] } },
  { path: 'admin/settings', component: () => import('../views/admin/SettingsView.vue'), meta: { title: '系统设置', roles: ['admin'] } },
  { path: 'admin/jobs', component: () => import('../views/admin/JobsView.vue'), meta: { title: '后台任务', roles: ['admin'] } },
  { path: 'admin/results', component: () => import('../views/admin/ResultsAdminView.vue'), meta: { title: '成绩管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/results/import', component: () => import('../views/admin/ResultsImportView.vue'), meta: { title: '成绩导入', roles: ['admin', 'reviewer'] } },
  { path: 'admin/certificates', component: () => import('../views/admin/CertificatesAdminView.vue'), meta: { title: '合格证管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/courses', component: () => import('../views/admin/CoursesView.vue'), meta: { title: '课程管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/sessions', component: () => import('../views/admin/SessionsView.vue'), meta: { title: '班次管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/enrollments', component: () => import('../views/admin/EnrollmentsView.vue'), meta: { title: '报名管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/checkin', component: () => import('../views/admin/CheckinView.vue'), meta: { title: '签到管理', roles: ['admin', 'scanner'] } },
]
