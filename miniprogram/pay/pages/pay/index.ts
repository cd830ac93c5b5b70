/**
 * 缴费：选择我的待缴费 / 已驳回报名（可多选），显示协会收款账户（复制）、应缴金额与转账附言中要填写的
 * 缴费编号，发票信息（选择发票模板或直接填写），选择 1～5 张转账截图，一次提交；之后询问是否接收
 * 审核结果的微信通知。
 */
import { listEnrollments } from '../../../api/enrollments';
import {
  type ProofFile, MAX_PROOFS, checkProofs, paymentDue, paymentErrorMessage, submitPayment,
} from '../../../api/payments';
import { ApiError } from '../../../api/request';
import { getSession } from '../../../api/sessions';
import { askSubscribe, templateIds } from '../../../api/subscriptions';
import { listInvoiceTemplates } from '../../../api/templates';
import type { InvoiceTemplateIn, SessionDetail } from '../../../api/types';
import { formatMoney } from '../../../utils/format';
import { invoiceChoiceKey } from '../../../utils/invoice-choice';
import { type PayableRow, groupDigits, invoiceTemplateLabel, payableRows } from '../../helpers';

/** The invoice radio's value for "type the details in". */
const TYPED = 'typed';
const AFTER_PAYMENT: ('payment_approved' | 'payment_rejected' | 'invoice_ready')[] = [
  'payment_approved', 'payment_rejected', 'invoice_ready',
];

interface Option {
  label: string;
  value: string;
}

