//! The demo story, played through the real contracts by [`seed`]:
//!
//! 1. the registrar licenses three prescribers and two pharmacies;
//! 2. Maria consents to Dr. Okafor (read, write, prescribe); James consents by an EIP-712 signature that the
//!    relayer submits;
//! 3. Dr. Okafor opens an episode of care for Maria and anchors encounters;
//! 4. prescriptions from `examples/demo/prescriptions/`: lisinopril with refills (first fill), amoxicillin
//!    for James — signed by Dr. Okafor, submitted by the relayer — that is never filled;
//! 5. the chain's clock moves 26 days on: the lisinopril refill is due (second fill), the amoxicillin has
//!    expired; Maria moves her lisinopril to Bayview Pharmacy;
//! 6. two more encounters, one of which Maria hides; a schedule II oxycodone prescription partially filled
//!    (10 of 30 tablets); an atorvastatin prescription cancelled by the prescriber (dose changed);
//! 7. Maria grants Dr. Lindqvist read access for a second opinion and revokes it; Dr. Haddad opens
//!    emergency access to Chen Wei; the registrar suspends Dr. Lindqvist.

use super::records::Filer;
use super::{
    documents::{document, salted_hash},
    Chain, Member,
};
use crate::rx::{domain, random_salt, MedicationRequest, RxTerms};
use alloy::providers::Provider;
use alloy::{
    primitives::{aliases::U40, Address, FixedBytes, B256, U256},
    signers::SignerSync,
    sol,
    sol_types::{eip712_domain, Eip712Domain, SolStruct},
};
use anyhow::{ensure, Context, Result};
use medledger_core::bindings::{Prescriptions, RecordAnchors};
use tracing::{debug, info};

const DAY: u64 = 86_400;
/// Consent scope: read records.
pub(crate) const READ: u8 = 1;
/// Consent scope: anchor records.
pub(crate) const WRITE: u8 = 2;
/// Consent scope: issue prescriptions.
pub(crate) const PRESCRIBE: u8 = 4;
/// How far the story moves the chain's clock: past the lisinopril's 25-day refill interval and past the
/// amoxicillin's 10-day validity.
pub const TIME_JUMP_SECS: u64 = 26 * DAY;
/// How long Dr. Haddad's emergency access lasts.
pub const EMERGENCY_SECS: u32 = 6 * 3600;
/// Off-chain reason code of the atorvastatin cancellation: the dose changed.
pub const CANCEL_REASON_DOSE_CHANGED: u16 = 2;
/// Off-chain reason code of the emergency access: patient unconscious.
pub const EMERGENCY_REASON_UNCONSCIOUS: u16 = 1;
/// Off-chain reason code of Dr. Lindqvist's suspension: board investigation.
pub const SUSPEND_REASON_INVESTIGATION: u16 = 3;
/// Controlled-substance schedules II–V (bits 2..5).
const SCHEDULES_II_TO_V: u8 = 0b0011_1100;
/// The licensing jurisdiction.
const JURISDICTION: &[u8] = b"US-CA";

sol! {
    /// The EIP-712 `Grant` a patient signs for `ConsentRegistry.grantWithSig` (domain: [`consent_domain`]).
    #[derive(Debug)]
    struct Grant {
        address patient;
        address grantee;
        uint8 scopes;
        uint40 expiresAt;
        uint40 signedAt;
        uint256 nonce;
        uint256 deadline;
    }
}

/// The EIP-712 domain of the ConsentRegistry at `registry` on chain `chain_id` (for [`Grant`] signatures).
pub fn consent_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    eip712_domain! {
        name: "medledger ConsentRegistry",
        version: "1",
        chain_id: chain_id,
        verifying_contract: registry,
    }
}

/// A prescription the story issued, with what the patient's copy holds (salt, terms).
#[derive(Debug, Clone)]
pub struct SeededRx {
    /// Which step of the story: `refillable`, `expired`, `schedule-ii-partial` or `cancelled` (and
    /// `simulated` for the simulation's).
    pub label: &'static str,
    /// The document under `examples/demo/`.
    pub document: &'static str,
    /// Where it stands after the story, in words.
    pub summary: String,
    /// The rxId.
    pub rx_id: B256,
    /// The terms sent on chain.
    pub terms: RxTerms,
    /// The salt of the content commitment (off chain, in the patient's copy).
    pub salt: B256,
}

