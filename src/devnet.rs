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
use medledger_core::Manifest;
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

/// anvil's (and Hardhat's) public test accounts: the keys of the mnemonic `test test test test test test test
/// test test test test junk`, funded by every anvil started without `--mnemonic`. Public knowledge: never use
/// them on a real network.
pub const ANVIL_TEST_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// [`ANVIL_TEST_KEYS`] as signers.
pub fn anvil_test_signers() -> Vec<PrivateKeySigner> {
    ANVIL_TEST_KEYS.iter().filter_map(|k| k.parse().ok()).collect()
}

/// A chain with the medledger contracts deployed: an anvil this process started, or a node it attached to.
/// Dropping it stops the anvil it started (an attached node keeps running) and removes its temporary files.
#[derive(Debug)]
pub struct Devnet {
    anvil: Option<AnvilInstance>,
    rpc_url: String,
    ws_url: String,
    signers: Vec<PrivateKeySigner>,
    manifest: Manifest,
    manifest_path: PathBuf,
    workdir: tempfile::TempDir,
}

impl Devnet {
    /// Starts anvil on a free port and deploys the contracts with `contracts/script/Deploy.s.sol`.
    pub fn start(root: &Path) -> Result<Self> {
        Self::start_with(root, &[])
    }

    /// [`Devnet::start`] with extra arguments for anvil (e.g. `--timestamp T`, a genesis time in the past:
    /// the chain's clock then runs behind the wall clock by as much, as a lagging node's does).
    pub fn start_with(root: &Path, anvil_args: &[&str]) -> Result<Self> {
        let anvil_bin = toolchain_path(root, "anvil")?;
        let anvil = Anvil::new()
            .path(anvil_bin)
            .args(anvil_args.iter().copied())
            .try_spawn()
            .context("starting anvil")?;
        let signers =
            anvil.keys().iter().map(|k| PrivateKeySigner::from_signing_key(k.clone().into())).collect();
        let (rpc_url, ws_url) = (anvil.endpoint(), anvil.ws_endpoint());
        Self::deploy_to(root, Some(anvil), rpc_url, ws_url, signers)
    }

    /// Deploys the contracts to the running node at `rpc_url` (`http(s)://` or `ws(s)://`), signing with
    /// anvil's first public test key ([`ANVIL_TEST_KEYS`]): for an anvil or Hardhat node started by hand.
    /// The node is followed at `rpc_url` as given (WebSocket subscribes, HTTP polls).
    pub fn attach(root: &Path, rpc_url: &str) -> Result<Self> {
        if !["http://", "https://", "ws://", "wss://"].iter().any(|s| rpc_url.starts_with(s)) {
            bail!("--rpc.url {rpc_url:?} is not an http(s):// or ws(s):// URL");
        }
        Self::deploy_to(root, None, rpc_url.to_owned(), rpc_url.to_owned(), anvil_test_signers())
    }

    fn deploy_to(
        root: &Path,
        anvil: Option<AnvilInstance>,
        rpc_url: String,
        ws_url: String,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<Self> {
        // Inside deployments/, the one folder the deploy script may write to (foundry.toml fs_permissions).
        let deployments = root.join("deployments");
        std::fs::create_dir_all(&deployments).context("creating deployments/")?;
        let workdir = tempfile::Builder::new()
            .prefix(".devnet-")
            .tempdir_in(&deployments)
            .context("creating a scratch folder in deployments/")?;
        let deployer = signers.first().context("the node has no test accounts")?;
        let deployer_key = format!("0x{}", alloy::hex::encode(deployer.to_bytes()));
        let manifest_path = workdir.path().join("manifest.json");
        deploy(root, &rpc_url, &deployer_key, &manifest_path, workdir.path())?;
        let manifest = Manifest::load(&manifest_path)?;
        Ok(Self { anvil, rpc_url, ws_url, signers, manifest, manifest_path, workdir })
    }

    /// The JSON-RPC URL transactions are sent to (HTTP for a started anvil).
    pub fn rpc_url(&self) -> String {
        self.rpc_url.clone()
    }

    /// The URL the indexer follows: WebSocket for a started anvil, `--rpc.url` as given when attached.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    /// Whether this process started the node (and stops it on drop).
    pub const fn owns_node(&self) -> bool {
        self.anvil.is_some()
    }

    /// Where the contracts are.
    pub const fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest file (valid while this devnet lives).
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// The scratch folder (`deployments/.devnet-*`: manifest, forge broadcast logs), removed on drop.
    pub fn scratch_dir(&self) -> &Path {
        self.workdir.path()
    }

    /// anvil's well-known test accounts as signers (account 0 deployed and administers the contracts).
    pub fn signers(&self) -> Vec<PrivateKeySigner> {
        self.signers.clone()
    }

    /// anvil's test account addresses.
    pub fn addresses(&self) -> Vec<Address> {
        self.signers.iter().map(PrivateKeySigner::address).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anvil_test_keys_are_the_well_known_accounts() {
        let signers = anvil_test_signers();
        assert_eq!(signers.len(), ANVIL_TEST_KEYS.len(), "every key parses");
        let first: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
        let last: Address = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720".parse().unwrap();
        assert_eq!(signers[0].address(), first);
        assert_eq!(signers[9].address(), last);
    }
}
