/** 验证员登录：用户名 + 密码（/auth/login）；只有验证员和管理员（/me 的角色）可以进入扫码。 */
import { ApiError } from '../../../api/request';
import { currentStaff, loginStaff } from '../../helpers';
import { wxStorage } from '../../lib/store';

Component({
  data: {
    username: '',
    password: '',
    busy: false,
    message: '',
    errors: {} as Record<string, string>,
  },
  methods: {
    onLoad() {
      if (currentStaff(wxStorage)) {
        wx.redirectTo({ url: '/scan/pages/sessions/index' });
      }
    },

    onInput(e: WechatMiniprogram.CustomEvent) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value, message: '', errors: {} });
    },

    async onLogin() {
      const { username, password } = this.data;
      if (!username.trim() || !password) {
        this.setData({ message: '请输入用户名和密码' });
        return;
      }
      this.setData({ busy: true, message: '', errors: {} });
      try {
        await loginStaff(wxStorage, username, password);
        wx.redirectTo({ url: '/scan/pages/sessions/index' });
      } catch (error) {
        if (error instanceof ApiError) {
          this.setData({ message: Object.keys(error.fields).length ? '' : error.message, errors: error.fields });
        }
      } finally {
        this.setData({ busy: false, password: '' });
      }
    },
  },
});