impl SeededRx {
    /// The content hash (what a pharmacy proves with `verifyPrescription`).
    pub const fn content_hash(&self) -> B256 {
        self.terms.contentHash
    }
}

/// What [`seed`] produced.
#[derive(Debug, Clone)]
pub struct SeededStory {
    /// The prescriptions, in the order issued.
    pub prescriptions: Vec<SeededRx>,
    /// Maria's episode of care.
    pub episode_id: u64,
    /// How many records it holds.
    pub records: u32,
    /// The index of the record Maria hid.
    pub hidden_record: u32,
    /// Maria's encounters filed in the vault, when the story ran with one: (vault id, name, record index).
    pub filed: Vec<(String, &'static str, u32)>,
    /// When Dr. Haddad's emergency access to Chen Wei ends (chain time, unix seconds).
    pub emergency_until: u64,
    /// Transactions the story sent.
    pub transactions: usize,
}

impl SeededStory {
    /// The prescription of the step `label`.
    pub fn rx(&self, label: &str) -> Option<&SeededRx> {
        self.prescriptions.iter().find(|rx| rx.label == label)
    }
}

/// Plays the story (see the module documentation) through the contracts of `chain`. Needs a node that
/// travels in time (`evm_increaseTime`: anvil, Hardhat) and the contracts freshly deployed.
///
/// With `vault` (the base URL of the API serving the record vault, indexing this chain), every encounter is
/// uploaded through the vault from `examples/demo/encounters/` and the hashes the vault returns are anchored:
/// one record per document. Without it the encounters' salted hashes are anchored directly.
pub async fn seed(chain: &Chain, vault: Option<&str>) -> Result<SeededStory> {
    let mut filer = vault.map(Filer::new);
    let sent_before = chain.transactions_sent();
    let cast = chain.cast();
    let t0 = chain.now().await?;

    // 1. Licensing.
    let jurisdiction = FixedBytes::<8>::right_padding_from(JURISDICTION);
    let licensed = [
        (&cast.okafor, 1u8, SCHEDULES_II_TO_V),
        (&cast.lindqvist, 1, SCHEDULES_II_TO_V),
        (&cast.haddad, 1, SCHEDULES_II_TO_V),
        (&cast.mission, 2, SCHEDULES_II_TO_V),
        (&cast.bayview, 2, SCHEDULES_II_TO_V),
    ];
    for (member, kind, schedules) in licensed {
        let license = format!("US-CA license of {} ({})", member.name, member.part);
        let hash = salted_hash(random_salt(), license.as_bytes());
        let expires = U40::from(t0 + 2 * 365 * DAY);
        let call =
            chain.credentials().register(member.address(), kind, hash, jurisdiction, expires, schedules);
        chain.confirm("licensing", call.from(cast.registrar.address()).send().await).await?;
        info!(target: "medledger::demo", account = %member.address(), name = member.name,
            kind = member.role.as_str(), "licensed");
    }

    // 2. Consents: Maria directly, James by signature through the relayer.
    grant(chain, &cast.maria, &cast.okafor, READ | WRITE | PRESCRIBE, t0 + 365 * DAY).await?;
    info!(target: "medledger::demo", patient = %cast.maria.address(), grantee = %cast.okafor.address(),
        scopes = READ | WRITE | PRESCRIBE, "consent granted");
    grant_by_signature(chain, &cast.james, &cast.okafor, READ | PRESCRIBE, t0 + 180 * DAY, &cast.relayer)
        .await?;

    // 3. An episode of care with its first encounters.
    let call = chain.anchors().openEpisode(cast.maria.address());
    let receipt = chain.confirm("opening an episode", call.from(cast.okafor.address()).send().await).await?;
    let episode_id = Chain::event::<RecordAnchors::EpisodeOpened>(&receipt)?.episodeId;
    info!(target: "medledger::demo", episode_id, patient = %cast.maria.address(), "episode opened");
    let maria = cast.maria.address();
    file(chain, &mut filer, &cast.okafor, maria, episode_id, "encounters/01-intake.json").await?;
    file(chain, &mut filer, &cast.okafor, maria, episode_id, "encounters/02-labs.json").await?;

    // 4. A refillable prescription (first fill) and an antibiotic that will never be filled.
    info!(target: "medledger::demo", episode_id, records = 2, "encounters anchored");
    let lisinopril = issue(chain, "prescriptions/lisinopril.json", None).await?;
    dispense(chain, &cast.mission, lisinopril.rx_id, lisinopril.terms.quantityPerFill).await?;
    let amoxicillin = issue(chain, "prescriptions/amoxicillin.json", Some(&cast.relayer)).await?;
    info!(target: "medledger::demo", refillable = %lisinopril.rx_id, short_validity = %amoxicillin.rx_id,
        "prescriptions issued; the refillable one filled once");

    // 5. 26 days later.
    chain.advance_time(TIME_JUMP_SECS).await?;
    info!(target: "medledger::demo", days = TIME_JUMP_SECS / DAY, "the chain's clock moved on");
    dispense(chain, &cast.mission, lisinopril.rx_id, lisinopril.terms.quantityPerFill).await?;
    let call = chain.prescriptions().changePharmacy(lisinopril.terms.clone(), cast.bayview.address());
    chain.confirm("changing the pharmacy", call.from(cast.maria.address()).send().await).await?;
    info!(target: "medledger::demo", rx_id = %lisinopril.rx_id, pharmacy = %cast.bayview.address(),
        "patient moved a prescription to another pharmacy");

    // 6. More encounters, one hidden; a partially filled schedule II; a cancelled prescription.
    let hidden_record =
        file(chain, &mut filer, &cast.okafor, maria, episode_id, "encounters/03-behavioral-health.json")
            .await?;
    let records =
        1 + file(chain, &mut filer, &cast.okafor, maria, episode_id, "encounters/04-follow-up.json").await?;
    let call = chain.anchors().setRecordHidden(episode_id, hidden_record, true);
    chain.confirm("hiding a record", call.from(cast.maria.address()).send().await).await?;
    info!(target: "medledger::demo", episode_id, index = hidden_record, "patient hid a record");

    let oxycodone = issue(chain, "prescriptions/oxycodone.json", None).await?;
    let partial = 10;
    dispense(chain, &cast.bayview, oxycodone.rx_id, partial).await?;
    info!(target: "medledger::demo", rx_id = %oxycodone.rx_id, quantity = partial,
        of = oxycodone.terms.quantityPerFill, "schedule II prescription partially filled");

    let atorvastatin = issue(chain, "prescriptions/atorvastatin.json", None).await?;
    let call = chain.prescriptions().cancel(atorvastatin.rx_id, CANCEL_REASON_DOSE_CHANGED);
    chain.confirm("cancelling", call.from(cast.okafor.address()).send().await).await?;
    info!(target: "medledger::demo", rx_id = %atorvastatin.rx_id, reason = CANCEL_REASON_DOSE_CHANGED,
        "prescription cancelled");

    // 7. A second opinion granted and revoked; emergency access; a suspension.
    let now = chain.now().await?;
    grant(chain, &cast.maria, &cast.lindqvist, READ, now + 30 * DAY).await?;
    info!(target: "medledger::demo", patient = %cast.maria.address(), grantee = %cast.lindqvist.address(),
        scopes = READ, "consent granted");
    let call = chain.consent().revoke(cast.lindqvist.address());
    chain.confirm("revoking consent", call.from(cast.maria.address()).send().await).await?;
    info!(target: "medledger::demo", patient = %cast.maria.address(), grantee = %cast.lindqvist.address(),
        "consent revoked");

    let call = chain.consent().openEmergencyAccess(
        cast.chen.address(),
        EMERGENCY_REASON_UNCONSCIOUS,
        salted_hash(
            random_salt(),
            b"Chen Wei brought in unconscious after a road accident; allergies unknown",
        ),
        EMERGENCY_SECS,
    );
    let receipt =
        chain.confirm("opening emergency access", call.from(cast.haddad.address()).send().await).await?;
    let block = receipt.block_number.context("receipt without a block")?;
    let opened_at = chain
        .provider()
        .get_block(block.into())
        .await
        .context("reading the emergency access block")?
        .context("the emergency access block is gone")?
        .header
        .timestamp;
    let emergency_until = opened_at + u64::from(EMERGENCY_SECS);
    info!(target: "medledger::demo", patient = %cast.chen.address(), grantee = %cast.haddad.address(),
        until = emergency_until, "emergency access opened");

    let call = chain.credentials().suspend(cast.lindqvist.address(), SUSPEND_REASON_INVESTIGATION);
    chain.confirm("suspending", call.from(cast.registrar.address()).send().await).await?;
    info!(target: "medledger::demo", account = %cast.lindqvist.address(), reason = SUSPEND_REASON_INVESTIGATION,
        "credential suspended");

    let (q, fills) = (lisinopril.terms.quantityPerFill, lisinopril.terms.fills);
    let per_fill = oxycodone.terms.quantityPerFill;
    let prescriptions = vec![
        lisinopril.labelled(
            "refillable",
            format!("2 of {fills} fills dispensed ({q} each), moved to {}", cast.bayview.name),
        ),
        amoxicillin
            .labelled("expired", "signed by the prescriber, relayed; never filled; expired".to_owned()),
        oxycodone.labelled(
            "schedule-ii-partial",
            format!("schedule II, {partial} of {per_fill} dispensed (partial fill)"),
        ),
        atorvastatin.labelled("cancelled", "cancelled by the prescriber (dose changed)".to_owned()),
    ];
    Ok(SeededStory {
        prescriptions,
        episode_id,
        records,
        hidden_record,
        filed: filer.map(|f| f.filed).unwrap_or_default(),
        emergency_until,
        transactions: chain.transactions_sent() - sent_before,
    })
}

/// A prescription issued from a demo document.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) document: &'static str,
    pub(crate) rx_id: B256,
    pub(crate) terms: RxTerms,
    pub(crate) salt: B256,
}

