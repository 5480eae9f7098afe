-- A prescription is open (dispensable as far as time goes) while `asOf < open_until`: the signed end
-- (`valid_until`) or, after a schedule II short-supply partial fill, the 72-hour balance deadline when earlier
-- (21 CFR 1306.13(a); LEAST ignores a NULL `short_supply_until`). Stored, so the API's `openOnly` filter is a
-- range predicate on one column that the open lists' partial indexes carry (the earlier ones carried
-- `valid_until`, and `openOnly` ignored the short-supply deadline). The end is exclusive, as in the contracts.
ALTER TABLE prescriptions
    ADD COLUMN open_until timestamptz GENERATED ALWAYS AS (LEAST(valid_until, short_supply_until)) STORED;

DROP INDEX IF EXISTS prescriptions_patient_open;
DROP INDEX IF EXISTS prescriptions_prescriber_open;
DROP INDEX IF EXISTS prescriptions_pharmacy_open;
DELETE FROM deferred_indexes
    WHERE name IN ('prescriptions_patient_open', 'prescriptions_prescriber_open', 'prescriptions_pharmacy_open');
CREATE INDEX prescriptions_patient_open ON prescriptions (chain_id, patient, issued_block, rx_id)
    INCLUDE (open_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;
CREATE INDEX prescriptions_prescriber_open ON prescriptions (chain_id, prescriber, issued_block, rx_id)
    INCLUDE (open_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;
CREATE INDEX prescriptions_pharmacy_open ON prescriptions (chain_id, pharmacy, issued_block, rx_id)
    INCLUDE (open_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;
