/** Short names for the generated API types (api/schema.d.ts). */
import type { components } from './schema';

type S = components['schemas'];
export type TokenOut = S['TokenOut'];
export type AccountOut = S['AccountOut'];
export type TraineeRegister = S['TraineeRegister'];
export type WeChatBindIn = S['WeChatBindIn'];
export type SmsCodeOut = S['SmsCodeOut'];
export type SmsPurpose = S['SmsPurpose'];
export type SessionRow = S['SessionRow'];
export type SessionPage = S['SessionPage'];
export type SessionDetail = S['SessionDetail'];
export type MyStatusOut = S['MyStatusOut'];
export type EnrollmentOut = S['EnrollmentOut'];
export type EnrollmentPage = S['EnrollmentPage'];
export type EnrollmentCreate = S['EnrollmentCreate'];
export type WaitlistOut = S['WaitlistOut'];
export type AddressOut = S['AddressOut'];
export type AddressList = S['AddressList'];
export type AddressIn = S['AddressIn'];
export type InvoiceTemplateOut = S['InvoiceTemplateOut'];
export type InvoiceTemplateList = S['InvoiceTemplateList'];
export type ProfileOut = S['ProfileOut'];
export type ProfileUpdate = S['ProfileUpdate'];
export type PhotoOut = S['PhotoOut'];
export type MyUnitOut = S['MyUnitOut'];
export type MyUnitList = S['MyUnitList'];
export type OkOut = S['OkOut'];
