/** 班次详情：日期、地点、名额、费用、我的状态；报名或（已满时）加入候补；候补中可退出候补。 */
import { joinWaitlist, leaveWaitlist, listWaitlist } from '../../api/enrollments';
import { getSession } from '../../api/sessions';
import type { SessionDetail, WaitlistOut } from '../../api/types';
import { getToken } from '../../utils/auth';
import { formatDate, formatDateRange, formatMoney, statusTheme } from '../../utils/format';
import { actionFor, type Action, waitlistText } from './helpers';

Component({
  data: {
    id: '',
    session: null as SessionDetail | null,
    view: {} as Record<string, string>,
    action: 'none' as Action,
    busy: false,
    /** my place in this session's line (waiting or offered), if any */
    entry: null as WaitlistOut | null,
    entryText: '',
  },
  methods: {
    onLoad(query: Record<string, string>) {
      this.setData({ id: query.id || '' });
      return this.load();
    },

    async load() {
      try {
        const s = await getSession(this.data.id);
        this.setData({
          session: s,
          action: actionFor(s, !!getToken()),
          view: {
            enrollPeriod: `${formatDate(s.enroll_start)} 至 ${formatDate(s.enroll_end)}`,
            classPeriod: formatDateRange(s.start_date, s.end_date),
            fee: formatMoney(s.fee_fen),
            seats: s.seats_left > 0 ? `剩余 ${s.seats_left} / ${s.capacity} 个名额` : `已满（共 ${s.capacity} 个名额）`,
            statusLabel: s.my_status ? s.my_status.label : '',
            statusTheme: s.my_status ? statusTheme(s.my_status.code) : 'default',
          },
        });
        await this.loadEntry();
      } catch (error) {
        // shown by the request module
      }
    },

    /** My place in this session's line (logged in only; a failure just hides it). */
    async loadEntry() {
      if (!getToken()) {
        return;
      }
      try {
        const mine = await listWaitlist();
        const entry = mine.items.find((e) => e.session_id === this.data.id) || null;
        this.setData({ entry, entryText: entry ? waitlistText(entry) : '' });
      } catch (error) {
        // shown by the request module
      }
    },

    onEnroll() {
      wx.navigateTo({ url: `/pages/enroll/index?id=${this.data.id}` });
    },

    onLogin() {
      wx.navigateTo({ url: '/pages/login/index' });
    },

    onMine() {
      wx.switchTab({ url: '/pages/enrollments/index' });
    },

    async onWaitlist() {
      this.setData({ busy: true });
      try {
        const entry = await joinWaitlist(this.data.id);
        wx.showToast({ title: `已加入候补，排第 ${entry.position} 位`, icon: 'none' });
        await this.loadEntry();
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ busy: false });
      }
    },

    /** 退出候补, after a confirmation. */
    onLeaveWaitlist() {
      const entry = this.data.entry;
      if (!entry) {
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        wx.showModal({
          title: '退出候补',
          content: entry.status === 'offered' ? '为你保留的名额将转给下一位候补学员，确定退出吗？' : '退出后将失去当前排位，确定退出吗？',
          confirmText: '退出候补',
          cancelText: '再想想',
          success: async (res) => {
            if (res.confirm) {
              this.setData({ busy: true });
              try {
                await leaveWaitlist(entry.id);
                wx.showToast({ title: '已退出候补', icon: 'none' });
                this.setData({ entry: null, entryText: '' });
              } catch (error) {
                // shown by the request module
              } finally {
                this.setData({ busy: false });
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
