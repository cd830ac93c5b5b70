/** 我的单位：所属单位、单位可查看的资料范围；退出单位。 */
import { leaveUnit, listMyUnits } from '../../api/units';
import type { MyUnitOut } from '../../api/types';
import { formatDate } from '../../utils/format';

export interface UnitCard {
  id: string;
  name: string;
  uscc: string;
  boundOn: string;
  sees: string;
}

/** How one unit is shown. */
export function toUnitCard(u: MyUnitOut): UnitCard {
  return {
    id: u.id,
    name: u.name,
    uscc: u.uscc,
    boundOn: u.bound_at ? formatDate(u.bound_at) : '',
    sees: u.unit_sees === 'full' ? '单位可查看和维护您的全部报名资料' : '单位仅能看到您的姓名和脱敏证件号',
  };
}

Component({
  data: {
    cards: [] as UnitCard[],
    loaded: false,
  },
  methods: {
    onShow() {
      return this.load();
    },

    async load() {
      try {
        const list = await listMyUnits();
        this.setData({ cards: list.items.map(toUnitCard) });
      } catch (error) {
        // shown by the request module
      } finally {
        this.setData({ loaded: true });
      }
    },

    /** 退出单位, after a confirmation. */
    onLeave(e: WechatMiniprogram.CustomEvent) {
      const { id, name } = e.currentTarget.dataset as { id: string; name: string };
      return new Promise<void>((resolve) => {
        wx.showModal({
          title: '退出单位',
          content: `确定退出“${name}”吗？退出后该单位不能再为您报名，对本人资料的授权一并撤销。`,
          confirmText: '退出',
          success: async (res) => {
            if (res.confirm) {
              try {
                await leaveUnit(id);
                wx.showToast({ title: '已退出单位', icon: 'none' });
                await this.load();
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
  },
});
