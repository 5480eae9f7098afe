//! Sending prescriptions and dispenses: the chain and contract checked against the deployment manifest,
//! and every refusal (custom errors, missing funds, unknown prescriptions) turned into a sentence.

use super::{error::RxError, revert::explain_revert, ticket::Ticket};
use alloy::{
    eips::BlockId,
    network::EthereumWallet,
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::{local::PrivateKeySigner, Signer},
};
use chrono::{DateTime, Utc};
use medledger_core::{bindings::Prescriptions, Manifest};
use tracing::debug;

/// Who cancelled a prescription (the contract's `Canceller`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    /// Its prescriber (`cancel`).
    Prescriber,
    /// Its patient (`cancelAsPatient`).
    Patient,
}

/// A mined transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The transaction hash.
    pub tx_hash: B256,
    /// The block it was mined in.
    pub block_number: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// The on-chain state of a prescription (`prescriptionOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChain {
    /// Fills authorised.
    pub fills: u8,
    /// Fills started.
    pub fills_used: u8,
    /// Cancelled by the prescriber, the patient or a registrar.
    pub cancelled: bool,
    /// Units dispensed over all fills.
    pub total_dispensed: u64,
    /// `fills × quantityPerFill`.
    pub total_authorized: u64,
    /// No dispense at or after this unix time (moved earlier by a schedule II short-supply partial fill).
    pub valid_until: u32,
}

/// A connection to the chain of a deployment, optionally with a signer.
#[derive(Debug)]
pub struct RxClient {
    provider: DynProvider,
    manifest: Manifest,
    sender: Option<Address>,
}

