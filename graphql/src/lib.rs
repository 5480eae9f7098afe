//! The medledger GraphQL schema over the indexer's PostgreSQL tables.
