/** 我的缴费：每笔缴费的状态（待审核 / 已通过 / 已驳回及原因）、金额、缴费编号；点开看详情。 */
import { listPayments } from '../../../api/payments';
import { type PaymentCard, paymentCard } from '../../helpers';

Component({
  data: {
    cards: [] as PaymentCard[],
    loaded: false,
  },
  methods: {
    onShow() {
      return this.load();
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    async load() {
      try {
        const page = await listPayments();
        this.setData({ cards: page.items.map(paymentCard) });
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loaded: true });
      }
    },

    onOpen(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pay/pages/payment/index?id=${e.currentTarget.dataset.id}` });
    },

    onPay() {
      wx.navigateTo({ url: '/pay/pages/pay/index' });
    },
  },
});
