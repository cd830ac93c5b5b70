/** Pure helpers of pages/profile (tested without rendering). */
import type { ProfileOut, ProfileUpdate } from '../../api/types';


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
