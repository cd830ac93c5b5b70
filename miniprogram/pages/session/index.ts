/** 班次详情：日期、地点、名额、费用、我的状态；报名或（已满时）加入候补。 */
import { joinWaitlist } from '../../api/enrollments';
import { getSession } from '../../api/sessions';
import type { SessionDetail } from '../../api/types';
import { getToken } from '../../utils/auth';
import { formatDate, formatDateRange, formatMoney, statusTheme } from '../../utils/format';
import { actionFor, type Action } from './helpers';

Component({
  data: {
    id: '',
    session: null as SessionDetail | null,
    view: {} as Record<string, string>,
    action: 'none' as Action,
    busy: false,
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
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ busy: false });
      }
    },
  },
});
