/** 我的：个人信息（查看与修改常用项）、资料完整度、证件照、我的单位、退出登录。 */
import { logout } from '../../api/auth';
import { getProfile, updateProfile } from '../../api/profile';
import { ApiError } from '../../api/request';
import type { ProfileOut, ProfileUpdate } from '../../api/types';
import { clearToken, getToken } from '../../utils/auth';

/** Chinese names of the profile fields (for "待完善" and messages). */
export const FIELD_LABELS: Record<string, string> = {
  name: '姓名', sex: '性别', birth_date: '出生日期', email: '邮箱', phone: '手机号', employer: '工作单位',
  position: '职务', specialty: '专业', work_start: '参加工作时间', address: '通讯地址', postcode: '邮编',
  education: '学历', ethnicity: '民族', political_status: '政治面貌', title: '职称', honor: '荣誉称号',
  remarks: '备注', photo: '证件照',
};

/** The fields PUT /me/profile takes (the body is the whole profile). */
const UPDATE_KEYS: (keyof ProfileUpdate)[] = [
  'name', 'sex', 'birth_date', 'email', 'employer', 'position', 'specialty', 'work_start', 'address', 'postcode',
  'education', 'ethnicity', 'political_status', 'title', 'honor', 'remarks',
];

/** Editable here; the rest is kept as it is. */
export const EDITABLE = ['email', 'employer', 'position', 'specialty', 'work_start', 'address', 'postcode'];

/** "1101**********002X": the ID number as shown on screen (full only on the server's export). */
export function maskId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 4)}${'*'.repeat(id.length - 8)}${id.slice(-4)}` : id;
}

/** "138****5678". */
export function maskPhone(phone: string | null | undefined): string {
  return phone && phone.length === 11 ? `${phone.slice(0, 3)}****${phone.slice(7)}` : phone || '';
}

/** The PUT body from the stored profile and the edited values. */
export function updateBody(profile: ProfileOut, form: Record<string, string>): ProfileUpdate {
  const body: Record<string, unknown> = {};
  for (const key of UPDATE_KEYS) {
    const value = EDITABLE.includes(key) ? form[key] : (profile as unknown as Record<string, unknown>)[key];
    body[key] = typeof value === 'string' ? value.trim() || null : value ?? null;
  }
  return body as ProfileUpdate;
}

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
