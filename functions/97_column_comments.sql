-- Column comments that the migrations did not write: every column whose meaning is not obvious from its name
-- (tests/test_schema.py lists the obvious names). Comments written in migrations stay there.

-- billing.currency (table)
COMMENT ON COLUMN billing.currency.code IS 'ISO 4217 alphabetic code: three upper-case letters (EUR).';

-- billing.fee (table)
COMMENT ON COLUMN billing.fee.fee_code IS 'Upper-case code the API names the fee by (SHIPPING, LATE).';

-- billing.tax_authority (table)
COMMENT ON COLUMN billing.tax_authority.tax_code IS 'Upper-case code tax lines name the authority by (DE_VAT, US_NY).';

-- billing.line_type (table)
COMMENT ON COLUMN billing.line_type.line_type IS
'Code of the line type (product, fee, discount, tax, memo); its subtype table is invoice_<line_type>_line.';

-- billing.document_series (table)
COMMENT ON COLUMN billing.document_series.series IS
'The kind of document it numbers: billing.invoice.kind (invoice, credit_note).';
COMMENT ON COLUMN billing.document_series.prefix IS
'Printed before the number: INV gives INV-000001. Never changes (PB002).';
COMMENT ON COLUMN billing.document_series.next_no IS
'The number the next document issued in the series gets; only issuing advances it, by one (PB002).';

-- billing.payment_method (table)
COMMENT ON COLUMN billing.payment_method.code IS 'Upper-case code the API names the method by (CASH, CARD, ...).';

-- billing.sales_order (table)
COMMENT ON COLUMN billing.sales_order.placed_at IS 'When the order was placed.';
COMMENT ON COLUMN billing.sales_order.canceled_time IS
'Business time of the cancellation (now() in billing.cancel_order), which its voided invoices and canceled payments '
'take too; NULL unless canceled.';
COMMENT ON COLUMN billing.sales_order.cancel_reason IS
'Why it was canceled, which its voided invoices, their credit notes and its canceled payments carry too; NULL unless '
'canceled.';

-- billing.order_line (table)
COMMENT ON COLUMN billing.order_line.quantity IS 'Units ordered, > 0; billed_quantity never exceeds it.';
COMMENT ON COLUMN billing.order_line.unit_price IS
'Price per unit in the order currency, >= 0; a product line bills at exactly this price.';

-- billing.order_charge (table)
COMMENT ON COLUMN billing.order_charge.charge_no IS 'Number of the charge within its order, from 1.';
COMMENT ON COLUMN billing.order_charge.fee_code IS 'What is charged (billing.fee).';
COMMENT ON COLUMN billing.order_charge.amount IS
'What the charge is worth: > 0, in the order currency''s minor units (23514).';
COMMENT ON COLUMN billing.order_charge.added_at IS 'When the charge was added to the order.';

-- billing.invoice (table)
COMMENT ON COLUMN billing.invoice.kind IS 'invoice or credit_note; fixed when the document is created.';
COMMENT ON COLUMN billing.invoice.issued_at IS
'When it was issued: the clock at issue, set by its trigger; NULL for a draft.';
COMMENT ON COLUMN billing.invoice.due_date IS
'When payment is due, if agreed; allocation strategies and reports take the issue date when NULL.';

-- billing.invoice_line (table)
COMMENT ON COLUMN billing.invoice_line.line_type IS
'Which subtype table holds the rest of the line (billing.line_type); it also sets the sign of amount.';
COMMENT ON COLUMN billing.invoice_line.quantity IS
'Units billed: of a product line, units of its order line; 1 for the other lines the API writes.';
COMMENT ON COLUMN billing.invoice_line.description IS
'Text printed on the line: as the API writes it, the product''s, fee''s or tax authority''s name, or the text given.';

-- billing.invoice_product_line (table)
COMMENT ON COLUMN billing.invoice_product_line.line_type IS
'Always product: carried into the composite foreign key, so only a product line can have this subtype row.';
COMMENT ON COLUMN billing.invoice_product_line.order_line_no IS
'The line of order_id it bills; on issue, that line''s billed_quantity grows by this line''s quantity.';

-- billing.invoice_fee_line (table)
COMMENT ON COLUMN billing.invoice_fee_line.line_type IS
'Always fee: carried into the composite foreign key, so only a fee line can have this subtype row.';
COMMENT ON COLUMN billing.invoice_fee_line.fee_code IS
'The fee billed; with an order charge, that charge''s fee (23514).';
COMMENT ON COLUMN billing.invoice_fee_line.order_charge_no IS
'The charge of order_id it bills (on issue, its billed_amount grows by the line amount); NULL for a fee of no charge.';