impl Issued {
    fn labelled(self, label: &'static str, summary: String) -> SeededRx {
        SeededRx {
            label,
            document: self.document,
            summary,
            rx_id: self.rx_id,
            terms: self.terms,
            salt: self.salt,
        }
    }
}

/// Issues the prescription of the demo document `name` (valid from now), with a fresh salt and nonce: sent by
/// the prescriber, or — with `relayer` — signed by the prescriber (the EIP-712 digest, i.e. the rxId) and
/// submitted by the relayer with `issueWithSig`. Checks that the contract's rxId is the one computed off chain.
pub(crate) async fn issue(chain: &Chain, name: &'static str, relayer: Option<&Member>) -> Result<Issued> {
    let doc = document(name)?;
    let now = chain.now().await?;
    let now = chrono::DateTime::from_timestamp(i64::try_from(now)?, 0).context("block time out of range")?;
    let salt = random_salt();
    let prescription = MedicationRequest::parse(doc.text)
        .and_then(|d| d.resolved(now))
        .and_then(|d| d.prescription(salt, chain.next_rx_nonce()))
        .with_context(|| format!("demo document {name}"))?;
    let terms = prescription.terms();
    let m = chain.manifest();
    let rx_id = prescription.rx_id(&domain(m.chain_id, m.contracts.prescriptions));
    let what = format!("issuing {name}");
    let receipt = match relayer {
        None => {
            let call = chain.prescriptions().issue(terms.clone());
            chain.confirm(&what, call.from(terms.prescriber).send().await).await?
        }
        Some(relayer) => {
            let prescriber =
                chain.cast().by_address(terms.prescriber).context("the prescriber is not in the cast")?;
            let signature = prescriber.signer.sign_hash_sync(&rx_id).context("signing the prescription")?;
            let call =
                chain.prescriptions().issueWithSig(terms.clone(), signature.as_bytes().to_vec().into());
            chain.confirm(&what, call.from(relayer.address()).send().await).await?
        }
    };
    let logged = Chain::event::<Prescriptions::PrescriptionIssued>(&receipt)?.rxId;
    ensure!(logged == rx_id, "the contract's rxId {logged} differs from the one computed off chain {rx_id}");
    debug!(target: "medledger::demo", document = name, %rx_id, patient = %terms.patient,
        prescriber = %terms.prescriber, schedule = terms.schedule, fills = terms.fills, "prescription issued");
    Ok(Issued { document: name, rx_id, terms, salt })
}

