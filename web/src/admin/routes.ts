// The association's back office (协会后台): its pages, each with the staff roles that may open it.
// The API enforces the same roles; hiding a menu is only a convenience.
import type { RouteRecordRaw } from 'vue-router'

export const adminRoutes: RouteRecordRaw[] = [
  { path: 'admin/results', component: () => import('../views/admin/ResultsAdminView.vue'), meta: { title: '成绩管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/results/import', component: () => import('../views/admin/ResultsImportView.vue'), meta: { title: '成绩导入', roles: ['admin', 'reviewer'] } },
  { path: 'admin/certificates', component: () => import('../views/admin/CertificatesAdminView.vue'), meta: { title: '合格证管理', roles: ['admin', 'reviewer'] } },
]