-- billing.invoice_discount_line (table)
COMMENT ON COLUMN billing.invoice_discount_line.line_type IS
'Always discount: carried into the composite foreign key, so only a discount line can have this subtype row.';
COMMENT ON COLUMN billing.invoice_discount_line.applies_to_line_no IS
'The line of the same invoice it reduces, if any: crediting units of that line gives back this discount in the same '
'share.';

-- billing.invoice_tax_line (table)
COMMENT ON COLUMN billing.invoice_tax_line.line_type IS
'Always tax: carried into the composite foreign key, so only a tax line can have this subtype row.';
COMMENT ON COLUMN billing.invoice_tax_line.tax_code IS 'The authority the tax is remitted to (billing.tax_authority).';
COMMENT ON COLUMN billing.invoice_tax_line.taxable_amount IS
'The base the rate applies to; billing.add_tax_line defaults it to the sum of the invoice''s non-tax lines so far.';

-- billing.invoice_memo_line (table)
COMMENT ON COLUMN billing.invoice_memo_line.line_type IS
'Always memo: carried into the composite foreign key, so only a memo line can have this subtype row.';
COMMENT ON COLUMN billing.invoice_memo_line.memo IS 'The text printed on the invoice; not empty.';

-- billing.credit_note_line (table)
COMMENT ON COLUMN billing.credit_note_line.credit_note_id IS
'The credit note (a billing.invoice row of kind credit_note) the line belongs to.';
COMMENT ON COLUMN billing.credit_note_line.kind IS
'Always credit_note: carried into the composite foreign key, so these lines belong to credit notes only.';
COMMENT ON COLUMN billing.credit_note_line.credited_invoice_id IS
'The invoice the credit note corrects: its foreign key makes it the credit note''s own credited_invoice_id.';
COMMENT ON COLUMN billing.credit_note_line.credited_line_no IS
'The line of the credited invoice it gives back part of; at most once per credit note.';
COMMENT ON COLUMN billing.credit_note_line.quantity IS
'Units given back (those of a product line become billable again on its order line); NULL for a credit by amount only.';

-- billing.invoice_balance (table)
COMMENT ON COLUMN billing.invoice_balance.invoice_id IS
'The issued invoice or credit note these totals belong to; the row is opened on issue.';
COMMENT ON COLUMN billing.invoice_balance.total IS 'The document''s total, copied from billing.invoice.total on issue.';
COMMENT ON COLUMN billing.invoice_balance.credited IS
'For an invoice: what issued credit notes took back. Always 0 for a credit note.';

-- billing.invoice_cancellation (table)
COMMENT ON COLUMN billing.invoice_cancellation.canceled_time IS
'Business time of the cancellation: now() in billing.void_invoice, the order''s canceled_time when its order is '
'canceled.';
COMMENT ON COLUMN billing.invoice_cancellation.cancel_reason IS
'Why it was canceled; also the reason of the credit note that voided it.';
COMMENT ON COLUMN billing.invoice_cancellation.credit_note_id IS
'The issued credit note that voided it, crediting all the invoice had left (else 55000).';

-- billing.invoice_dispute (table)
COMMENT ON COLUMN billing.invoice_dispute.dispute_no IS 'Number of the dispute within its invoice, from 1.';
COMMENT ON COLUMN billing.invoice_dispute.opened_at IS 'When the dispute was opened; never changes.';
COMMENT ON COLUMN billing.invoice_dispute.reason IS 'Why the customer disputes the invoice; never changes.';
COMMENT ON COLUMN billing.invoice_dispute.resolved_at IS
'When it was resolved (billing.resolve_dispute); NULL while the dispute is open, when allocation strategies skip the '
'invoice.';
COMMENT ON COLUMN billing.invoice_dispute.resolution_note IS
'How it was resolved; only with resolved_at. A resolved dispute never changes (PB001).';

-- billing.payment (table)
COMMENT ON COLUMN billing.payment.amount IS 'What was received: > 0, in the currency''s minor units (23514).';
COMMENT ON COLUMN billing.payment.reference IS
'The bank''s or gateway''s reference, if given; a customer statement shows it as the note.';

