-- The projections are folded in Rust since 0003: nothing calls the SQL helpers the SQL refold used.
DROP FUNCTION ml_bytes(text);
DROP FUNCTION ml_address_or_null(text);
DROP FUNCTION ml_time(text);
