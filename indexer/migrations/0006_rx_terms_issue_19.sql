-- Issue 19: the signed prescription terms gained the date written, the days' supply, the long-term-care flag
-- (21 CFR 1306.13(b)) and a deadline; a controlled substance may be transferred once between pharmacies; the
-- prescriber, the patient or a registrar may cancel. Rows of an earlier deployment get neutral values (that
-- deployment's events carry none of these).
ALTER TABLE prescriptions
    ADD COLUMN days_supply    integer     NOT NULL DEFAULT 0,
    ADD COLUMN date_written   timestamptz NOT NULL DEFAULT to_timestamp(0),
    ADD COLUMN long_term_care boolean     NOT NULL DEFAULT false,
    ADD COLUMN deadline       timestamptz NOT NULL DEFAULT to_timestamp(0),
    -- The controlled substance's one transfer between pharmacies was used.
    ADD COLUMN transferred    boolean     NOT NULL DEFAULT false,
    -- Who cancelled: 'prescriber', 'patient' or 'registrar' (NULL while not cancelled).
    ADD COLUMN cancelled_by   text,
    -- 21 CFR 1306.13(a): after a schedule II short-supply partial fill, the balance is due before this
    -- (the prescription's end moves earlier; valid_until keeps the signed term).
    ADD COLUMN short_supply_until timestamptz;
ALTER TABLE prescriptions
    ALTER COLUMN days_supply DROP DEFAULT,
    ALTER COLUMN date_written DROP DEFAULT,
    ALTER COLUMN long_term_care DROP DEFAULT,
    ALTER COLUMN deadline DROP DEFAULT,
    ALTER COLUMN transferred DROP DEFAULT;
