-- Every list a role reads is served by an index matching its filter and its order, so a page costs the same
-- whether the owner has 20 rows or 200,000 (issue 16): the API's lists filter by (chain, owner) and order by
-- (block, tie-break) with keyset pagination; each index below is exactly that key. The earlier (chain, owner)
-- indexes they supersede are dropped (IF EXISTS: a backfill may have set them aside, see 0005).
-- tests/graphql_schema.rs `every_list_is_served_by_an_index` EXPLAINs each list statement over skewed data.

-- Prescriptions of a patient, a prescriber, a pharmacy (the pharmacy's queue), in issue order.
DROP INDEX IF EXISTS prescriptions_patient;
DROP INDEX IF EXISTS prescriptions_prescriber;
DROP INDEX IF EXISTS prescriptions_pharmacy;
DELETE FROM deferred_indexes WHERE name IN ('prescriptions_patient', 'prescriptions_prescriber', 'prescriptions_pharmacy');
CREATE INDEX prescriptions_patient_issued ON prescriptions (chain_id, patient, issued_block, rx_id);
CREATE INDEX prescriptions_prescriber_issued ON prescriptions (chain_id, prescriber, issued_block, rx_id);
CREATE INDEX prescriptions_pharmacy_issued ON prescriptions (chain_id, pharmacy, issued_block, rx_id);
-- The open ones: "open" is not cancelled, quantity left (stored, time-independent: the partial index's
-- predicate, written as the API writes it) and `valid_until >= asOf` (time-dependent: a range on the
-- included column, checked in the index without visiting closed rows' heap tuples).
CREATE INDEX prescriptions_patient_open ON prescriptions (chain_id, patient, issued_block, rx_id)
    INCLUDE (valid_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;
CREATE INDEX prescriptions_prescriber_open ON prescriptions (chain_id, prescriber, issued_block, rx_id)
    INCLUDE (valid_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;
CREATE INDEX prescriptions_pharmacy_open ON prescriptions (chain_id, pharmacy, issued_block, rx_id)
    INCLUDE (valid_until) WHERE NOT cancelled AND quantity_dispensed < fills::numeric * quantity_per_fill;

-- A pharmacy's dispenses in chain order.
DROP INDEX IF EXISTS dispenses_pharmacy;
DELETE FROM deferred_indexes WHERE name = 'dispenses_pharmacy';
CREATE INDEX dispenses_pharmacy_chain ON dispenses (chain_id, pharmacy, block_number, log_index);

-- Consents granted by a patient (by last change, then grantee) and to a grantee (then patient).
DROP INDEX IF EXISTS consents_grantee;
DELETE FROM deferred_indexes WHERE name = 'consents_grantee';
CREATE INDEX consents_patient_updated ON consents (chain_id, patient, updated_block, grantee);
CREATE INDEX consents_grantee_updated ON consents (chain_id, grantee, updated_block, patient);
-- A patient's consent history, all grantees (one grantee: consent_history_pair).
CREATE INDEX consent_history_patient ON consent_history (chain_id, patient, block_number, log_index);

-- A patient's episodes (by opening) and records (by episode, then index).
DROP INDEX IF EXISTS episodes_patient;
DROP INDEX IF EXISTS records_patient;
DELETE FROM deferred_indexes WHERE name IN ('episodes_patient', 'records_patient');
CREATE INDEX episodes_patient_opened ON episodes (chain_id, patient, opened_block, episode_id);
CREATE INDEX records_patient_chain ON records (chain_id, patient, episode_id, record_index);

-- The event trail by contract, emitting address, episode and transaction, in chain order (by prescription:
-- events_rx; by block range: the primary key; by time range: the primary key between the blocks events_time
-- finds, block times being monotonic).
CREATE INDEX events_contract_chain ON events (chain_id, contract, block_number, log_index);
CREATE INDEX events_address_chain ON events (chain_id, address, block_number, log_index);
CREATE INDEX events_episode_chain ON events (chain_id, episode_id, block_number, log_index)
    WHERE episode_id IS NOT NULL;
DROP INDEX IF EXISTS events_tx;
DELETE FROM deferred_indexes WHERE name = 'events_tx';
CREATE INDEX events_tx_chain ON events (chain_id, tx_hash, block_number, log_index);
CREATE INDEX events_time ON events (chain_id, block_time, block_number);
