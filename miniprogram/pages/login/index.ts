/**
 * 登录：微信一键登录（wx.login → /auth/wechat）。该微信未绑定账号时，绑定已有账号（身份证号 +
 * 密码或短信验证码），或注册新学员账号后绑定。
 */
import { bindWeChat, loginWithWeChat, registerTrainee, sendSmsCode } from '../../api/auth';
import { ApiError } from '../../api/request';

type Step = 'start' | 'bind' | 'register';
type Fields = Record<string, string>;

const HOME = '/pages/sessions/index';

function fieldErrors(error: unknown): Fields {
  return error instanceof ApiError ? { ...error.fields } : {};
}

/** This page instance's countdown timer (one per instance, not shared). */
interface Timed {
  smsTimer?: ReturnType<typeof setTimeout> | null;
}

Component({
  lifetimes: {
    detached() {
      const self = this as unknown as Timed;
      if (self.smsTimer) clearTimeout(self.smsTimer);
      self.smsTimer = null;
    },
  },
  data: {
    step: 'start' as Step,
    bindTicket: '',
    bindMode: 'password' as 'password' | 'sms',
    bind: { account: '', password: '', phone: '', sms_code: '' } as Fields,
    reg: { name: '', id_number: '', phone: '', email: '', password: '', sms_code: '' } as Fields,
    errors: {} as Fields,
    message: '',
    busy: false,
    smsWait: 0,
  },
  methods: {
    onLoad() {
      this.setData({ step: 'start', message: '' });
    },

    /** 微信一键登录. */
    async onWeChatLogin() {
      this.setData({ busy: true, message: '' });
      try {
        const result = await loginWithWeChat();
        if (result.kind === 'token') {
          wx.reLaunch({ url: HOME });
        } else {
          this.setData({ step: 'bind', bindTicket: result.bindTicket });
        }
      } catch (error) {
        this.setData({ message: error instanceof ApiError ? error.message : '微信登录失败，请重试' });
      } finally {
        this.setData({ busy: false });
      }
    },

    onStep(e: WechatMiniprogram.CustomEvent) {
      this.setData({ step: e.currentTarget.dataset.step as Step, errors: {}, message: '' });
    },

    onBindMode(e: WechatMiniprogram.CustomEvent) {
      this.setData({ bindMode: e.currentTarget.dataset.mode, errors: {}, message: '' });
    },

    /** Any input: data-form="bind|reg", data-field="name". */
    onInput(e: WechatMiniprogram.CustomEvent) {
      const { form, field } = e.currentTarget.dataset as { form: string; field: string };
      this.setData({ [`${form}.${field}`]: e.detail.value, [`errors.${field}`]: '' });
    },

    /** Count the seconds down until a new code may be asked for. */
    tick(seconds: number) {
      const self = this as unknown as Timed;
      this.setData({ smsWait: seconds });
      if (self.smsTimer) clearTimeout(self.smsTimer);
      self.smsTimer = seconds > 0 ? setTimeout(() => this.tick(seconds - 1), 1000) : null;
    },

    /** 发送验证码 to the phone of the bind or register form. */
    async onSendCode(e: WechatMiniprogram.CustomEvent) {
      if (this.data.smsWait > 0) return;
      const form = e.currentTarget.dataset.form as 'bind' | 'reg';
      const phone = (this.data[form] as Fields).phone.trim();
      if (!/^1\d{10}$/.test(phone)) {
        this.setData({ 'errors.phone': '请输入 11 位手机号' });
        return;
      }
      try {
        const sent = await sendSmsCode(phone, form === 'bind' ? 'bind' : 'register');
        wx.showToast({ title: '验证码已发送', icon: 'none' });
        this.tick(sent.resend_after);
      } catch (error) {
        this.setData({ errors: fieldErrors(error) });
      }
    },

    /** 绑定已有账号. */
    async onBind() {
      const { bind, bindMode, bindTicket } = this.data;
      const errors: Fields = {};
      if (!bind.account.trim()) errors.account = '请输入身份证号';
      if (bindMode === 'password' && !bind.password) errors.password = '请输入密码';
      if (bindMode === 'sms' && !bind.sms_code.trim()) errors.sms_code = '请输入验证码';
      if (Object.keys(errors).length) {
        this.setData({ errors });
        return;
      }
      this.setData({ busy: true, errors: {}, message: '' });
      try {
        await bindWeChat({
          bind_ticket: bindTicket,
          account: bind.account.trim(),
          ...(bindMode === 'password' ? { password: bind.password } : { sms_code: bind.sms_code.trim() }),
        });
        wx.reLaunch({ url: HOME });
      } catch (error) {
        this.afterFailure(error);
      } finally {
        this.setData({ busy: false });
      }
    },

    /** 注册新账号, then bind this WeChat to it. */
    async onRegister() {
      const { reg, bindTicket } = this.data;
      const errors: Fields = {};
      const labels: Fields = { name: '姓名', id_number: '身份证号', phone: '手机号', email: '邮箱', password: '密码', sms_code: '验证码' };
      for (const key of Object.keys(labels)) {
        if (!reg[key].trim()) errors[key] = `请输入${labels[key]}`;
      }
      if (Object.keys(errors).length) {
        this.setData({ errors });
        return;
      }
      this.setData({ busy: true, errors: {}, message: '' });
      try {
        await registerTrainee({
          name: reg.name.trim(), id_number: reg.id_number.trim(), phone: reg.phone.trim(),
          email: reg.email.trim(), password: reg.password, sms_code: reg.sms_code.trim(),
        });
        await bindWeChat({ bind_ticket: bindTicket, account: reg.id_number.trim(), password: reg.password });
        wx.reLaunch({ url: HOME });
      } catch (error) {
        this.afterFailure(error);
      } finally {
        this.setData({ busy: false });
      }
    },

    /** Field messages beside their inputs; an expired ticket sends the person back to the start. */
    afterFailure(error: unknown) {
      const fields = fieldErrors(error);
      if (error instanceof ApiError && /ticket/.test(error.code)) {
        this.setData({ step: 'start', message: '登录已超时，请重新点击微信登录' });
        return;
      }
      this.setData({ errors: fields, message: Object.keys(fields).length ? '' : error instanceof ApiError ? error.message : '' });
    },
  },
});
