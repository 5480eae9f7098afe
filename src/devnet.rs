//! A local development network: anvil, the medledger contracts deployed by the project's own forge
//! script, and the deployment manifest the indexer reads.
//!
//! Foundry comes from the project's toolchain (`scripts/env`: node_modules, or a native install), so
//! the same binaries serve `scripts/test`, `scripts/dev` and a developer's own shell.

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::Address,
    signers::local::PrivateKeySigner,
};
use anyhow::{bail, Context, Result};
use medledger_indexer::Manifest;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The repository root: `MEDLEDGER_ROOT` (set by `scripts/env`), else the directory this crate was built
/// from.
pub fn repo_root() -> PathBuf {
    std::env::var_os("MEDLEDGER_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A command run with the project's toolchain on `PATH` (`source scripts/env`).
pub fn toolchain_command(root: &Path, program: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"source "$0" && exec "$@""#)
        .arg(root.join("scripts/env"))
        .arg(program)
        .current_dir(root);
    cmd
}

/// Where a toolchain program lives (`command -v` after `source scripts/env`).
pub fn toolchain_path(root: &Path, program: &str) -> Result<PathBuf> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$0" && command -v "$1""#)
        .arg(root.join("scripts/env"))
        .arg(program)
        .current_dir(root)
        .output()
        .with_context(|| format!("looking up {program}"))?;
    if !out.status.success() {
        bail!("{program} not found: run `npm ci` in {} (scripts/dev does it for you)", root.display());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A running local chain with the medledger contracts deployed. Dropping it stops anvil and removes its
/// temporary files.
#[derive(Debug)]
pub struct Devnet {
    anvil: AnvilInstance,
    manifest: Manifest,
    manifest_path: PathBuf,
    _workdir: tempfile::TempDir,
}

impl Devnet {
    /// Starts anvil on a free port and deploys the contracts with `contracts/script/Deploy.s.sol`.
    pub fn start(root: &Path) -> Result<Self> {
        let anvil_bin = toolchain_path(root, "anvil")?;
        let anvil = Anvil::new().path(anvil_bin).try_spawn().context("starting anvil")?;
        // Inside deployments/, the one folder the deploy script may write to (foundry.toml fs_permissions).
        let deployments = root.join("deployments");
        std::fs::create_dir_all(&deployments).context("creating deployments/")?;
        let workdir = tempfile::Builder::new()
            .prefix(".devnet-")
            .tempdir_in(&deployments)
            .context("creating a scratch folder in deployments/")?;
        let deployer = anvil.keys().first().context("anvil has no accounts")?;
        let deployer_key = format!("0x{}", alloy::hex::encode(deployer.to_bytes()));
        let manifest_path = workdir.path().join("manifest.json");
        deploy(root, &anvil.endpoint(), &deployer_key, &manifest_path, workdir.path())?;
        let manifest = Manifest::load(&manifest_path)?;
        Ok(Self { anvil, manifest, manifest_path, _workdir: workdir })
    }

    /// The HTTP JSON-RPC URL.
    pub fn rpc_url(&self) -> String {
        self.anvil.endpoint()
    }

    /// The WebSocket JSON-RPC URL.
    pub fn ws_url(&self) -> String {
        self.anvil.ws_endpoint()
    }

    /// Where the contracts are.
    pub const fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest file (valid while this devnet lives).
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// anvil's well-known test accounts as signers (account 0 deployed and administers the contracts).
    pub fn signers(&self) -> Vec<PrivateKeySigner> {
        self.anvil.keys().iter().map(|k| PrivateKeySigner::from_signing_key(k.clone().into())).collect()
    }

    /// anvil's test account addresses.
    pub fn addresses(&self) -> &[Address] {
        self.anvil.addresses()
    }
}

/// Deploys the contracts to `rpc_url` with `forge script`, writing the manifest to `manifest_path`.
pub fn deploy(
    root: &Path,
    rpc_url: &str,
    private_key: &str,
    manifest_path: &Path,
    scratch: &Path,
) -> Result<()> {
    let out = toolchain_command(root, "forge")
        .args(["script", "contracts/script/Deploy.s.sol", "--rpc-url", rpc_url, "--broadcast", "--quiet"])
        .args(["--private-key", private_key])
        .env("MEDLEDGER_MANIFEST", manifest_path)
        .env("FOUNDRY_BROADCAST", scratch.join("broadcast"))
        .stdin(Stdio::null())
        .output()
        .context("running forge script")?;
    if !out.status.success() {
        bail!(
            "deploying the contracts failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
