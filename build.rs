//! Points the embedded web assets (`src/web.rs`) at `web/dist` when the web app was built there (it has an
//! `index.html`), else at the committed placeholder page `web/placeholder`: `cargo build` works without Node.

fn main() {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = root.join("web/dist");
    let dir = if dist.join("index.html").is_file() { dist } else { root.join("web/placeholder") };
    println!("cargo:rustc-env=MEDLEDGER_WEB_DIR={}", dir.display());
    // web/dist always exists (it keeps a committed .gitkeep); cargo scans a directory whole for changes.
    println!("cargo:rerun-if-changed=web/dist");
    println!("cargo:rerun-if-changed=web/placeholder");
    println!("cargo:rerun-if-changed=build.rs");
}
