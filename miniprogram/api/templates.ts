/** The caller's shipping addresses and invoice templates. */
import { request } from './request';
import type { AddressIn, AddressList, AddressOut, InvoiceTemplateList } from './types';

/** GET /api/v1/addresses (the default first). */
export function listAddresses(): Promise<AddressList> {
  return request<AddressList>('/api/v1/addresses');
}

/** POST /api/v1/addresses. */
export function createAddress(body: AddressIn): Promise<AddressOut> {
  return request<AddressOut>('/api/v1/addresses', { method: 'POST', data: body, show: 'form' });
}

/** GET /api/v1/invoice-templates (the default first). */
export function listInvoiceTemplates(): Promise<InvoiceTemplateList> {
  return request<InvoiceTemplateList>('/api/v1/invoice-templates');
}
