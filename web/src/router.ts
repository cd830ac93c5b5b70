// Routes: public pages (login, register…), and the app shell whose pages depend on the role.
// Every page is its own chunk (loaded when first opened).
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { onUnauthorized } from './api/client'
import { adminRoutes } from './admin/routes'
import { forget, loadMe, session } from './session'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    roles?: string[]
    title?: string
    restricted?: boolean // reachable with a one-time-secret login (password change only)
    totpSetup?: boolean // the enrolment page of a staff member without a second factor yet
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/login', component: () => import('./views/LoginView.vue'), meta: { public: true, title: '登录' } },
  { path: '/register', component: () => import('./views/RegisterView.vue'), meta: { public: true, title: '注册' } },
  { path: '/forgot', component: () => import('./views/ForgotView.vue'), meta: { public: true, title: '忘记密码' } },
  { path: '/activate', component: () => import('./views/ActivateView.vue'), meta: { public: true, title: '首次登录' } },
  { path: '/totp-setup', component: () => import('./views/TotpSetupView.vue'), meta: { title: '绑定身份验证器', totpSetup: true } },
  {
    path: '/',
    component: () => import('./views/ShellView.vue'),
    children: [
      { path: '', component: () => import('./views/HomeView.vue'), meta: { title: '首页' } },
      { path: 'password', component: () => import('./views/PasswordView.vue'), meta: { title: '修改密码', restricted: true } },
      { path: 'staff', component: () => import('./views/StaffListView.vue'), meta: { title: '单位人员管理', roles: ['unit'] } },
      { path: 'staff/new', component: () => import('./views/StaffAddView.vue'), meta: { title: '单独添加学员', roles: ['unit'] } },
      { path: 'staff/import', component: () => import('./views/StaffImportView.vue'), meta: { title: '批量导入学员', roles: ['unit'] } },
      { path: 'staff/bind', component: () => import('./views/StaffBindView.vue'), meta: { title: '绑定已注册学员', roles: ['unit'] } },
      { path: 'staff/photos', component: () => import('./views/StaffPhotosView.vue'), meta: { title: '批量上传照片', roles: ['unit'] } },
      { path: 'staff/:id', component: () => import('./views/StaffDetailView.vue'), meta: { title: '人员详情', roles: ['unit'] } },
      { path: 'enroll', component: () => import('./views/UnitEnrollView.vue'), meta: { title: '企业培训报名', roles: ['unit'] } },
      { path: 'profile', component: () => import('./views/ProfileView.vue'), meta: { title: '个人信息', roles: ['trainee'] } },
      { path: 'sessions', component: () => import('./views/SessionsView.vue'), meta: { title: '学员培训报名', roles: ['trainee'] } },
      { path: 'templates/addresses', component: () => import('./views/AddressesView.vue'), meta: { title: '物流信息管理', roles: ['trainee', 'unit'] } },
      { path: 'templates/invoices', component: () => import('./views/InvoicesView.vue'), meta: { title: '发票管理', roles: ['trainee', 'unit'] } },
      { path: 'pay', component: () => import('./views/PayView.vue'), meta: { title: '报名缴费', roles: ['trainee', 'unit'] } },
      { path: 'payments', component: () => import('./views/PaymentsView.vue'), meta: { title: '缴费记录', roles: ['trainee', 'unit'] } },
      { path: 'passes', component: () => import('./views/PassesView.vue'), meta: { title: '报名成功记录', roles: ['unit'] } },
      { path: 'my-pass', component: () => import('./views/MyPassView.vue'), meta: { title: '我的听课证', roles: ['trainee'] } },
      { path: 'results', component: () => import('./views/ResultsView.vue'), meta: { title: '考试管理-查看成绩', roles: ['trainee', 'unit'] } },
      ...adminRoutes,
      { path: ':rest(.*)*', component: () => import('./views/NotFoundView.vue'), meta: { title: '页面不存在' } },
    ],
  },
]

export const router = createRouter({ history: createWebHistory(), routes })

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const me = await loadMe()
  if (!me) return { path: '/login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
  if (me.must_change_password && !to.meta.restricted) return { path: '/password' }
  if (me.totp_setup_required && !to.meta.totpSetup) return { path: '/totp-setup' }
  if (!me.totp_setup_required && to.meta.totpSetup) return { path: '/' }
  if (to.meta.roles && !to.meta.roles.includes(me.role)) return { path: '/' }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} - 培训考试报名系统` : '培训考试报名系统'
})

onUnauthorized(() => {
  if (!session.me) return
  forget()
  void router.push({ path: '/login', query: { redirect: router.currentRoute.value.fullPath } })
})