Component({
  data: {
    loaded: false,
    rows: [] as PayableRow[],
    selected: [] as string[],
    account: null as null | { name: string; bank: string; number: string; numberShown: string; remark: string },
    accountMissing: false,
    amount: '',
    reference: '',
    dueError: '',
    invoiceOptions: [] as Option[],
    invoiceChoice: '',
    invoice: { title_type: 'personal', title: '', tax_id: '', email: '' } as Record<string, string>,
    titleTypeOptions: [{ label: '个人', value: 'personal' }, { label: '单位', value: 'company' }] as Option[],
    proofs: [] as ProofFile[],
    maxProofs: MAX_PROOFS,
    progress: null as null | { percent: number; text: string },
    errors: {} as Record<string, string>,
    errorText: '',
    busy: false,
  },
  methods: {
    /** ?ids=a,b preselects enrollments (from 我的报名 or a rejected payment's 重新缴费). */
    onLoad(query: Record<string, string>) {
      const ids = (query.ids || '').split(',').filter(Boolean);
      return this.load(ids);
    },

    async load(preselect: string[]) {
      try {
        const [page, templates] = await Promise.all([listEnrollments(), listInvoiceTemplates()]);
        const ids = Array.from(new Set(page.items.map((e) => e.session_id)));
        const sessions: Record<string, SessionDetail> = {};
        (await Promise.all(ids.map((id) => getSession(id, 'none').catch(() => undefined)))).forEach((s) => {
          if (s) sessions[s.id] = s;
        });
        let rows = payableRows(page.items, sessions, preselect);
        if (!preselect.length && rows.length === 1) {
          rows = payableRows(page.items, sessions, [rows[0].id]);
        }
        const selected = rows.filter((r) => r.checked).map((r) => r.id);
        const invoiceOptions = templates.items.map((t) => ({ label: invoiceTemplateLabel(t), value: t.id }))
          .concat([{ label: '直接填写发票信息', value: TYPED }]);
        const kept = selected.map((id) => wx.getStorageSync(invoiceChoiceKey(id))).find((v) => typeof v === 'string' && v);
        const known = templates.items.find((t) => t.id === kept) || templates.items.find((t) => t.is_default);
        this.setData({ rows, selected, invoiceOptions, invoiceChoice: known ? known.id : TYPED });
        await this.refreshDue();
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loaded: true });
      }
    },

    /** The account, the amount and the reference of the ticked enrollments. */
    async refreshDue() {
      const ids = this.data.selected;
      if (!ids.length) {
        this.setData({ account: null, amount: '', reference: '', dueError: '' });
        return;
      }
      try {
        const due = await paymentDue(ids);
        const a = due.account;
        this.setData({
          account: a.configured ? {
            name: a.account_name, bank: a.bank_name, number: a.account_number.replace(/\s+/g, ''),
            numberShown: groupDigits(a.account_number), remark: a.remark,
          } : null,
          accountMissing: !a.configured,
          amount: formatMoney(due.amount_fen),
          reference: due.reference,
          dueError: '',
        });
      } catch (error) {
        this.setData({ account: null, amount: '', reference: '', dueError: paymentErrorMessage(error) });
      }
    },

    onToggle(e: WechatMiniprogram.CustomEvent) {
      const id = e.currentTarget.dataset.id as string;
      const checked = !!e.detail.checked;
      const selected = this.data.selected.filter((x) => x !== id).concat(checked ? [id] : []);
      const rows = this.data.rows.map((r) => ({ ...r, checked: selected.includes(r.id) }));
      this.setData({ rows, selected: rows.filter((r) => r.checked).map((r) => r.id), errorText: '' });
      return this.refreshDue();
    },

    /** 复制 an account field or the reference. */
    onCopy(e: WechatMiniprogram.CustomEvent) {
      const { text, label } = e.currentTarget.dataset as { text: string; label: string };
      wx.setClipboardData({
        data: text,
        success: () => wx.showToast({ title: `${label}已复制`, icon: 'none' }),
      });
    },

    onInvoiceChoice(e: WechatMiniprogram.CustomEvent) {
      this.setData({ invoiceChoice: e.detail.value, errors: {} });
    },

    onInvoiceInput(e: WechatMiniprogram.CustomEvent) {
      const field = e.currentTarget.dataset.field as string;
      this.setData({ [`invoice.${field}`]: e.detail.value, [`errors.${field}`]: '' });
    },

    /** 选择转账截图 (album or camera), up to five in all. */
    onChooseProofs() {
      const left = MAX_PROOFS - this.data.proofs.length;
      if (left <= 0) {
        wx.showToast({ title: `最多上传 ${MAX_PROOFS} 张截图`, icon: 'none' });
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        wx.chooseMedia({
          count: left,
          mediaType: ['image'],
          sourceType: ['album', 'camera'],
          sizeType: ['original'],
          success: (res) => {
            const added = res.tempFiles.map((f) => ({ path: f.tempFilePath, size: f.size }));
            this.setData({ proofs: this.data.proofs.concat(added).slice(0, MAX_PROOFS), errorText: '' });
            resolve();
          },
          fail: () => resolve(), // cancelled
        });
      });
    },

    onRemoveProof(e: WechatMiniprogram.CustomEvent) {
      const index = Number(e.currentTarget.dataset.index);
      this.setData({ proofs: this.data.proofs.filter((_p, i) => i !== index) });
    },

    onPreviewProof(e: WechatMiniprogram.CustomEvent) {
      const urls = this.data.proofs.map((p) => p.path);
      wx.previewImage({ urls, current: urls[Number(e.currentTarget.dataset.index)] });
    },

    /** The typed invoice (普通电子发票); the server checks it (422 per field). */
    typedInvoice(): InvoiceTemplateIn {
      const i = this.data.invoice;
      return {
        kind: 'normal', medium: 'electronic', title_type: i.title_type as 'personal' | 'company',
        title: i.title.trim(), tax_id: i.title_type === 'company' ? i.tax_id.trim() : '',
        email: i.email.trim() || null, address_phone: '', bank_account: '', is_default: false,
      };
    },

    /** 提交缴费. */
    async onSubmit() {
      const { selected, proofs, invoiceChoice } = this.data;
      const refusal = !selected.length ? '请选择要缴费的报名' : checkProofs(proofs);
      if (refusal) {
        this.setData({ errorText: refusal });
        wx.showToast({ title: refusal, icon: 'none' });
        return;
      }
      this.setData({ busy: true, errorText: '', errors: {} });
      try {
        const payment = await submitPayment(
          invoiceChoice === TYPED
            ? { enrollmentIds: selected, invoice: this.typedInvoice() }
            : { enrollmentIds: selected, invoiceTemplateId: invoiceChoice },
          proofs,
          (p) => this.setData({ progress: { percent: p.percent, text: p.text } }),
        );
        selected.forEach((id) => wx.removeStorageSync(invoiceChoiceKey(id)));
        await this.afterSubmit(payment.id);
      } catch (error) {
        const message = paymentErrorMessage(error);
        const fields = error instanceof ApiError ? error.fields : {};
        const errors: Record<string, string> = {};
        Object.keys(fields).forEach((k) => {
          errors[k.replace(/^invoice\./, '')] = fields[k];
        });
        this.setData({ errorText: message, errors, progress: null });
        wx.showToast({ title: message, icon: 'none', duration: 3000 });
      } finally {
        this.setData({ busy: false });
      }
    },

    /** Submitted: offer the review-outcome messages (WeChat asks only from a tap: the modal's). */
    afterSubmit(paymentId: string): Promise<void> {
      const open = () => wx.redirectTo({ url: `/pay/pages/payment/index?id=${paymentId}` });
      if (!templateIds(AFTER_PAYMENT).length) {
        wx.showToast({ title: '已提交，等待审核', icon: 'none' });
        open();
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        wx.showModal({
          title: '缴费已提交',
          content: '协会审核后会通知你结果。是否通过微信接收审核结果和发票开具通知？',
          confirmText: '接收通知',
          cancelText: '不用了',
          success: async (res) => {
            if (res.confirm) {
              await askSubscribe(AFTER_PAYMENT);
            }
            open();
            resolve();
          },
          fail: () => {
            open();
            resolve();
          },
        });
      });
    },
  },
});
