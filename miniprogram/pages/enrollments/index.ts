/**
 * 我的报名：状态、费用、缴费截止时间（驳回的附原因）；去缴费 / 重新缴费；缴费审核通过前可取消；
 * 审核通过的出示听课证；我的候补（可退出）；成绩与合格证。
 */
import { cancelEnrollment, leaveWaitlist, listEnrollments, listWaitlist } from '../../api/enrollments';
import { getSession } from '../../api/sessions';
import type { SessionDetail } from '../../api/types';
import { getToken } from '../../utils/auth';
import { type EnrollmentCard, toEnrollmentCard, toWaitlistCard, type WaitlistCard } from './helpers';

Component({
  data: {
    cards: [] as EnrollmentCard[],
    waiting: [] as WaitlistCard[],
    loaded: false,
    loggedIn: true,
    busyId: '',
  },
  methods: {
    onShow() {
      return this.load();
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    async load() {
      if (!getToken()) {
        this.setData({ loggedIn: false, loaded: true, cards: [], waiting: [] });
        return;
      }
      try {
        const [page, line] = await Promise.all([listEnrollments(), listWaitlist()]);
        this.setData({ waiting: line.items.map(toWaitlistCard) });
        const ids = Array.from(new Set(page.items.map((e) => e.session_id)));
        const sessions = await Promise.all(ids.map((id) => getSession(id, 'none').catch(() => undefined)));
        const byId: Record<string, SessionDetail> = {};
        sessions.forEach((s) => {
          if (s) byId[s.id] = s;
        });
        this.setData({ loggedIn: true, cards: page.items.map((e) => toEnrollmentCard(e, byId[e.session_id])) });
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loaded: true });
      }
    },

    onLogin() {
      wx.navigateTo({ url: '/pages/login/index' });
    },

    onOpenSession(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pages/session/index?id=${e.currentTarget.dataset.session}` });
    },

    /** 去缴费 / 重新缴费 (the pay page, this enrollment ticked; others may be added there). */
    onPay(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pay/pages/pay/index?ids=${e.currentTarget.dataset.id}` });
    },

    onOpenPayment(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pay/pages/payment/index?id=${e.currentTarget.dataset.id}` });
    },

    onMyPayments() {
      wx.navigateTo({ url: '/pay/pages/payments/index' });
    },

    /** 取消报名, after a confirmation. */
    onCancel(e: WechatMiniprogram.CustomEvent) {
      const id = e.currentTarget.dataset.id as string;
      return new Promise<void>((resolve) => {
        wx.showModal({
          title: '取消报名',
          content: '确定取消该报名吗？取消后名额将释放给其他学员。',
          confirmText: '取消报名',
          cancelText: '再想想',
          success: async (res) => {
            if (res.confirm) {
              await this.cancel(id);
            }
            resolve();
          },
          fail: () => resolve(),
        });
      });
    },

    async cancel(id: string) {
      this.setData({ busyId: id });
      try {
        await cancelEnrollment(id);
        wx.showToast({ title: '已取消报名', icon: 'none' });
        await this.load();
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ busyId: '' });
      }
    },

    /** 出示听课证 (the pass sub-package). */
    onPass(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pass/pages/pass/index?id=${e.currentTarget.dataset.id}` });
    },

    onResults() {
      wx.navigateTo({ url: '/pass/pages/results/index' });
    },

    /** 退出候补, after a confirmation. */
    onLeaveWaitlist(e: WechatMiniprogram.CustomEvent) {
      const id = e.currentTarget.dataset.id as string;
      return new Promise<void>((resolve) => {
        wx.showModal({
          title: '退出候补',
          content: '退出后将失去排位（为你保留的名额会转给下一位），确定退出吗？',
          confirmText: '退出候补',
          cancelText: '再想想',
          success: async (res) => {
            if (res.confirm) {
              this.setData({ busyId: id });
              try {
                await leaveWaitlist(id);
                wx.showToast({ title: '已退出候补', icon: 'none' });
                await this.load();
              } catch (error) {
                // shown by the request module
              } finally {
                this.setData({ busyId: '' });
              }
            }
            resolve();
          },
          fail: () => resolve(),
        });
      });
    },
  },
});
