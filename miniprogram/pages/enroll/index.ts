/**
 * 报名：确认班次与费用，选择物流信息（邮寄书籍的课程必填，可当场新建）和发票模板
 * （缴费时带入），提交。没有证件照时引导去上传。
 */
import { enroll, joinWaitlist } from '../../api/enrollments';
import { ApiError, presentError } from '../../api/request';
import { getSession } from '../../api/sessions';
import { askSubscribe, templateIds } from '../../api/subscriptions';
import { createAddress, listAddresses, listInvoiceTemplates } from '../../api/templates';
import type { AddressOut, InvoiceTemplateOut, SessionDetail } from '../../api/types';
import { formatMoney } from '../../utils/format';
import { invoiceChoiceKey } from '../../utils/invoice-choice';

interface Option {
  label: string;
  value: string;
}

function addressLabel(a: AddressOut): string {
  return `${a.recipient} ${a.phone}　${a.region}${a.address}${a.is_default ? '（默认）' : ''}`;
}

function invoiceLabel(t: InvoiceTemplateOut): string {
  return `${t.title}${t.tax_id ? `（${t.tax_id}）` : ''}${t.is_default ? '（默认）' : ''}`;
}

Component({
  data: {
    id: '',
    session: null as SessionDetail | null,
    fee: '',
    addressOptions: [] as Option[],
    addressId: '',
    invoiceOptions: [] as Option[],
    invoiceId: '',
    newAddress: { recipient: '', phone: '', region: '', address: '' } as Record<string, string>,
    showNewAddress: false,
    errors: {} as Record<string, string>,
    busy: false,
  },
  methods: {
    onLoad(query: Record<string, string>) {
      this.setData({ id: query.id || '' });
      return this.load();
    },

    async load() {
      try {
        const [session, addresses, invoices] = await Promise.all([
          getSession(this.data.id), listAddresses(), listInvoiceTemplates(),
        ]);
        const addressOptions = addresses.items.map((a) => ({ label: addressLabel(a), value: a.id }));
        const invoiceOptions = [{ label: '暂不选择（缴费时填写）', value: '' }].concat(
          invoices.items.map((t) => ({ label: invoiceLabel(t), value: t.id })),
        );
        const defaultInvoice = invoices.items.find((t) => t.is_default);
        this.setData({
          session,
          fee: formatMoney(session.fee_fen),
          addressOptions,
          addressId: addressOptions.length ? addressOptions[0].value : '',
          invoiceOptions,
          invoiceId: defaultInvoice ? defaultInvoice.id : '',
          showNewAddress: session.mails_books && addressOptions.length === 0,
        });
      } catch (error) {
        // shown by the request module
      }
    },

    onAddress(e: WechatMiniprogram.CustomEvent) {
      this.setData({ addressId: e.detail.value, 'errors.address': '' });
    },

    onInvoice(e: WechatMiniprogram.CustomEvent) {
      this.setData({ invoiceId: e.detail.value });
    },

    onToggleNewAddress() {
      this.setData({ showNewAddress: !this.data.showNewAddress });
    },

    onNewAddressInput(e: WechatMiniprogram.CustomEvent) {
      const field = e.currentTarget.dataset.field as string;
      this.setData({ [`newAddress.${field}`]: e.detail.value, [`errors.${field}`]: '' });
    },

    /** 保存新的物流信息 and select it. */
    async onSaveAddress(): Promise<boolean> {
      const a = this.data.newAddress;
      try {
        const saved = await createAddress({
          recipient: a.recipient.trim(), phone: a.phone.trim(), region: a.region.trim(), address: a.address.trim(),
          is_default: this.data.addressOptions.length === 0,
        });
        this.setData({
          addressOptions: this.data.addressOptions.concat([{ label: addressLabel(saved), value: saved.id }]),
          addressId: saved.id,
          showNewAddress: false,
          newAddress: { recipient: '', phone: '', region: '', address: '' },
        });
        return true;
      } catch (error) {
        this.setData({ errors: error instanceof ApiError ? { ...error.fields } : {} });
        return false;
      }
    },

    /** The session filled up meanwhile: offer its waitlist. */
    offerWaitlist(message: string): Promise<void> {
      return new Promise((resolve) => {
        wx.showModal({
          title: '名额已满', content: message, confirmText: '加入候补', cancelText: '暂不',
          success: async (res) => {
            if (res.confirm) {
              try {
                const entry = await joinWaitlist(this.data.id);
                wx.showToast({ title: `已加入候补，排第 ${entry.position} 位`, icon: 'none' });
              } catch (error) {
                // shown by the request module
              }
            }
            resolve();
          },
          fail: () => resolve(),
        });
      });
    },

    /**
     * Enrolled: offer the payment deadline reminder (订阅消息; WeChat asks only from a tap, here the
     * modal's confirm button), else just say what comes next.
     */
    afterEnroll(): Promise<void> {
      if (!templateIds(['payment_deadline_near']).length) {
        wx.showToast({ title: '报名成功，请在缴费截止前完成缴费', icon: 'none' });
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        wx.showModal({
          title: '报名成功',
          content: '请在缴费截止前完成缴费。是否接收微信提醒（缴费截止前提醒你）？',
          confirmText: '接收提醒',
          cancelText: '不用了',
          success: async (res) => {
            if (res.confirm) {
              await askSubscribe(['payment_deadline_near']);
            }
            resolve();
          },
          fail: () => resolve(),
        });
      });
    },

    /** 提交报名. */
    async onSubmit() {
      const { session, addressId } = this.data;
      if (!session) {
        return;
      }
      if (session.mails_books && !addressId) {
        if (this.data.showNewAddress && !(await this.onSaveAddress())) {
          return;
        }
        if (!this.data.addressId) {
          this.setData({ 'errors.address': '本次培训需要邮寄培训书籍，请先填写物流信息' });
          return;
        }
      }
      this.setData({ busy: true });
      try {
        const enrollment = await enroll(session.id, session.mails_books ? this.data.addressId : undefined);
        if (this.data.invoiceId) {
          wx.setStorageSync(invoiceChoiceKey(enrollment.id), this.data.invoiceId);
        }
        await this.afterEnroll();
        wx.switchTab({ url: '/pages/enrollments/index' });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'no_photo') {
          wx.showModal({
            title: '请先上传证件照', content: error.message, confirmText: '去上传',
            success: (res) => res.confirm && wx.navigateTo({ url: '/pages/photo/index' }),
          });
        } else if (error instanceof ApiError && error.code === 'session_full') {
          await this.offerWaitlist(error.message);
        } else if (error instanceof ApiError) {
          presentError(error);
        }
      } finally {
        this.setData({ busy: false });
      }
    },
  },
});
