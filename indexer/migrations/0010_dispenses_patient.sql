-- A patient's dispenses (issue 16): each dispense row names the prescription's patient, written by the
-- indexer from the prescription it folds beside it, so that the patient's list is an index range in chain
-- order instead of a filter through all of the patient's prescriptions. Rows indexed before are filled from
-- their prescriptions (a dispense always has one).
ALTER TABLE dispenses ADD COLUMN patient bytea;
UPDATE dispenses d SET patient = p.patient
    FROM prescriptions p WHERE p.chain_id = d.chain_id AND p.rx_id = d.rx_id;
ALTER TABLE dispenses ALTER COLUMN patient SET NOT NULL;
CREATE INDEX dispenses_patient_chain ON dispenses (chain_id, patient, block_number, log_index);
