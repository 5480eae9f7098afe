-- Projections the API reads directly. Each is a pure fold of `events`: the indexer recomputes the rows of
-- the entities a batch (or a reorg) touched from the events, in the same transaction.

-- One credential per account (CredentialRegistry).
CREATE TABLE credentials (
    chain_id          bigint      NOT NULL,
    account           bytea       NOT NULL,
    credential_id     bigint      NOT NULL,
    -- 'prescriber' or 'pharmacy'.
    kind              text        NOT NULL,
    -- 'active', 'suspended' or 'revoked'.
    status            text        NOT NULL,
    -- The reason code of the last suspension or revocation (NULL when active).
    status_reason     integer,
    license_hash      bytea       NOT NULL,
    jurisdiction      bytea       NOT NULL,
    expires_at        timestamptz NOT NULL,
    -- Bit set of controlled-substance schedules (bit n = schedule n).
    schedules         smallint    NOT NULL,
    registered_block  bigint      NOT NULL,
    registered_at     timestamptz NOT NULL,
    updated_block     bigint      NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (chain_id, account)
);
CREATE UNIQUE INDEX credentials_id ON credentials (chain_id, credential_id);

-- Every change of a credential: registration, renewal, schedules, suspension, reinstatement, revocation.
CREATE TABLE credential_history (
    chain_id      bigint      NOT NULL,
    block_number  bigint      NOT NULL,
    log_index     integer     NOT NULL,
    account       bytea       NOT NULL,
    credential_id bigint      NOT NULL,
    -- 'registered', 'renewed', 'schedules_changed', 'suspended', 'reinstated', 'revoked'.
    change        text        NOT NULL,
    -- The status after the change.
    status        text,
    expires_at    timestamptz,
    license_hash  bytea,
    schedules     smallint,
    reason_code   integer,
    block_time    timestamptz NOT NULL,
    tx_hash       bytea       NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX credential_history_account ON credential_history (chain_id, account, block_number, log_index);

-- Current consent per patient and grantee (ConsentRegistry).
CREATE TABLE consents (
    chain_id             bigint      NOT NULL,
    patient              bytea       NOT NULL,
    grantee              bytea       NOT NULL,
    -- Scope bits of the standing grant (READ=1, WRITE=2, PRESCRIBE=4); 0 when none or revoked.
    scopes               smallint    NOT NULL,
    expires_at           timestamptz,
    granted_at           timestamptz,
    granted_block        bigint,
    -- Whether the standing grant was submitted by a relayer with the patient's signature.
    granted_relayed      boolean,
    revoked              boolean     NOT NULL,
    revoked_at           timestamptz,
    revoked_relayed      boolean,
    -- Open emergency access: until when (NULL when none or ended early), why, since when.
    emergency_until      timestamptz,
    emergency_reason     integer,
    emergency_opened_at  timestamptz,
    emergency_ended_at   timestamptz,
    emergency_ended_by   bytea,
    updated_block        bigint      NOT NULL,
    PRIMARY KEY (chain_id, patient, grantee)
);
CREATE INDEX consents_grantee ON consents (chain_id, grantee);

-- Every consent event: grants, revocations (with the signed-relayed flag), emergency access opened/ended.
CREATE TABLE consent_history (
    chain_id      bigint      NOT NULL,
    block_number  bigint      NOT NULL,
    log_index     integer     NOT NULL,
    patient       bytea       NOT NULL,
    grantee       bytea       NOT NULL,
    -- 'granted', 'revoked', 'emergency_opened', 'emergency_ended'.
    action        text        NOT NULL,
    scopes        smallint,
    expires_at    timestamptz,
    relayed       boolean,
    reason_code   integer,
    ended_by      bytea,
    block_time    timestamptz NOT NULL,
    tx_hash       bytea       NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX consent_history_pair ON consent_history (chain_id, patient, grantee, block_number, log_index);
CREATE INDEX consent_history_grantee ON consent_history (chain_id, grantee);

-- Episodes of care (RecordAnchors).
CREATE TABLE episodes (
    chain_id      bigint      NOT NULL,
    episode_id    bigint      NOT NULL,
    patient       bytea       NOT NULL,
    opened_by     bytea       NOT NULL,
    opened_at     timestamptz NOT NULL,
    opened_block  bigint      NOT NULL,
    record_count  bigint      NOT NULL,
    -- The hash-chain head (32 zero bytes before the first record).
    head          bytea       NOT NULL,
    closed        boolean     NOT NULL,
    closed_by     bytea,
    closed_at     timestamptz,
    closed_block  bigint,
    updated_block bigint      NOT NULL,
    PRIMARY KEY (chain_id, episode_id)
);
CREATE INDEX episodes_patient ON episodes (chain_id, patient);

-- Anchored records (RecordAnchors).
CREATE TABLE records (
    chain_id              bigint      NOT NULL,
    episode_id            bigint      NOT NULL,
    record_index          bigint      NOT NULL,
    patient               bytea       NOT NULL,
    author                bytea       NOT NULL,
    content_hash          bytea       NOT NULL,
    pointer_hash          bytea       NOT NULL,
    -- The chain head after this record.
    head                  bytea       NOT NULL,
    hidden                boolean     NOT NULL,
    anchored_block        bigint      NOT NULL,
    anchored_at           timestamptz NOT NULL,
    tx_hash               bytea       NOT NULL,
    visibility_changed_at timestamptz,
    PRIMARY KEY (chain_id, episode_id, record_index)
);
CREATE INDEX records_patient ON records (chain_id, patient);

-- Prescriptions: the issued terms and the current state (Prescriptions).
CREATE TABLE prescriptions (
    chain_id               bigint      NOT NULL,
    rx_id                  bytea       NOT NULL,
    patient                bytea       NOT NULL,
    prescriber             bytea       NOT NULL,
    content_hash           bytea       NOT NULL,
    -- The pharmacy designated at issue and now (NULL = any pharmacy).
    issued_pharmacy        bytea,
    pharmacy               bytea,
    fills                  smallint    NOT NULL,
    quantity_per_fill      bigint      NOT NULL,
    earliest_fill_at       timestamptz NOT NULL,
    valid_until            timestamptz NOT NULL,
    min_fill_interval_secs bigint      NOT NULL,
    schedule               smallint    NOT NULL,
    nonce                  numeric(78) NOT NULL,
    relayer                bytea       NOT NULL,
    relayed                boolean     NOT NULL,
    issued_block           bigint      NOT NULL,
    issued_at              timestamptz NOT NULL,
    issued_tx              bytea       NOT NULL,
    fills_used             smallint    NOT NULL,
    quantity_dispensed     numeric(78) NOT NULL,
    dispense_count         bigint      NOT NULL,
    last_dispensed_at      timestamptz,
    last_dispense_pharmacy bytea,
    cancelled              boolean     NOT NULL,
    cancel_reason          integer,
    cancelled_at           timestamptz,
    updated_block          bigint      NOT NULL,
    PRIMARY KEY (chain_id, rx_id)
);
CREATE INDEX prescriptions_patient ON prescriptions (chain_id, patient);
CREATE INDEX prescriptions_prescriber ON prescriptions (chain_id, prescriber);
CREATE INDEX prescriptions_pharmacy ON prescriptions (chain_id, pharmacy);

-- Every dispense (Prescriptions).
CREATE TABLE dispenses (
    chain_id        bigint      NOT NULL,
    block_number    bigint      NOT NULL,
    log_index       integer     NOT NULL,
    rx_id           bytea       NOT NULL,
    pharmacy        bytea       NOT NULL,
    fill_number     smallint    NOT NULL,
    quantity        bigint      NOT NULL,
    fill_dispensed  bigint      NOT NULL,
    total_dispensed numeric(78) NOT NULL,
    dispense_hash   bytea       NOT NULL,
    block_time      timestamptz NOT NULL,
    tx_hash         bytea       NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX dispenses_rx ON dispenses (chain_id, rx_id, block_number, log_index);
CREATE INDEX dispenses_pharmacy ON dispenses (chain_id, pharmacy);

-- AccessControl role members (CredentialRegistry: admins, registrars).
CREATE TABLE role_members (
    chain_id      bigint      NOT NULL,
    contract      bytea       NOT NULL,
    role          bytea       NOT NULL,
    account       bytea       NOT NULL,
    active        boolean     NOT NULL,
    -- Who granted or revoked it last.
    changed_by    bytea       NOT NULL,
    updated_block bigint      NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (chain_id, contract, role, account)
);
