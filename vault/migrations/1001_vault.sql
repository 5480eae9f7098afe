-- The record vault's tables (vault/). Its migrations are numbered from 1001 so that they share sqlx's
-- `_sqlx_migrations` with the indexer's (0001…): each migrator ignores the other's applied versions.
--
-- No document bytes, titles, salts or keys in clear: a row holds what the access rule, the anchor check
-- and the FHIR listing need (who, which patient and episode, type code, content type, size, the salted
-- content hash and pointer hash the uploader anchors), the sealed object's address and the wrapped data key.

-- One stored document version.
CREATE TABLE vault_documents (
    -- 16 random bytes.
    id           bytea       PRIMARY KEY CHECK (length(id) = 16),
    version      integer     NOT NULL CHECK (version > 0),
    chain_id     bigint      NOT NULL,
    patient      bytea       NOT NULL CHECK (length(patient) = 20),
    episode_id   bigint      NOT NULL,
    uploader     bytea       NOT NULL CHECK (length(uploader) = 20),
    -- A coded document type (e.g. a LOINC code), as FHIR DocumentReference.type.
    doc_type     text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL CHECK (size >= 0),
    -- keccak256(salt ‖ contents) and keccak256(salt ‖ "vault:" ‖ hex id): what the uploader anchors.
    content_hash bytea       NOT NULL CHECK (length(content_hash) = 32),
    pointer_hash bytea       NOT NULL UNIQUE CHECK (length(pointer_hash) = 32),
    -- keccak256 of the sealed object: its address in the store.
    object_key   bytea       NOT NULL CHECK (length(object_key) = 32),
    -- The data key wrapped by key-encryption key `kek_id` (rewrapped by key rotation).
    wrapped_key  bytea       NOT NULL,
    kek_id       text        NOT NULL,
    -- 'pending' until the indexer has the matching RecordAnchored event, then 'anchored'.
    status       text        NOT NULL CHECK (status IN ('pending', 'anchored')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vault_documents_patient ON vault_documents (chain_id, patient, created_at);
CREATE INDEX vault_documents_kek ON vault_documents (kek_id);
CREATE INDEX vault_documents_object ON vault_documents (object_key);

-- The access log: every read, write and denial, hash-chained. entry_hash = keccak256(prev_hash ‖ the
-- entry's canonical encoding) (vault/src/log.rs); the first entry's prev_hash is 32 zero bytes.
CREATE TABLE vault_access_log (
    seq           bigint      PRIMARY KEY CHECK (seq > 0),
    at            timestamptz NOT NULL,
    -- The signed-in address (NULL: not signed in).
    actor         bytea,
    patient       bytea,
    document      bytea,
    -- 'read', 'read_metadata', 'search', 'write', 'audit'.
    action        text        NOT NULL,
    -- 'allowed', 'denied' or 'failed'.
    outcome       text        NOT NULL,
    -- Why: the denial or failure code, or what allowed it ('patient', 'grant', 'emergency', 'uploader').
    reason        text        NOT NULL,
    -- The consent row's last change (its block) that decided, and the latest indexed block at decision.
    consent_block bigint,
    index_block   bigint,
    prev_hash     bytea       NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash    bytea       NOT NULL UNIQUE CHECK (length(entry_hash) = 32)
);
CREATE INDEX vault_access_log_patient ON vault_access_log (patient, seq);
CREATE INDEX vault_access_log_actor ON vault_access_log (actor, seq);

-- Append-only: rows are never updated or deleted through the application's role. (An operator with the
-- power to drop this trigger can still edit rows; the hash chain and its anchored head expose that.)
CREATE FUNCTION vault_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vault_access_log is append-only';
END $$;
CREATE TRIGGER vault_access_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON vault_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION vault_access_log_append_only();

-- Sign-In with Ethereum nonces: single use, short-lived.
CREATE TABLE vault_nonces (
    nonce      text        PRIMARY KEY,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX vault_nonces_expiry ON vault_nonces (expires_at);

-- Sessions: only the keccak256 of the bearer token is stored.
CREATE TABLE vault_sessions (
    token_hash bytea       PRIMARY KEY,
    address    bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz
);
CREATE INDEX vault_sessions_expiry ON vault_sessions (expires_at);
