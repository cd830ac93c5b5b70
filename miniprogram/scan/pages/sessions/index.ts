/**
 * 选择班次：班次列表（公开的 /sessions），下载其离线包（密钥、作废名单、名单与照片缩略图），
 * 显示已下载的包的人数、大小与有效期；过期的包自动删除，也可手动删除。
 */
import { ApiError } from '../../../api/request';
import { listSessions } from '../../../api/sessions';
import type { SessionRow } from '../../../api/types';
import { formatDateTime } from '../../../utils/format';
import { LOGIN_URL, currentStaff, downloadBundle, formatBytes, logoutStaff } from '../../helpers';
import { deleteBundle, listBundles } from '../../lib/bundle';
import { wxStorage } from '../../lib/store';

interface KeptRow {
  session_id: string;
  title: string;
  people: number;
  size: string;
  validUntil: string;
}

Component({
  data: {
    staffName: '',
    sessions: [] as SessionRow[],
    kept: [] as KeptRow[],
    loaded: false,
    busyId: '',
  },
  methods: {
    onShow() {
      const staff = currentStaff(wxStorage);
      if (!staff) {
        wx.redirectTo({ url: LOGIN_URL });
        return Promise.resolve();
      }
      this.setData({ staffName: staff.name });
      this.showKept();
      return this.load();
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    async load() {
      try {
        const page = await listSessions({ page_size: 50 });
        this.setData({ sessions: page.items });
      } catch (error) {
        // shown by the request module; the kept bundles still work offline
      } finally {
        this.setData({ loaded: true });
      }
    },

    showKept() {
      const kept = listBundles(wxStorage).map((b) => ({
        session_id: b.session_id, title: b.title, people: b.people, size: formatBytes(b.bytes),
        validUntil: formatDateTime(b.valid_until),
      }));
      this.setData({ kept });
    },

    async onDownload(e: WechatMiniprogram.CustomEvent) {
      const { id, title } = e.currentTarget.dataset as { id: string; title: string };
      this.setData({ busyId: id });
      try {
        const bundle = await downloadBundle(wxStorage, id, title);
        wx.showToast({ title: `已下载 ${bundle.roster.length} 人（${formatBytes(bundle.bytes)}）`, icon: 'none' });
        this.showKept();
      } catch (error) {
        // shown by the request module; an expired staff login goes back to the staff login
        if (error instanceof ApiError && error.status === 401) {
          logoutStaff(wxStorage);
          wx.redirectTo({ url: LOGIN_URL });
        }
      } finally {
        this.setData({ busyId: '' });
      }
    },

    onDelete(e: WechatMiniprogram.CustomEvent) {
      deleteBundle(wxStorage, e.currentTarget.dataset.id);
      this.showKept();
    },

    onScan(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/scan/pages/scan/index?session=${e.currentTarget.dataset.id}` });
    },

    onLogout() {
      logoutStaff(wxStorage);
      wx.redirectTo({ url: LOGIN_URL });
    },
  },
});
