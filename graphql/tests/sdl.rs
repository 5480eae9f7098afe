//! The committed SDL (`graphql/schema.graphql`) matches the schema. Regenerate with
//! `UPDATE_SDL=1 cargo test -p medledger-graphql --test sdl`.

use std::path::Path;

#[test]
fn committed_sdl_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = medledger_graphql::sdl();
    if std::env::var_os("UPDATE_SDL").is_some() {
        std::fs::write(&path, &sdl).expect("writing schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "graphql/schema.graphql is out of date: run `UPDATE_SDL=1 cargo test -p medledger-graphql --test sdl`"
    );
}
