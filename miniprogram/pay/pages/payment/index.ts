/**
 * 缴费详情：状态（待审核 / 已通过 / 已驳回及原因）、缴费编号、金额、每位学员、发票信息；驳回后可重新缴费；
 * 已开具电子发票时可下载查看（wx.downloadFile + wx.openDocument）。付款人看不到 OCR 预审结果
 * （只给审核人员），服务器也不会返回给付款人。
 */
import { getPayment, openInvoicePdf } from '../../../api/payments';
import { ApiError } from '../../../api/request';
import type { PaymentLineOut } from '../../../api/types';
import { formatMoney } from '../../../utils/format';
import { type PaymentCard, paymentCard } from '../../helpers';

interface LineRow {
  id: string;
  name: string;
  idMasked: string;
  course: string;
  fee: string;
}

function lineRow(l: PaymentLineOut): LineRow {
  return {
    id: l.enrollment_id, name: l.trainee_name, idMasked: l.id_masked,
    course: `${l.course_name}（${l.session_code}）`, fee: formatMoney(l.fee_fen),
  };
}

Component({
  data: {
    id: '',
    card: null as PaymentCard | null,
    lines: [] as LineRow[],
    opening: false,
  },
  methods: {
    onLoad(query: Record<string, string>) {
      this.setData({ id: query.id || '' });
      return this.load();
    },

    onShow() {
      return this.data.card ? this.load() : Promise.resolve();
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    async load() {
      if (!this.data.id) {
        return;
      }
      try {
        const payment = await getPayment(this.data.id);
        this.setData({ card: paymentCard(payment), lines: payment.lines.map(lineRow) });
      } catch (error) {
        // shown by the request module
      }
    },

    /** 重新缴费: the pay page with this payment's enrollments ticked. */
    onRepay() {
      const card = this.data.card;
      if (card) {
        wx.navigateTo({ url: `/pay/pages/pay/index?ids=${card.enrollmentIds.join(',')}` });
      }
    },

    /** 查看电子发票. */
    async onInvoice() {
      this.setData({ opening: true });
      try {
        await openInvoicePdf(this.data.id);
      } catch (error) {
        wx.showToast({ title: error instanceof ApiError ? error.message : '无法打开发票', icon: 'none' });
      } finally {
        this.setData({ opening: false });
      }
    },
  },
});
