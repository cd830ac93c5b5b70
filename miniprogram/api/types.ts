/** Short names for the generated API types (api/schema.d.ts). */
import type { components } from './schema';

type S = components['schemas'];

/**
 * A request body: the document lists fields with defaults as required (it describes what the
 * server returns as well); a client may leave out any field that accepts null.
 */
export type Input<T> = { [K in keyof T as null extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as null extends T[K] ? K : never]?: T[K];
};
export type TokenOut = S['TokenOut'];
export type AccountOut = S['AccountOut'];
export type TraineeRegister = Omit<Input<S['TraineeRegister']>, 'id_type'> & Partial<Pick<S['TraineeRegister'], 'id_type'>>;
/** Bind a WeChat: a password or an SMS code (purpose bind), not both. */
export type WeChatBindIn = { bind_ticket: string; account: string } & ({ password: string } | { sms_code: string });
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
export type AddressIn = Input<S['AddressIn']>;
export type InvoiceTemplateOut = S['InvoiceTemplateOut'];
export type InvoiceTemplateList = S['InvoiceTemplateList'];
export type ProfileOut = S['ProfileOut'];
export type ProfileUpdate = Partial<S['ProfileUpdate']>;
export type PhotoOut = S['PhotoOut'];
export type MyUnitOut = S['MyUnitOut'];
export type MyUnitList = S['MyUnitList'];
export type OkOut = S['OkOut'];
export type AssociationAccountOut = S['AssociationAccountOut'];
export type PaymentDueOut = S['PaymentDueOut'];
export type PaymentLineOut = S['PaymentLineOut'];
export type PaymentOut = S['PaymentOut'];
export type PaymentPage = S['PaymentPage'];
export type InvoiceIssueOut = S['InvoiceIssueOut'];
export type InvoiceTemplateIn = Input<S['InvoiceTemplateIn']>;
export type SubscriptionsOut = S['SubscriptionsOut'];
export type WaitlistPage = S['WaitlistPage'];
export type PassOut = S['PassOut'];
export type ResultOut = S['ResultOut'];
export type ResultPage = S['ResultPage'];
export type CertificateOut = S['CertificateOut'];
export type CertificatePage = S['CertificatePage'];