/// `pharmacy` dispenses `quantity` units; the dispensing record stays with the pharmacy, salted and hashed.
pub(crate) async fn dispense(chain: &Chain, pharmacy: &Member, rx_id: B256, quantity: u32) -> Result<()> {
    let record = serde_json::json!({
        "rxId": rx_id,
        "quantity": quantity,
        "pharmacy": pharmacy.name,
        "lot": format!("LOT-{}", &alloy::hex::encode(random_salt())[..8]),
    });
    let hash = salted_hash(random_salt(), record.to_string().as_bytes());
    let before = chain
        .prescriptions()
        .prescriptionOf(rx_id)
        .call()
        .await
        .context("reading the prescription")?
        .totalDispensed;
    let call = chain.prescriptions().dispense(rx_id, quantity, before, false, hash);
    chain.confirm("dispensing", call.from(pharmacy.address()).send().await).await?;
    debug!(target: "medledger::demo", %rx_id, pharmacy = %pharmacy.address(), quantity, "dispensed");
    Ok(())
}

/// `author` files the demo encounter `name` in `patient`'s `episode_id`: through the vault and anchored as
/// the vault returns it when the story has one, else anchored directly; returns the record's index.
async fn file(
    chain: &Chain,
    filer: &mut Option<Filer>,
    author: &Member,
    patient: Address,
    episode_id: u64,
    name: &'static str,
) -> Result<u32> {
    match filer {
        Some(f) => f.file(chain, author, patient, episode_id, name).await,
        None => anchor(chain, author, episode_id, name).await,
    }
}

