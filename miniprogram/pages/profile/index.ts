/** 我的：个人信息（查看与修改常用项）、资料完整度、证件照、我的单位、退出登录。 */
import { logout } from '../../api/auth';
import { getProfile, updateProfile } from '../../api/profile';
import { ApiError } from '../../api/request';
import type { ProfileOut } from '../../api/types';
import { clearToken, getToken } from '../../utils/auth';
import { EDITABLE, FIELD_LABELS, maskId, maskPhone, updateBody } from './helpers';

Component({
  data: {
    loggedIn: true,
    profile: null as ProfileOut | null,
    view: {} as Record<string, string>,
    form: {} as Record<string, string>,
    errors: {} as Record<string, string>,
    missing: '',
    busy: false,
  },
  methods: {
    onShow() {
      return this.load();
    },

    async load() {
      if (!getToken()) {
        this.setData({ loggedIn: false });
        return;
      }
      try {
        const p = await getProfile();
        const form: Record<string, string> = {};
        for (const key of EDITABLE) {
          const value = (p as unknown as Record<string, unknown>)[key];
          form[key] = typeof value === 'string' ? value : '';
        }
        this.setData({
          loggedIn: true,
          profile: p,
          form,
          view: { id: `${p.id_type_label} ${maskId(p.id_number)}`, phone: maskPhone(p.phone), photo: p.has_photo ? '已上传' : '未上传' },
          missing: p.missing_fields.map((f) => FIELD_LABELS[f] || f).join('、'),
        });
      } catch (error) {
        // shown by the request module
      }
    },

    onInput(e: WechatMiniprogram.CustomEvent) {
      const field = e.currentTarget.dataset.field as string;
      this.setData({ [`form.${field}`]: e.detail.value, [`errors.${field}`]: '' });
    },

    /** 保存. */
    async onSave() {
      if (!this.data.profile) return;
      this.setData({ busy: true, errors: {} });
      try {
        await updateProfile(updateBody(this.data.profile, this.data.form));
        wx.showToast({ title: '已保存', icon: 'success' });
        await this.load();
      } catch (error) {
        this.setData({ errors: error instanceof ApiError ? { ...error.fields } : {} });
      } finally {
        this.setData({ busy: false });
      }
    },

    onGo(e: WechatMiniprogram.CustomEvent) {
      wx.navigateTo({ url: e.currentTarget.dataset.url });
    },

    onLogin() {
      wx.navigateTo({ url: '/pages/login/index' });
    },

    /** 退出登录: the token is revoked on the server and forgotten here. */
    async onLogout() {
      try {
        await logout();
      } catch (error) {
        // logged out locally all the same
      }
      clearToken();
      wx.reLaunch({ url: '/pages/login/index' });
    },
  },
});
