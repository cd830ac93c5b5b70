"""HTTP adapters of payments: submit, review, invoices and exports."""
