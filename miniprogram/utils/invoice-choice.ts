/** The invoice template chosen at enrollment, kept on the phone for the payment page. */

/** Storage key of the invoice template chosen for an enrollment. */
export function invoiceChoiceKey(enrollmentId: string): string {
  return `invoice_template:${enrollmentId}`;
}