/// `author` anchors the demo encounter `name` in `episode_id` (content and storage pointer salted and
/// hashed, no vault); returns the record's index.
pub(crate) async fn anchor(chain: &Chain, author: &Member, episode_id: u64, name: &str) -> Result<u32> {
    let doc = document(name)?;
    let salt = random_salt();
    let content = salted_hash(salt, doc.text.as_bytes());
    let pointer = salted_hash(salt, format!("ehr://mission-family-practice/{name}").as_bytes());
    let call = chain.anchors().anchorRecord(episode_id, content, pointer);
    let receipt = chain.confirm("anchoring a record", call.from(author.address()).send().await).await?;
    let index = Chain::event::<RecordAnchors::RecordAnchored>(&receipt)?.index;
    debug!(target: "medledger::demo", episode_id, index, author = %author.address(), "record anchored");
    Ok(index)
}

/// `patient` grants `scopes` to `grantee` until `expires_at` (or replaces its grant).
pub(crate) async fn grant(
    chain: &Chain,
    patient: &Member,
    grantee: &Member,
    scopes: u8,
    expires_at: u64,
) -> Result<()> {
    let call = chain.consent().grant(grantee.address(), scopes, U40::from(expires_at));
    chain.confirm("granting consent", call.from(patient.address()).send().await).await?;
    debug!(target: "medledger::demo", patient = %patient.address(), grantee = %grantee.address(), scopes,
        expires_at, relayed = false, "consent granted");
    Ok(())
}

/// `patient` signs an EIP-712 `Grant` and `relayer` submits it with `grantWithSig`.
async fn grant_by_signature(
    chain: &Chain,
    patient: &Member,
    grantee: &Member,
    scopes: u8,
    expires_at: u64,
    relayer: &Member,
) -> Result<()> {
    let registry = chain.manifest().contracts.consent_registry;
    let nonce =
        chain.consent().nonces(patient.address()).call().await.context("reading the consent nonce")?;
    let now = chain.now().await?;
    let deadline = U256::from(now + 3600);
    let expires = U40::from(expires_at);
    // Signed "now" in chain time: later than any direct grant or revoke of the pair, which would supersede it.
    let signed_at = U40::from(now);
    let typed = Grant {
        patient: patient.address(),
        grantee: grantee.address(),
        scopes,
        expiresAt: expires,
        signedAt: signed_at,
        nonce,
        deadline,
    };
    let domain = consent_domain(chain.manifest().chain_id, registry);
    let signature = patient.signer.sign_hash_sync(&typed.eip712_signing_hash(&domain)).context("signing")?;
    let call = chain.consent().grantWithSig(
        patient.address(),
        grantee.address(),
        scopes,
        expires,
        signed_at,
        deadline,
        signature.as_bytes().to_vec().into(),
    );
    chain.confirm("relaying a signed consent", call.from(relayer.address()).send().await).await?;
    info!(target: "medledger::demo", patient = %patient.address(), grantee = %grantee.address(), scopes,
        expires_at, relayer = %relayer.address(), relayed = true, "consent granted");
    Ok(())
}
