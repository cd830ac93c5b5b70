// The association's back office (协会后台): its pages, each with the staff roles that may open it.
// The API enforces the same roles; hiding a menu is only a convenience.
import type { RouteRecordRaw } from 'vue-router'

export const adminRoutes: RouteRecordRaw[] = [
  { path: 'admin/courses', component: () => import('../views/admin/CoursesView.vue'), meta: { title: '课程管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/sessions', component: () => import('../views/admin/SessionsView.vue'), meta: { title: '班次管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/enrollments', component: () => import('../views/admin/EnrollmentsView.vue'), meta: { title: '报名管理', roles: ['admin', 'reviewer'] } },
  { path: 'admin/checkin', component: () => import('../views/admin/CheckinView.vue'), meta: { title: '签到管理', roles: ['admin', 'scanner'] } },
]
