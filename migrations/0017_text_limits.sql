-- transactional: false
-- 0017_text_limits: CHECKs on what callers type and the numbers they give, so direct SQL obeys them as the API does.
-- Text a person types (names, codes, references, reasons, descriptions, memos) is at most 200 characters for
-- codes, names and references (254 for an e-mail address) and 2000 for reasons, descriptions and memos
-- (*_length_check); a required name, reference or reason has a character that is not white space (*_blank_check).
-- Amounts, quantities and prices are finite numbers below 10^15 in absolute value (*_range_check): numeric takes
-- 'NaN' and (PostgreSQL 14+) 'Infinity', and NaN compares greater than every number, so CHECK (amount > 0) let
-- NaN through. All refuse with 23514 (README, Errors).
-- Runs outside a transaction: each table's constraints are added NOT VALID (ACCESS EXCLUSIVE for an instant, no
-- scan), then those on rows that can still be corrected are validated (SHARE UPDATE EXCLUSIVE: reads and writes
-- go on while existing rows are checked). If a VALIDATE fails, a row breaks a new rule: the message names the
-- constraint; correct the row and migrate again. A failed run is undone statement by statement; a migrate that was
-- killed is not, and leaves the constraints it had added: drop those (DROP CONSTRAINT IF EXISTS, names as in the
-- rollback) before migrating again. The rollback drops the constraints (ACCESS EXCLUSIVE for an instant per table).
ALTER TABLE billing.product
ADD CONSTRAINT product_sku_blank_check CHECK (sku ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT product_sku_length_check CHECK (char_length(sku) <= 200) NOT VALID,
ADD CONSTRAINT product_name_blank_check CHECK (name ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT product_name_length_check CHECK (char_length(name) <= 200) NOT VALID,
ADD CONSTRAINT product_description_length_check CHECK (char_length(description) <= 2000) NOT VALID;
ALTER TABLE billing.customer
ADD CONSTRAINT customer_name_blank_check CHECK (name ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT customer_name_length_check CHECK (char_length(name) <= 200) NOT VALID,
ADD CONSTRAINT customer_email_length_check CHECK (char_length(email) <= 254) NOT VALID;
ALTER TABLE billing.sales_order
ADD CONSTRAINT sales_order_order_ref_blank_check CHECK (order_ref ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT sales_order_order_ref_length_check CHECK (char_length(order_ref) <= 200) NOT VALID,
ADD CONSTRAINT sales_order_cancel_reason_blank_check CHECK (cancel_reason ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT sales_order_cancel_reason_length_check CHECK (char_length(cancel_reason) <= 2000) NOT VALID,
ADD CONSTRAINT sales_order_comments_length_check CHECK (char_length(comments) <= 2000) NOT VALID;
ALTER TABLE billing.order_line
ADD CONSTRAINT order_line_quantity_range_check CHECK (abs(quantity) < 1e15) NOT VALID,
ADD CONSTRAINT order_line_unit_price_range_check CHECK (abs(unit_price) < 1e15) NOT VALID;
ALTER TABLE billing.order_charge
ADD CONSTRAINT order_charge_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT order_charge_description_length_check CHECK (char_length(description) <= 2000) NOT VALID;
ALTER TABLE billing.invoice
ADD CONSTRAINT invoice_reason_length_check CHECK (char_length(reason) <= 2000) NOT VALID,
ADD CONSTRAINT invoice_comments_length_check CHECK (char_length(comments) <= 2000) NOT VALID;
ALTER TABLE billing.invoice_line
ADD CONSTRAINT invoice_line_quantity_range_check CHECK (abs(quantity) < 1e15) NOT VALID,
ADD CONSTRAINT invoice_line_unit_amount_range_check CHECK (abs(unit_amount) < 1e15) NOT VALID,
ADD CONSTRAINT invoice_line_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT invoice_line_description_length_check CHECK (char_length(description) <= 2000) NOT VALID;
ALTER TABLE billing.invoice_tax_line
ADD CONSTRAINT invoice_tax_line_taxable_amount_range_check CHECK (abs(taxable_amount) < 1e15) NOT VALID;
ALTER TABLE billing.invoice_memo_line
ADD CONSTRAINT invoice_memo_line_memo_blank_check CHECK (memo ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT invoice_memo_line_memo_length_check CHECK (char_length(memo) <= 2000) NOT VALID;
ALTER TABLE billing.credit_note_line
ADD CONSTRAINT credit_note_line_quantity_range_check CHECK (abs(quantity) < 1e15) NOT VALID,
ADD CONSTRAINT credit_note_line_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID;
ALTER TABLE billing.invoice_cancellation
ADD CONSTRAINT invoice_cancellation_cancel_reason_blank_check CHECK (cancel_reason ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT invoice_cancellation_cancel_reason_length_check CHECK (char_length(cancel_reason) <= 2000) NOT VALID;
ALTER TABLE billing.invoice_dispute
ADD CONSTRAINT invoice_dispute_reason_blank_check CHECK (reason ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT invoice_dispute_reason_length_check CHECK (char_length(reason) <= 2000) NOT VALID,
ADD CONSTRAINT invoice_dispute_resolution_note_length_check CHECK (char_length(resolution_note) <= 2000) NOT VALID;
ALTER TABLE billing.payment
ADD CONSTRAINT payment_payment_no_blank_check CHECK (payment_no ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT payment_payment_no_length_check CHECK (char_length(payment_no) <= 200) NOT VALID,
ADD CONSTRAINT payment_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT payment_reference_length_check CHECK (char_length(reference) <= 200) NOT VALID,
ADD CONSTRAINT payment_comments_length_check CHECK (char_length(comments) <= 2000) NOT VALID;
ALTER TABLE billing.payment_cancellation
ADD CONSTRAINT payment_cancellation_cancel_reason_blank_check CHECK (cancel_reason ~ '[^[:space:]]') NOT VALID,
ADD CONSTRAINT payment_cancellation_cancel_reason_length_check CHECK (char_length(cancel_reason) <= 2000) NOT VALID;
ALTER TABLE billing.allocation
ADD CONSTRAINT allocation_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT allocation_reason_length_check CHECK (char_length(reason) <= 2000) NOT VALID;
ALTER TABLE billing.refund
ADD CONSTRAINT refund_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT refund_reason_length_check CHECK (char_length(reason) <= 2000) NOT VALID;
ALTER TABLE billing.refund_part
ADD CONSTRAINT refund_part_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID;
ALTER TABLE billing.write_off
ADD CONSTRAINT write_off_amount_range_check CHECK (abs(amount) < 1e15) NOT VALID,
ADD CONSTRAINT write_off_reason_length_check CHECK (char_length(reason) <= 2000) NOT VALID;

-- Existing rows are checked where they can still be corrected: products, customers, orders (not the reason of a
-- cancellation), order lines and charges. The constraints on history (documents and their lines, cancellations,
-- disputes, payments, allocations, refunds, write-offs) bind every new row but stay NOT VALID: a row written
-- before 0017 may break them, and such a row is immutable and part of a hash chain, so it cannot be corrected.
ALTER TABLE billing.product
VALIDATE CONSTRAINT product_sku_blank_check,
VALIDATE CONSTRAINT product_sku_length_check,
VALIDATE CONSTRAINT product_name_blank_check,
VALIDATE CONSTRAINT product_name_length_check,
VALIDATE CONSTRAINT product_description_length_check;
ALTER TABLE billing.customer
VALIDATE CONSTRAINT customer_name_blank_check,
VALIDATE CONSTRAINT customer_name_length_check,
VALIDATE CONSTRAINT customer_email_length_check;
ALTER TABLE billing.sales_order
VALIDATE CONSTRAINT sales_order_order_ref_blank_check,
VALIDATE CONSTRAINT sales_order_order_ref_length_check,
VALIDATE CONSTRAINT sales_order_comments_length_check;
ALTER TABLE billing.order_line
VALIDATE CONSTRAINT order_line_quantity_range_check,
VALIDATE CONSTRAINT order_line_unit_price_range_check;
ALTER TABLE billing.order_charge
VALIDATE CONSTRAINT order_charge_amount_range_check,
VALIDATE CONSTRAINT order_charge_description_length_check;

COMMENT ON CONSTRAINT product_sku_blank_check ON billing.product IS
'sku has a character that is not white space: an empty or blank sku says nothing.';
COMMENT ON CONSTRAINT product_sku_length_check ON billing.product IS
'sku is at most 200 characters.';
COMMENT ON CONSTRAINT product_name_blank_check ON billing.product IS
'name has a character that is not white space: an empty or blank name says nothing.';
COMMENT ON CONSTRAINT product_name_length_check ON billing.product IS
'name is at most 200 characters.';
COMMENT ON CONSTRAINT product_description_length_check ON billing.product IS
'description is at most 2000 characters.';
COMMENT ON CONSTRAINT customer_name_blank_check ON billing.customer IS
'name has a character that is not white space: an empty or blank name says nothing.';
COMMENT ON CONSTRAINT customer_name_length_check ON billing.customer IS
'name is at most 200 characters.';
COMMENT ON CONSTRAINT customer_email_length_check ON billing.customer IS
'email is at most 254 characters.';
COMMENT ON CONSTRAINT sales_order_order_ref_blank_check ON billing.sales_order IS
'order_ref has a character that is not white space: an empty or blank order_ref says nothing.';
COMMENT ON CONSTRAINT sales_order_order_ref_length_check ON billing.sales_order IS
'order_ref is at most 200 characters.';
COMMENT ON CONSTRAINT sales_order_cancel_reason_blank_check ON billing.sales_order IS
'cancel_reason has a character that is not white space: an empty or blank cancel_reason says nothing.';
COMMENT ON CONSTRAINT sales_order_cancel_reason_length_check ON billing.sales_order IS
'cancel_reason is at most 2000 characters.';
COMMENT ON CONSTRAINT sales_order_comments_length_check ON billing.sales_order IS
'comments is at most 2000 characters.';
COMMENT ON CONSTRAINT order_line_quantity_range_check ON billing.order_line IS
'quantity is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT order_line_unit_price_range_check ON billing.order_line IS
'unit_price is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT order_charge_amount_range_check ON billing.order_charge IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT order_charge_description_length_check ON billing.order_charge IS
'description is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_reason_length_check ON billing.invoice IS
'reason is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_comments_length_check ON billing.invoice IS
'comments is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_line_quantity_range_check ON billing.invoice_line IS
'quantity is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT invoice_line_unit_amount_range_check ON billing.invoice_line IS
'unit_amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are '
'refused (NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT invoice_line_amount_range_check ON billing.invoice_line IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT invoice_line_description_length_check ON billing.invoice_line IS
'description is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_tax_line_taxable_amount_range_check ON billing.invoice_tax_line IS
'taxable_amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are '
'refused (NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT invoice_memo_line_memo_blank_check ON billing.invoice_memo_line IS
'memo has a character that is not white space: an empty or blank memo says nothing.';
COMMENT ON CONSTRAINT invoice_memo_line_memo_length_check ON billing.invoice_memo_line IS
'memo is at most 2000 characters.';
COMMENT ON CONSTRAINT credit_note_line_quantity_range_check ON billing.credit_note_line IS
'quantity is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT credit_note_line_amount_range_check ON billing.credit_note_line IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT invoice_cancellation_cancel_reason_blank_check ON billing.invoice_cancellation IS
'cancel_reason has a character that is not white space: an empty or blank cancel_reason says nothing.';
COMMENT ON CONSTRAINT invoice_cancellation_cancel_reason_length_check ON billing.invoice_cancellation IS
'cancel_reason is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_dispute_reason_blank_check ON billing.invoice_dispute IS
'reason has a character that is not white space: an empty or blank reason says nothing.';
COMMENT ON CONSTRAINT invoice_dispute_reason_length_check ON billing.invoice_dispute IS
'reason is at most 2000 characters.';
COMMENT ON CONSTRAINT invoice_dispute_resolution_note_length_check ON billing.invoice_dispute IS
'resolution_note is at most 2000 characters.';
COMMENT ON CONSTRAINT payment_payment_no_blank_check ON billing.payment IS
'payment_no has a character that is not white space: an empty or blank payment_no says nothing.';
COMMENT ON CONSTRAINT payment_payment_no_length_check ON billing.payment IS
'payment_no is at most 200 characters.';
COMMENT ON CONSTRAINT payment_amount_range_check ON billing.payment IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT payment_reference_length_check ON billing.payment IS
'reference is at most 200 characters.';
COMMENT ON CONSTRAINT payment_comments_length_check ON billing.payment IS
'comments is at most 2000 characters.';
COMMENT ON CONSTRAINT payment_cancellation_cancel_reason_blank_check ON billing.payment_cancellation IS
'cancel_reason has a character that is not white space: an empty or blank cancel_reason says nothing.';
COMMENT ON CONSTRAINT payment_cancellation_cancel_reason_length_check ON billing.payment_cancellation IS
'cancel_reason is at most 2000 characters.';
COMMENT ON CONSTRAINT allocation_amount_range_check ON billing.allocation IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT allocation_reason_length_check ON billing.allocation IS
'reason is at most 2000 characters.';
COMMENT ON CONSTRAINT refund_amount_range_check ON billing.refund IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT refund_reason_length_check ON billing.refund IS
'reason is at most 2000 characters.';
COMMENT ON CONSTRAINT refund_part_amount_range_check ON billing.refund_part IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT write_off_amount_range_check ON billing.write_off IS
'amount is a finite number below 10^15 in absolute value: NaN, Infinity and -Infinity are refused '
'(NaN compares greater than every number, so the other CHECKs let it through).';
COMMENT ON CONSTRAINT write_off_reason_length_check ON billing.write_off IS
'reason is at most 2000 characters.';
