-- Core tables of the medledger indexer: the canonical blocks seen, every event of the four contracts, and
-- one checkpoint per chain. Every row carries its chain id: one database can hold several chains.

-- Hex text "0x…" (as the indexer writes addresses and hashes into events.args) to bytes.
CREATE FUNCTION ml_bytes(hex text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN decode(substr(hex, 3), 'hex');

-- An address, or NULL for the zero address (e.g. "any pharmacy").
CREATE FUNCTION ml_address_or_null(hex text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN nullif(decode(substr(hex, 3), 'hex'), '\x0000000000000000000000000000000000000000'::bytea);

-- Unix seconds (a JSON number or numeric string) to a timestamp.
CREATE FUNCTION ml_time(seconds text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN to_timestamp(seconds::double precision);

-- The blocks the indexer has fetched headers of (range ends, blocks with events, and every block near the
-- head), all on the chain it currently follows.
CREATE TABLE blocks (
    chain_id    bigint      NOT NULL,
    number      bigint      NOT NULL,
    hash        bytea       NOT NULL,
    parent_hash bytea       NOT NULL,
    timestamp   timestamptz NOT NULL,
    PRIMARY KEY (chain_id, number)
);

-- Every log of the tracked contracts, decoded.
CREATE TABLE events (
    chain_id      bigint      NOT NULL,
    block_number  bigint      NOT NULL,
    block_hash    bytea       NOT NULL,
    block_time    timestamptz NOT NULL,
    tx_hash       bytea       NOT NULL,
    tx_index      integer     NOT NULL,
    log_index     integer     NOT NULL,
    -- CredentialRegistry, ConsentRegistry, RecordAnchors or Prescriptions.
    contract      text        NOT NULL,
    address       bytea       NOT NULL,
    event_name    text        NOT NULL,
    -- The key of the projection row the event belongs to (account, patient||grantee, rxId, …); '' if none.
    entity        bytea       NOT NULL,
    -- Every address among the event's arguments.
    accounts      bytea[]     NOT NULL,
    rx_id         bytea,
    episode_id    bigint,
    credential_id bigint,
    -- All arguments by name: addresses and hashes as 0x-hex strings, integers up to 64 bits as JSON
    -- numbers, wider ones as decimal strings.
    args          jsonb       NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX events_accounts ON events USING gin (accounts);
CREATE INDEX events_entity ON events (chain_id, contract, entity, event_name, block_number, log_index);
CREATE INDEX events_episode ON events (chain_id, episode_id, event_name, block_number, log_index)
    WHERE episode_id IS NOT NULL;
CREATE INDEX events_rx ON events (chain_id, rx_id, block_number, log_index) WHERE rx_id IS NOT NULL;
CREATE INDEX events_tx ON events (tx_hash);

-- Where indexing of a chain stands. Written in the same transaction as the events up to block_number.
CREATE TABLE checkpoints (
    chain_id          bigint      PRIMARY KEY,
    -- The last indexed block (-1 before the first) and its hash (empty before the first).
    block_number      bigint      NOT NULL,
    block_hash        bytea       NOT NULL,
    -- The node's head when this checkpoint was written.
    head_number       bigint      NOT NULL,
    reorg_count       bigint      NOT NULL DEFAULT 0,
    last_reorg_at     timestamptz,
    -- The common ancestor and the depth (blocks reverted) of the last reorg.
    last_reorg_block  bigint,
    last_reorg_depth  bigint,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