-- billing.payment_balance (table)
COMMENT ON COLUMN billing.payment_balance.amount IS 'The payment''s amount, copied when it is recorded.';
COMMENT ON COLUMN billing.payment_balance.allocated IS 'Applied to invoices: allocations less their reversals.';
COMMENT ON COLUMN billing.payment_balance.refunded IS
'Paid back to the customer out of this payment (billing.refund_part).';

-- billing.payment_cancellation (table)
COMMENT ON COLUMN billing.payment_cancellation.canceled_time IS
'Business time of the cancellation: now() in billing.cancel_payment, the order''s canceled_time when canceling its '
'order canceled it.';
COMMENT ON COLUMN billing.payment_cancellation.cancel_reason IS
'Why it was canceled (bounced, charged back, the order''s cancel reason); also the reason of the reversing '
'allocations.';

-- billing.payment_return (table)
COMMENT ON COLUMN billing.payment_return.returned_at IS 'When pgbilling recorded the return (clock time, stamped).';
COMMENT ON COLUMN billing.payment_return.reason IS 'Why the bank returned it (bounced, charged back, ...).';

-- billing.allocation (table)
COMMENT ON COLUMN billing.allocation.invoice_kind IS
'Always invoice: carried into the composite foreign key, so credit is applied to an invoice only, never to a credit '
'note.';
COMMENT ON COLUMN billing.allocation.credit_note_id IS
'The credit note (a billing.invoice row of kind credit_note) applied; NULL when the source is a payment. Exactly one '
'of payment_id and credit_note_id is set.';
COMMENT ON COLUMN billing.allocation.credit_note_kind IS
'Always credit_note: carried into the composite foreign key, so credit_note_id names a credit note only.';
COMMENT ON COLUMN billing.allocation.reverses_allocation_id IS
'In a reversing entry (billing.unallocate): the allocation it reverses, at most once; NULL in an original.';
COMMENT ON COLUMN billing.allocation.reason IS
'Why it was applied or reversed: the caller''s text, the auto_allocate strategy, or a cancellation''s reason.';
COMMENT ON COLUMN billing.allocation.allocated_by IS 'The login role that recorded it (default session_user).';

-- billing.refund (table)
COMMENT ON COLUMN billing.refund.amount IS
'What was paid back: > 0, in the currency''s minor units; its parts add up to it (checked at commit).';
COMMENT ON COLUMN billing.refund.refunded_at IS
'When the money was paid out (default now()); reports go by recorded_at.';
COMMENT ON COLUMN billing.refund.recorded_at IS
'When pgbilling recorded it, stamped by its trigger: what point-in-time reports go by.';
COMMENT ON COLUMN billing.refund.reason IS
'Why the money was paid back; the order''s cancel reason when canceling an order refunded it.';

-- billing.refund_part (table)
COMMENT ON COLUMN billing.refund_part.part_no IS
'Number of the part within its refund, from 1; billing.refund uses the oldest credit first.';
COMMENT ON COLUMN billing.refund_part.credit_note_id IS
'The credit note whose unapplied rest it uses; NULL when the source is a payment. Exactly one of payment_id and '
'credit_note_id is set.';
COMMENT ON COLUMN billing.refund_part.credit_note_kind IS
'Always credit_note: carried into the composite foreign key, so credit_note_id names a credit note only.';
COMMENT ON COLUMN billing.refund_part.amount IS
'What it takes from its source''s open credit: > 0, never more than the source has left (23514).';

-- billing.write_off (table)
COMMENT ON COLUMN billing.write_off.invoice_kind IS
'Always invoice: carried into the composite foreign key, so only an invoice can be written off.';
COMMENT ON COLUMN billing.write_off.amount IS
'Positive when written off; the negative of the original in a reversing entry. Counts toward '
'invoice_balance.allocated.';
COMMENT ON COLUMN billing.write_off.reverses_write_off_id IS
'In a reversing entry (appended when the invoice is voided): the write-off it reverses, at most once; NULL in an '
'original.';
COMMENT ON COLUMN billing.write_off.reason IS 'Why it was written off; in a reversal, the invoice''s cancel reason.';
COMMENT ON COLUMN billing.write_off.written_off_at IS
'When pgbilling recorded it, stamped by its trigger: what point-in-time balances go by.';

-- billing.active_allocation (view)
COMMENT ON COLUMN billing.active_allocation.credit_note_id IS
'The credit note applied; NULL when the source is a payment.';
COMMENT ON COLUMN billing.active_allocation.amount IS
'What is applied: always positive, as reversals and reversed allocations are left out.';
COMMENT ON COLUMN billing.active_allocation.allocated_at IS 'When the allocation was recorded.';
COMMENT ON COLUMN billing.active_allocation.reason IS 'Why it was applied.';
COMMENT ON COLUMN billing.active_allocation.allocated_by IS 'The login role that recorded it.';

