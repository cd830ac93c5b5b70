/**
 * 成绩与合格证: my published results (合格 / 不合格 / 缺考 and the score) and my certificates
 * (有效 / 已撤销 with the reason); a valid certificate's A4 PDF opens with wx.downloadFile +
 * wx.openDocument. Results not yet published by the association do not appear (the server hides them).
 */
import { ApiError } from '../../../api/request';
import { listCertificates, listResults, openCertificatePdf } from '../../../api/results';
import { getToken } from '../../../utils/auth';
import { type CertificateRow, type ResultRow, certificateRow, resultRow } from '../../helpers';

Component({
  data: {
    results: [] as ResultRow[],
    certificates: [] as CertificateRow[],
    loaded: false,
    openingId: '',
  },
  methods: {
    onLoad() {
      return this.load();
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    async load() {
      if (!getToken()) {
        wx.navigateTo({ url: '/pages/login/index' });
        return;
      }
      try {
        const [results, certificates] = await Promise.all([listResults(), listCertificates()]);
        this.setData({ results: results.items.map(resultRow), certificates: certificates.items.map(certificateRow) });
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loaded: true });
      }
    },

    /** 查看合格证 (PDF). */
    async onCertificate(e: WechatMiniprogram.CustomEvent) {
      const id = e.currentTarget.dataset.id as string;
      this.setData({ openingId: id });
      try {
        await openCertificatePdf(id);
      } catch (error) {
        wx.showToast({ title: error instanceof ApiError ? error.message : '无法打开合格证', icon: 'none' });
      } finally {
        this.setData({ openingId: '' });
      }
    },
  },
});
