/** 班次列表：可报名的班次与“我的审批状态”（待申请、待缴费、通过……）。 */
import { listSessions } from '../../api/sessions';
import type { SessionRow } from '../../api/types';
import { formatDate, formatMoney, statusTheme } from '../../utils/format';

export interface SessionCard {
  id: string;
  title: string;
  code: string;
  round: string;
  specialty: string;
  enrollPeriod: string;
  fee: string;
  openNow: boolean;
  statusLabel: string;
  statusTheme: string;
}

/**
 * How one row of the list is shown. The tag is the server's 审批状态 (待申请, 待缴费, 通过…);
 * a session the person has not applied to and that is not open today says 未开放 instead.
 */
export function toCard(row: SessionRow): SessionCard {
  const status = row.my_status && (row.my_status.code !== 'not_applied' || row.open_now) ? row.my_status : null;
  return {
    id: row.id,
    title: row.course_name,
    code: row.code,
    round: row.round,
    specialty: row.specialty,
    enrollPeriod: `${formatDate(row.enroll_start)} 至 ${formatDate(row.enroll_end)}`,
    fee: formatMoney(row.fee_fen),
    openNow: row.open_now,
    statusLabel: status ? status.label : row.open_now ? '可报名' : '未开放',
    statusTheme: status ? statusTheme(status.code) : row.open_now ? 'primary' : 'default',
  };
}

const PAGE_SIZE = 20;

Component({
  data: {
    cards: [] as SessionCard[],
    total: 0,
    page: 1,
    q: '',
    openOnly: true,
    loading: false,
    loaded: false,
  },
  methods: {
    onShow() {
      this.reload();
    },

    onPullDownRefresh() {
      this.reload().then(() => wx.stopPullDownRefresh());
    },

    onReachBottom() {
      if (this.data.cards.length < this.data.total && !this.data.loading) {
        this.fetch(this.data.page + 1);
      }
    },

    reload(): Promise<void> {
      return this.fetch(1);
    },

    async fetch(page: number) {
      this.setData({ loading: true });
      try {
        const result = await listSessions({ page, page_size: PAGE_SIZE, q: this.data.q.trim() || undefined, open_now: this.data.openOnly });
        const cards = result.items.map(toCard);
        this.setData({ cards: page === 1 ? cards : this.data.cards.concat(cards), total: result.total, page });
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loading: false, loaded: true });
      }
    },

    onSearch(e: WechatMiniprogram.CustomEvent) {
      this.setData({ q: e.detail.value || '' });
      this.reload();
    },

    onOpenOnly(e: WechatMiniprogram.CustomEvent) {
      this.setData({ openOnly: !!e.detail.value });
      this.reload();
    },

    onOpen(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: `/pages/session/index?id=${e.currentTarget.dataset.id}` });
    },
  },
});
