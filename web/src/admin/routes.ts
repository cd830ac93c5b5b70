// The association's back office (协会后台): its pages, each with the staff roles that may open it.
// The API enforces the same roles; hiding a menu is only a convenience.
import type { RouteRecordRaw } from 'vue-router'

export const adminRoutes: RouteRecordRaw[] = [
  { path: 'review/payments', component: () => import('../views/admin/ReviewPaymentsView.vue'), meta: { title: '缴费审核', roles: ['admin', 'reviewer'] } },
]
