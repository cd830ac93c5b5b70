/**
 * 验证员登录：用户名 + 密码（/auth/login），服务器要求时再输入身份验证器上的 6 位动态验证码
 * （401 totp_required）；只有验证员和管理员（/me 的角色）可以进入扫码。
 */
import { ApiError } from '../../../api/request';
import { currentStaff, loginStaff } from '../../helpers';
import { wxStorage } from '../../lib/store';

Component({
  data: {
    username: '',
    password: '',
    totpCode: '',
    askTotp: false,
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
      const { username, password, totpCode, askTotp } = this.data;
      if (!username.trim() || !password) {
        this.setData({ message: '请输入用户名和密码' });
        return;
      }
      if (askTotp && !/^[0-9]{6}$/.test(totpCode.trim())) {
        this.setData({ errors: { totp_code: '请输入 6 位动态验证码' } });
        return;
      }
      this.setData({ busy: true, message: '', errors: {} });
      let keepPassword = false;
      try {
        await loginStaff(wxStorage, username, password, askTotp ? totpCode.trim() : undefined);
        wx.redirectTo({ url: '/scan/pages/sessions/index' });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'totp_required') {
          // The password was right: ask for the code of the authenticator, keep what was typed.
          keepPassword = true;
          this.setData({ askTotp: true, message: '请输入身份验证器上的动态验证码' });
        } else if (error instanceof ApiError && error.code === 'totp_invalid') {
          keepPassword = true;
          this.setData({ errors: { totp_code: error.message } });
        } else if (error instanceof ApiError) {
          this.setData({ message: Object.keys(error.fields).length ? '' : error.message, errors: error.fields });
        }
      } finally {
        this.setData({ busy: false, totpCode: '', ...(keepPassword ? {} : { password: '' }) });
      }
    },
  },
});
