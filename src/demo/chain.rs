//! The demo's connection to the chain: one provider signing for every cast member, the deployed contracts,
//! and the few node calls the story needs (block time, time travel).

use super::Cast;
use alloy::{
    network::{Ethereum, EthereumWallet},
    primitives::U256,
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::{bail, Context, Result};
use medledger_core::{
    bindings::{ConsentRegistry, CredentialRegistry, Prescriptions, RecordAnchors},
    Manifest,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A connection to a chain with the medledger contracts deployed, signing as any cast member.
#[derive(Debug)]
pub struct Chain {
    provider: DynProvider,
    credentials: CredentialRegistry::CredentialRegistryInstance<DynProvider>,
    consent: ConsentRegistry::ConsentRegistryInstance<DynProvider>,
    anchors: RecordAnchors::RecordAnchorsInstance<DynProvider>,
    prescriptions: Prescriptions::PrescriptionsInstance<DynProvider>,
    manifest: Manifest,
    cast: Cast,
    sent: AtomicUsize,
    nonce: AtomicU64,
}

impl Chain {
    /// Connects to `rpc_url` (`http(s)://` or `ws(s)://`) with anvil's test accounts as the cast.
    pub async fn connect(rpc_url: &str, manifest: Manifest, signers: &[PrivateKeySigner]) -> Result<Self> {
        let cast = Cast::new(signers)?;
        let mut wallet = EthereumWallet::from(cast.registrar.signer.clone());
        for m in cast.members() {
            wallet.register_signer(m.signer.clone());
        }
        // Nonces from the node each time: the story and the simulation share the accounts.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_simple_nonce_management()
            .with_gas_estimation()
            .fetch_chain_id()
            .wallet(wallet)
            .connect(rpc_url)
            .await
            .with_context(|| format!("connecting to {rpc_url}"))?
            .erased();
        let chain_id = provider.get_chain_id().await.context("eth_chainId")?;
        if chain_id != manifest.chain_id {
            bail!("the node's chain id is {chain_id}, the manifest's {}", manifest.chain_id);
        }
        let c = manifest.contracts;
        Ok(Self {
            credentials: CredentialRegistry::new(c.credential_registry, provider.clone()),
            consent: ConsentRegistry::new(c.consent_registry, provider.clone()),
            anchors: RecordAnchors::new(c.record_anchors, provider.clone()),
            prescriptions: Prescriptions::new(c.prescriptions, provider.clone()),
            provider,
            manifest,
            cast,
            sent: AtomicUsize::new(0),
            nonce: AtomicU64::new(0),
        })
    }

    /// The provider (signs for every cast member; pick one with `.from()`).
    pub const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The deployment.
    pub const fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The cast.
    pub const fn cast(&self) -> &Cast {
        &self.cast
    }

    /// How many transactions this connection has sent (and seen succeed).
    pub fn transactions_sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// A fresh prescription nonce (distinct terms for otherwise identical prescriptions).
    pub(crate) fn next_rx_nonce(&self) -> U256 {
        U256::from(self.nonce.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) const fn credentials(&self) -> &CredentialRegistry::CredentialRegistryInstance<DynProvider> {
        &self.credentials
    }

    pub(crate) const fn consent(&self) -> &ConsentRegistry::ConsentRegistryInstance<DynProvider> {
        &self.consent
    }

    pub(crate) const fn anchors(&self) -> &RecordAnchors::RecordAnchorsInstance<DynProvider> {
        &self.anchors
    }

    pub(crate) const fn prescriptions(&self) -> &Prescriptions::PrescriptionsInstance<DynProvider> {
        &self.prescriptions
    }

    /// How many prescriptions the chain holds for `patient` (its `PrescriptionIssued` logs since the
    /// deployment): what the story says of a patient is counted, never written down.
    pub async fn prescriptions_of(&self, patient: alloy::primitives::Address) -> Result<usize> {
        let logs = self
            .prescriptions
            .PrescriptionIssued_filter()
            .topic2(patient)
            .from_block(self.manifest.deploy_block)
            .query()
            .await
            .with_context(|| format!("reading the prescriptions of {patient}"))?;
        Ok(logs.len())
    }

    /// Waits for a sent transaction's receipt; a failed send or a reverted transaction is an error naming
    /// `what`.
    pub(crate) async fn confirm(
        &self,
        what: &str,
        sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
    ) -> Result<TransactionReceipt> {
        let pending = sent.with_context(|| format!("{what}: sending"))?;
        let receipt =
            pending.get_receipt().await.with_context(|| format!("{what}: waiting for the receipt"))?;
        if !receipt.status() {
            bail!("{what}: transaction {} reverted", receipt.transaction_hash);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(receipt)
    }

    /// The first event of type `E` in a receipt's logs.
    pub(crate) fn event<E: SolEvent>(receipt: &TransactionReceipt) -> Result<E> {
        receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<E>().ok())
            .map(|l| l.inner.data)
            .with_context(|| format!("no {} event in {}", E::SIGNATURE, receipt.transaction_hash))
    }

    /// The latest block's timestamp.
    pub async fn now(&self) -> Result<u64> {
        let block = self
            .provider
            .get_block(alloy::eips::BlockId::latest())
            .await
            .context("reading the latest block")?
            .context("the node has no latest block")?;
        Ok(block.header.timestamp)
    }

    /// Moves the chain's clock `secs` forward and mines a block (anvil's `evm_increaseTime` + `evm_mine`).
    pub async fn advance_time(&self, secs: u64) -> Result<()> {
        self.provider
            .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), [U256::from(secs)])
            .await
            .context("evm_increaseTime (the demo story needs anvil or another node with time travel)")?;
        self.provider.raw_request::<_, serde_json::Value>("evm_mine".into(), ()).await.context("evm_mine")?;
        Ok(())
    }
}