-- billing.invoice_summary (view)
COMMENT ON COLUMN billing.invoice_summary.invoice_no IS
'Number given on issue (INV-000001, CN-000001); NULL for a draft.';
COMMENT ON COLUMN billing.invoice_summary.kind IS 'invoice or credit_note.';
COMMENT ON COLUMN billing.invoice_summary.status IS 'draft or issued.';
COMMENT ON COLUMN billing.invoice_summary.issued_at IS 'When it was issued; NULL for a draft.';
COMMENT ON COLUMN billing.invoice_summary.due_date IS 'When payment is due, if agreed.';
COMMENT ON COLUMN billing.invoice_summary.total IS 'Sum of its line amounts, set on issue; NULL for a draft.';
COMMENT ON COLUMN billing.invoice_summary.credited IS
'For an issued invoice: what issued credit notes took back; otherwise 0.';
COMMENT ON COLUMN billing.invoice_summary.credited_invoice_id IS 'For a credit note: the invoice it corrects.';
COMMENT ON COLUMN billing.invoice_summary.reason IS 'For a credit note: why it was issued.';
COMMENT ON COLUMN billing.invoice_summary.is_disputed IS 'Whether it has an open dispute.';
COMMENT ON COLUMN billing.invoice_summary.is_canceled IS
'Whether the invoice was voided (billing.invoice_cancellation); false for a credit note.';
COMMENT ON COLUMN billing.invoice_summary.canceled_time IS 'Business time of its cancellation; NULL unless canceled.';
COMMENT ON COLUMN billing.invoice_summary.cancel_reason IS 'Why it was canceled; NULL unless canceled.';
COMMENT ON COLUMN billing.invoice_summary.paid IS
'What payments applied to it, less reversals; 0 for drafts and credit notes.';
COMMENT ON COLUMN billing.invoice_summary.open_amount IS
'Of an invoice: not yet paid, credited or written off; of a credit note: not yet applied or refunded. NULL for a '
'draft.';
COMMENT ON COLUMN billing.invoice_summary.payment_status IS
'Of an issued invoice: open, partially_paid, paid, credited, written_off or canceled; NULL for drafts and credit '
'notes.';
COMMENT ON COLUMN billing.invoice_summary.written_off IS 'What write-offs settled of it, less their reversals.';

-- billing.invoice_line_summary (view)
COMMENT ON COLUMN billing.invoice_line_summary.line_type IS 'product, fee, discount, tax or memo.';
COMMENT ON COLUMN billing.invoice_line_summary.quantity IS 'Units billed.';
COMMENT ON COLUMN billing.invoice_line_summary.unit_amount IS 'Price per unit where one applies.';
COMMENT ON COLUMN billing.invoice_line_summary.amount IS 'The line amount: negative for a discount, 0 for a memo.';
COMMENT ON COLUMN billing.invoice_line_summary.order_line_no IS 'For a product line: the line of order_id it bills.';
COMMENT ON COLUMN billing.invoice_line_summary.order_charge_no IS
'For a fee line: the charge of order_id it bills, if any.';
COMMENT ON COLUMN billing.invoice_line_summary.fee_code IS 'For a fee line: its fee.';
COMMENT ON COLUMN billing.invoice_line_summary.tax_code IS 'For a tax line: its authority.';
COMMENT ON COLUMN billing.invoice_line_summary.tax_rate IS 'For a tax line: its rate, a fraction (0.19 is 19 %).';
COMMENT ON COLUMN billing.invoice_line_summary.credited_quantity IS 'Units given back by issued credit notes.';
COMMENT ON COLUMN billing.invoice_line_summary.credited_amount IS
'Amount given back by issued credit notes, with the line''s sign.';
COMMENT ON COLUMN billing.invoice_line_summary.is_canceled IS 'Whether its invoice was voided.';
COMMENT ON COLUMN billing.invoice_line_summary.canceled_time IS
'Business time of its invoice''s cancellation; NULL unless canceled.';
COMMENT ON COLUMN billing.invoice_line_summary.cancel_reason IS 'Why its invoice was canceled; NULL unless canceled.';
COMMENT ON COLUMN billing.invoice_line_summary.quantity_left IS
'quantity - credited_quantity: units not yet given back.';
COMMENT ON COLUMN billing.invoice_line_summary.amount_left IS 'amount - credited_amount: what the line still holds.';
COMMENT ON COLUMN billing.invoice_line_summary.has_credit_left IS
'Whether a credit note can still give something back: an amount, or units of a priced line; never for a memo.';

