-- 0002_reference_data: lookup tables shared by all customers (currency, product, fee,
-- tax_authority, line_type, document_series) and their initial rows.
-- Locks: none on existing objects (new tables only).
CREATE TABLE billing.currency (
    code char(3) NOT NULL,
    name text NOT NULL,
    minor_units smallint NOT NULL,
    CONSTRAINT currency_pkey PRIMARY KEY (code),
    CONSTRAINT currency_code_check CHECK (code ~ '^[A-Z]{3}$'),
    CONSTRAINT currency_minor_units_check CHECK (minor_units BETWEEN 0 AND 4)
);

COMMENT ON TABLE billing.currency IS 'ISO 4217 currencies. Every amount in a currency is rounded to its minor units.';
COMMENT ON COLUMN billing.currency.minor_units IS
'Decimal places of the currency (EUR 2, JPY 0): amounts may carry no more; billing.round_money rounds to them.';

INSERT INTO billing.currency (code, name, minor_units) VALUES
('EUR', 'Euro', 2),
('USD', 'US dollar', 2),
('GBP', 'Pound sterling', 2),
('CHF', 'Swiss franc', 2),
('JPY', 'Yen', 0);

CREATE TABLE billing.product (
    product_id bigint GENERATED ALWAYS AS IDENTITY,
    sku text NOT NULL,
    name text NOT NULL,
    description text,
    CONSTRAINT product_pkey PRIMARY KEY (product_id),
    CONSTRAINT product_sku_key UNIQUE (sku),
    CONSTRAINT product_sku_check CHECK (sku <> '')
);

COMMENT ON TABLE billing.product IS 'What the shop sells. Order lines name a product; prices live on the order line.';
COMMENT ON COLUMN billing.product.sku IS 'Stock keeping unit: the shop''s own product code, unique.';

CREATE TABLE billing.fee (
    fee_code text NOT NULL,
    name text NOT NULL,
    CONSTRAINT fee_pkey PRIMARY KEY (fee_code),
    CONSTRAINT fee_fee_code_check CHECK (fee_code ~ '^[A-Z][A-Z0-9_]*$')
);

COMMENT ON TABLE billing.fee IS 'Kinds of charge that are not products: shipping, handling, late fees, licences.';

INSERT INTO billing.fee (fee_code, name) VALUES
('SHIPPING', 'Shipping'),
('HANDLING', 'Handling'),
('ADMIN', 'Administration fee'),
('LICENCE', 'Licence fee'),
('LATE', 'Late payment fee');

CREATE TABLE billing.tax_authority (
    tax_code text NOT NULL,
    name text NOT NULL,
    CONSTRAINT tax_authority_pkey PRIMARY KEY (tax_code),
    CONSTRAINT tax_authority_tax_code_check CHECK (tax_code ~ '^[A-Z][A-Z0-9_]*$')
);

COMMENT ON TABLE billing.tax_authority IS 'Who a tax line is remitted to, e.g. a national VAT or a state sales tax.';

INSERT INTO billing.tax_authority (tax_code, name) VALUES
('DE_VAT', 'Germany, Umsatzsteuer'),
('FR_VAT', 'France, TVA'),
('GB_VAT', 'United Kingdom, VAT'),
('US_NY', 'New York State sales tax');

CREATE TABLE billing.line_type (
    line_type text NOT NULL,
    description text NOT NULL,
    CONSTRAINT line_type_pkey PRIMARY KEY (line_type)
);

COMMENT ON TABLE billing.line_type IS
'The exclusive subtypes of an invoice line; each has its own subtype table (invoice_product_line, ...).';

INSERT INTO billing.line_type (line_type, description) VALUES
('product', 'Bills a quantity of an order line'),
('fee', 'A charge that is not a product, with or without an order'),
('discount', 'A reduction, stored as a negative amount'),
('tax', 'Tax on a taxable amount, remitted to a tax authority'),
('memo', 'Text only, amount 0');

CREATE TABLE billing.document_series (
    series text NOT NULL,
    prefix text NOT NULL,
    next_no bigint NOT NULL DEFAULT 1,
    CONSTRAINT document_series_pkey PRIMARY KEY (series),
    CONSTRAINT document_series_next_no_check CHECK (next_no > 0)
);

COMMENT ON TABLE billing.document_series IS
'Gapless number series of issued documents. Issuing takes the series row lock until commit, '
'so numbers follow commit order and a rolled-back issue leaves no gap.';

INSERT INTO billing.document_series (series, prefix) VALUES
('invoice', 'INV'),
('credit_note', 'CN');