impl RxClient {
    /// Connects to `rpc_url` and checks that the node is on the manifest's chain.
    pub async fn connect(
        rpc_url: &str,
        manifest: Manifest,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self, RxError> {
        let sender = signer.as_ref().map(Signer::address);
        let builder = ProviderBuilder::new();
        let provider = match signer {
            Some(s) => builder.wallet(EthereumWallet::from(s)).connect(rpc_url).await.map(|p| p.erased()),
            None => builder.connect(rpc_url).await.map(|p| p.erased()),
        }
        .map_err(|e| RxError::Rpc(format!("connecting to {rpc_url}: {e}")))?;
        let chain_id = provider.get_chain_id().await.map_err(|e| RxError::Rpc(format!("{rpc_url}: {e}")))?;
        if chain_id != manifest.chain_id {
            return Err(RxError::WrongChain {
                what: "the RPC node",
                actual: chain_id,
                expected: manifest.chain_id,
            });
        }
        Ok(Self { provider, manifest, sender })
    }

    /// The time to write a prescription at (its `dateWritten`): the earlier of `wall_clock` and the latest
    /// block's timestamp. The contract refuses a `dateWritten` after the block of issue
    /// (`Prescriptions__WrittenInFuture`), and any block that can include the issue is later than the latest
    /// one, so a prescription dated so is never refused for its date, even on a node whose clock lags the
    /// wall clock (an anvil under load, or started with `--timestamp` in the past). On a healthy chain the
    /// latest block is seconds old; on an idle development chain (blocks mined only on demand) it can be
    /// older, and the prescription is dated then.
    pub async fn date_written(&self, wall_clock: DateTime<Utc>) -> Result<DateTime<Utc>, RxError> {
        let block = self
            .provider
            .get_block(BlockId::latest())
            .await
            .map_err(|e| RxError::Rpc(format!("reading the latest block: {e}")))?
            .ok_or_else(|| RxError::Rpc("the node has no latest block".into()))?;
        let secs = block.header.timestamp;
        let chain = i64::try_from(secs).ok().and_then(|t| DateTime::from_timestamp(t, 0));
        let chain =
            chain.ok_or_else(|| RxError::Rpc(format!("the latest block's time {secs} is out of range")))?;
        Ok(wall_clock.min(chain))
    }

    /// The node, with the signer's wallet when one was given (for the other contracts of the deployment).
    pub const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The deployment manifest the node was checked against.
    pub const fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The sending account, if a signer was given.
    pub const fn sender(&self) -> Option<Address> {
        self.sender
    }

    fn contract(&self) -> Prescriptions::PrescriptionsInstance<&DynProvider> {
        Prescriptions::new(self.manifest.contracts.prescriptions, &self.provider)
    }

    /// Checks that `ticket` is for this deployment's chain and Prescriptions contract.
    pub fn check_ticket(&self, ticket: &Ticket) -> Result<(), RxError> {
        check_deployment(ticket, &self.manifest)
    }

    /// The prescription's on-chain state; [`RxError::UnknownPrescription`] if it was never issued.
    pub async fn on_chain(&self, rx_id: B256) -> Result<OnChain, RxError> {
        let r =
            self.contract().prescriptionOf(rx_id).call().await.map_err(|e| RxError::Rpc(e.to_string()))?;
        if r.rx.fills == 0 {
            return Err(RxError::UnknownPrescription { rx_id, chain_id: self.manifest.chain_id });
        }
        Ok(OnChain {
            fills: r.rx.fills,
            fills_used: r.rx.fillsUsed,
            cancelled: r.rx.flags & 1 != 0,
            total_dispensed: u64::try_from(r.totalDispensed).unwrap_or(u64::MAX),
            total_authorized: u64::try_from(r.totalAuthorized).unwrap_or(u64::MAX),
            valid_until: r.rx.validUntil,
        })
    }

    /// Issues `ticket`: sent by the prescriber itself (`issue`), or relayed with the prescriber's
    /// `signature` over the rxId (`issueWithSig`).
    pub async fn issue(&self, ticket: &Ticket, signature: Option<Bytes>) -> Result<Sent, RxError> {
        self.check_ticket(ticket)?;
        let from = self.sender.ok_or(RxError::NoSigner)?;
        let rx = self.contract();
        let terms = ticket.terms();
        let pending = match signature {
            None => rx.issue(terms).from(from).send().await,
            Some(sig) => rx.issueWithSig(terms, sig).from(from).send().await,
        };
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", rx_id = %ticket.rx_id(), tx = %sent.tx_hash, "prescription issued");
        Ok(sent)
    }

    /// Records a dispense of `quantity` units of `ticket` by the signer (a pharmacy). `short_supply`: a
    /// schedule II fill opened with less than its quantity because the pharmacy is short, whose balance is
    /// then due within 72 hours (21 CFR 1306.13(a)).
    pub async fn dispense(
        &self,
        ticket: &Ticket,
        quantity: u32,
        short_supply: bool,
        dispense_hash: B256,
    ) -> Result<Sent, RxError> {
        self.check_ticket(ticket)?;
        let from = self.sender.ok_or(RxError::NoSigner)?;
        let rx_id = ticket.rx_id();
        let before = self.on_chain(rx_id).await?.total_dispensed;
        if let Some(tx_hash) = self.dispensed_with(rx_id, dispense_hash).await? {
            return Err(RxError::AlreadyDispensed { rx_id, dispense_hash, tx_hash });
        }
        // The total this dispense builds on: the very same transaction sent again reverts (StaleDispense).
        let pending = self
            .contract()
            .dispense(rx_id, quantity, U256::from(before), short_supply, dispense_hash)
            .from(from)
            .send()
            .await;
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", rx_id = %rx_id, quantity, tx = %sent.tx_hash, "dispense recorded");
        Ok(sent)
    }

    /// Cancels `ticket` as the signer: its patient (`cancelAsPatient`, proving the terms) or its prescriber
    /// (`cancel`). Anyone else is refused before anything is sent (a registrar voids, [`Self::void`]).
    pub async fn cancel(&self, ticket: &Ticket, reason_code: u16) -> Result<(Canceller, Sent), RxError> {
        self.check_ticket(ticket)?;
        let from = self.sender.ok_or(RxError::NoSigner)?;
        let p = &ticket.prescription;
        let rx = self.contract();
        let (role, pending) = if from == p.patient {
            (Canceller::Patient, rx.cancelAsPatient(ticket.terms(), reason_code).from(from).send().await)
        } else if from == p.prescriber {
            (Canceller::Prescriber, rx.cancel(ticket.rx_id(), reason_code).from(from).send().await)
        } else {
            return Err(RxError::NotAParty {
                signer: from,
                patient: p.patient,
                prescriber: p.prescriber,
                rx_id: ticket.rx_id(),
            });
        };
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", rx_id = %ticket.rx_id(), role = ?role, tx = %sent.tx_hash, "prescription cancelled");
        Ok((role, sent))
    }

    /// Moves the prescription to `new_pharmacy` (`Address::ZERO`: any pharmacy) as the signer, who must be
    /// its patient; for a controlled substance the contract allows this once (its transfer).
    pub async fn change_pharmacy(&self, ticket: &Ticket, new_pharmacy: Address) -> Result<Sent, RxError> {
        self.check_ticket(ticket)?;
        let from = self.sender.ok_or(RxError::NoSigner)?;
        let patient = ticket.prescription.patient;
        if from != patient {
            return Err(RxError::NotThePatient { signer: from, patient, rx_id: ticket.rx_id() });
        }
        let pending = self.contract().changePharmacy(ticket.terms(), new_pharmacy).from(from).send().await;
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", rx_id = %ticket.rx_id(), pharmacy = %new_pharmacy, tx = %sent.tx_hash, "prescription moved");
        Ok(sent)
    }

    /// Voids prescription `rx_id` as the signer, a registrar of the CredentialRegistry (e.g. a prescription
    /// written with a stolen key).
    pub async fn void(&self, rx_id: B256, reason_code: u16) -> Result<Sent, RxError> {
        let from = self.sender.ok_or(RxError::NoSigner)?;
        // An unknown id is said as such, not as the contract's bare error.
        self.on_chain(rx_id).await?;
        let pending = self.contract().voidPrescription(rx_id, reason_code).from(from).send().await;
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", rx_id = %rx_id, tx = %sent.tx_hash, "prescription voided");
        Ok(sent)
    }

    /// The lowest nonce a signed prescription of `prescriber` may still carry.
    pub async fn nonce_floor(&self, prescriber: Address) -> Result<U256, RxError> {
        self.contract().nonceFloor(prescriber).call().await.map_err(|e| RxError::Rpc(e.to_string()))
    }

    /// Raises the signer's (a prescriber's) nonce floor to `new_floor`: signed prescriptions with a lower
    /// nonce can no longer be relayed. Returns the previous floor.
    pub async fn invalidate_nonces(&self, new_floor: U256) -> Result<(U256, Sent), RxError> {
        let from = self.sender.ok_or(RxError::NoSigner)?;
        let previous = self.nonce_floor(from).await?;
        let pending = self.contract().invalidateNonces(new_floor).from(from).send().await;
        let sent = self.mined(pending).await?;
        debug!(target: "medledger::rx", prescriber = %from, floor = %new_floor, tx = %sent.tx_hash, "nonces invalidated");
        Ok((previous, sent))
    }

    /// The transaction that already recorded a dispense of `rx_id` with `dispense_hash`, if any (the chain
    /// does not store record hashes: this reads the `PrescriptionDispensed` logs of the prescription).
    pub async fn dispensed_with(&self, rx_id: B256, dispense_hash: B256) -> Result<Option<B256>, RxError> {
        let logs = self
            .contract()
            .PrescriptionDispensed_filter()
            .topic1(rx_id)
            .from_block(self.manifest.deploy_block)
            .query()
            .await
            .map_err(|e| RxError::Rpc(format!("reading the dispenses of {rx_id}: {e}")))?;
        Ok(logs
            .into_iter()
            .find(|(event, _)| event.dispenseHash == dispense_hash)
            .map(|(_, log)| log.transaction_hash.unwrap_or_default()))
    }

    /// Waits for a sent transaction (of any of the deployment's contracts); every failure in words.
    pub async fn mined(
        &self,
        pending: Result<
            alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
            alloy::contract::Error,
        >,
    ) -> Result<Sent, RxError> {
        let pending = match pending {
            Ok(p) => p,
            Err(e) => return Err(self.explain(&e).await),
        };
        let receipt = pending.get_receipt().await.map_err(|e| RxError::Rpc(e.to_string()))?;
        if !receipt.status() {
            return Err(RxError::Reverted(format!("transaction {} reverted", receipt.transaction_hash)));
        }
        Ok(Sent {
            tx_hash: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
        })
    }

    async fn explain(&self, e: &alloy::contract::Error) -> RxError {
        if let Some(data) = e.as_revert_data() {
            return RxError::Reverted(
                explain_revert(&data).unwrap_or_else(|| format!("reverted with data {data}")),
            );
        }
        let text = e.to_string();
        if let (true, Some(account)) = (text.to_lowercase().contains("insufficient funds"), self.sender) {
            let balance = self.provider.get_balance(account).await.unwrap_or_default();
            return RxError::InsufficientFunds { account, balance };
        }
        RxError::Rpc(text)
    }
}

/// Checks that `ticket` is for the manifest's chain and Prescriptions contract.
pub fn check_deployment(ticket: &Ticket, manifest: &Manifest) -> Result<(), RxError> {
    if ticket.chain_id != manifest.chain_id {
        return Err(RxError::WrongChain {
            what: "the prescription",
            actual: ticket.chain_id,
            expected: manifest.chain_id,
        });
    }
    if ticket.prescriptions != manifest.contracts.prescriptions {
        return Err(RxError::WrongContract {
            actual: ticket.prescriptions,
            expected: manifest.contracts.prescriptions,
        });
    }
    Ok(())
}