-- billing.order_summary (view)
COMMENT ON COLUMN billing.order_summary.order_ref IS 'The order''s reference, unique per customer.';
COMMENT ON COLUMN billing.order_summary.placed_at IS 'When the order was placed.';
COMMENT ON COLUMN billing.order_summary.order_total IS
'Its lines at their unit price (rounded per line) plus its charges.';
COMMENT ON COLUMN billing.order_summary.invoiced IS 'Amount of the issued invoices'' product and fee lines billing it.';
COMMENT ON COLUMN billing.order_summary.credited IS 'What issued credit notes took back of those lines.';
COMMENT ON COLUMN billing.order_summary.unbilled IS
'What billing.bill_order would bill next (unbilled units at their price, unbilled charges); 0 once canceled.';
COMMENT ON COLUMN billing.order_summary.is_canceled IS 'Whether the order was canceled.';
COMMENT ON COLUMN billing.order_summary.canceled_time IS 'Business time of the cancellation; NULL unless canceled.';
COMMENT ON COLUMN billing.order_summary.cancel_reason IS 'Why it was canceled; NULL unless canceled.';
COMMENT ON COLUMN billing.order_summary.paid IS
'Its share of what payments paid on its invoices: of each, in the proportion its lines make of the invoice total.';
COMMENT ON COLUMN billing.order_summary.open_amount IS
'Its share of its invoices'' open amounts, in the same proportion as paid.';
COMMENT ON COLUMN billing.order_summary.payment_status IS
'unbilled, open, partially_paid, paid, credited or canceled, of what is invoiced.';

-- billing.payment_summary (view)
COMMENT ON COLUMN billing.payment_summary.payment_no IS 'The payment''s number, unique across the system.';
COMMENT ON COLUMN billing.payment_summary.method IS 'Code of the payment method (CASH, CARD, ...).';
COMMENT ON COLUMN billing.payment_summary.amount IS 'What was received.';
COMMENT ON COLUMN billing.payment_summary.allocated IS 'Applied to invoices, less reversals.';
COMMENT ON COLUMN billing.payment_summary.unallocated IS
'Open credit: neither applied, refunded nor voided; 0 once canceled.';
COMMENT ON COLUMN billing.payment_summary.received_at IS 'When the money was received (value date).';
COMMENT ON COLUMN billing.payment_summary.is_canceled IS 'Whether the payment was canceled.';
COMMENT ON COLUMN billing.payment_summary.canceled_time IS 'Business time of the cancellation; NULL unless canceled.';
COMMENT ON COLUMN billing.payment_summary.cancel_reason IS 'Why it was canceled; NULL unless canceled.';
COMMENT ON COLUMN billing.payment_summary.refunded IS 'Paid back to the customer out of it.';
COMMENT ON COLUMN billing.payment_summary.reference IS 'The bank''s or gateway''s reference, if given.';
COMMENT ON COLUMN billing.payment_summary.recorded_at IS 'When pgbilling recorded it.';

-- billing.customer_balance (view)
COMMENT ON COLUMN billing.customer_balance.receivable IS
'Open amount of the customer''s invoices in the currency: not yet paid, credited or written off.';
COMMENT ON COLUMN billing.customer_balance.open_credit IS
'Unapplied, unrefunded rest of the customer''s payments and credit notes in the currency.';
COMMENT ON COLUMN billing.customer_balance.net IS
'receivable - open_credit: what the customer owes (negative: what is owed to them).';
COMMENT ON COLUMN billing.customer_balance.customer_name IS 'The customer''s name.';

-- billing.unapplied_cash (view)
COMMENT ON COLUMN billing.unapplied_cash.customer_name IS 'The customer''s name.';
COMMENT ON COLUMN billing.unapplied_cash.payment_no IS 'The payment''s number.';
COMMENT ON COLUMN billing.unapplied_cash.method IS 'Code of the payment method.';
COMMENT ON COLUMN billing.unapplied_cash.received_at IS 'When the money was received (value date).';
COMMENT ON COLUMN billing.unapplied_cash.amount IS 'What was received.';
COMMENT ON COLUMN billing.unapplied_cash.unapplied IS
'What is neither applied to invoices, refunded nor voided; always > 0 here.';
