//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!` embeds
//! `indexer/migrations` at compile time, and cargo does not watch that directory by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
