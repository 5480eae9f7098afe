-- Issue 19, emergency access: an opening carries a committed justification (a salted hash; the text stays off
-- chain with the reviewers) besides its nonzero reason code; a patient keeps a block list of grantees who may
-- not open emergency access to her; a reviewer flags a use as questionable (the auditor's trail shows it).
-- Rows of an earlier deployment get neutral values (its events carry none of these).
ALTER TABLE consents
    -- Open emergency access: the salted hash of its written justification (NULL when none is open).
    ADD COLUMN emergency_justification bytea,
    -- The patient has blocked this grantee from opening emergency access.
    ADD COLUMN emergency_blocked       boolean NOT NULL DEFAULT false,
    -- How many times reviewers flagged this pair's emergency access, and the latest flag's block.
    ADD COLUMN emergency_flags         integer NOT NULL DEFAULT 0;

-- consent_history gains the actions 'emergency_blocked', 'emergency_unblocked' and 'emergency_flagged'.
ALTER TABLE consent_history
    -- emergency_opened: the justification's salted hash.
    ADD COLUMN justification_hash bytea,
    -- emergency_flagged: the reviewer, the flagged use (its opening time) and the finding's code.
    ADD COLUMN reviewer           bytea,
    ADD COLUMN flagged_opened_at  timestamptz,
    ADD COLUMN finding_code       integer;

-- A reviewer's flags in chain order (the trail of one reviewer's findings).
CREATE INDEX consent_history_reviewer ON consent_history (chain_id, reviewer, block_number, log_index)
    WHERE reviewer IS NOT NULL;
