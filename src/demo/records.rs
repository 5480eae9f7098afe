//! The story's records in the vault when `medledger dev` serves one. During [`super::seed`] a [`Filer`]
//! uploads Maria's encounter notes from `examples/demo/encounters/` through the vault as Dr. Okafor and
//! anchors what the vault returns (one record per document; Maria hides the behavioral health note as the
//! story goes). After it, [`store_records`] has Chen Wei file her allergy record herself, then plays the
//! reads the story is about and keeps their outcomes for the banner: Dr. Okafor reads Maria's records, the
//! revoked (and suspended) Dr. Lindqvist is refused, Dr. Haddad reads Chen Wei's only while his emergency
//! window is open.

use super::{documents::document, Chain, Member, SeededStory};
use crate::records::{Anchors, RecordsError, VaultClient};
use anyhow::{Context, Result};
use medledger_core::bindings::RecordAnchors;
use std::time::{Duration, Instant};
use tracing::info;

/// The document type code (LOINC) of each encounter the story files.
const TYPES: [(&str, &str); 6] = [
    ("encounters/01-intake.json", "34117-2"),
    ("encounters/02-labs.json", "11502-2"),
    ("encounters/03-behavioral-health.json", "11488-4"),
    ("encounters/04-follow-up.json", "11506-3"),
    ("encounters/05-telehealth-check-in.json", "11506-3"),
    ("encounters/06-chen-wei-allergies.json", "48765-2"),
];
/// Chen Wei's own record.
const CHEN: (&str, &str) = ("encounters/06-chen-wei-allergies.json", "48765-2");

/// What [`store_records`] filed and what the reads gave.
#[derive(Debug, Clone)]
pub struct VaultStory {
    /// Maria's documents: (vault id, name, record index).
    pub maria: Vec<(String, &'static str, u32)>,
    /// Chen Wei's document id and her episode.
    pub chen: (String, u64),
    /// The reads played: (who, what, outcome).
    pub reads: Vec<(String, String, String)>,
}

/// Files the story's encounters through the vault as the story plays: uploads as the author (signed in
/// once), anchors what the vault returns with the author's key, remembers (id, name, index).
#[derive(Debug)]
pub(crate) struct Filer {
    api: String,
    clients: Vec<(alloy::primitives::Address, VaultClient)>,
    pub(crate) filed: Vec<(String, &'static str, u32)>,
}

impl Filer {
    /// Files through the vault served at `api`.
    pub(crate) fn new(api: &str) -> Self {
        Self { api: api.to_owned(), clients: Vec::new(), filed: Vec::new() }
    }

    /// `author` uploads encounter `name` into `patient`'s `episode` and anchors it; returns its index.
    pub(crate) async fn file(
        &mut self,
        chain: &Chain,
        author: &Member,
        patient: alloy::primitives::Address,
        episode: u64,
        name: &'static str,
    ) -> Result<u32> {
        // The vault decides on the index: the episode and the author's grant must be indexed first.
        wait_indexed(chain, &self.api).await?;
        let i = match self.clients.iter().position(|(a, _)| *a == author.address()) {
            Some(i) => i,
            None => {
                self.clients.push((author.address(), client(&self.api, author).await?));
                self.clients.len() - 1
            }
        };
        let code = TYPES.iter().find(|(n, _)| *n == name).map_or("note", |(_, c)| c);
        let up = self.clients[i]
            .1
            .upload(patient, episode, code, "application/fhir+json", document(name)?.text.as_bytes().to_vec())
            .await
            .with_context(|| format!("uploading {name} to the vault"))?;
        let call = chain.anchors().anchorRecord(episode, up.content_hash, up.pointer_hash);
        let receipt = chain.confirm("anchoring a record", call.from(author.address()).send().await).await?;
        let index = Chain::event::<RecordAnchors::RecordAnchored>(&receipt)?.index;
        info!(target: "medledger::demo", id = %up.id, index, "encounter filed in the vault and anchored");
        self.filed.push((up.id, name, index));
        Ok(index)
    }
}

/// Files Chen Wei's record in the vault served at `api` (the `medledger dev` API) and plays the reads over
/// what the story filed (it must have run with the vault: [`super::seed`]`(chain, Some(api))`).
pub async fn store_records(
    chain: &Chain,
    rpc_url: &str,
    api: &str,
    story: &SeededStory,
) -> Result<VaultStory> {
    let cast = chain.cast();
    anyhow::ensure!(!story.filed.is_empty(), "the story filed nothing in the vault: seed it with the vault");
    wait_indexed(chain, api).await?;
    let okafor = client(api, &cast.okafor).await?;
    let maria = cast.maria.address();
    let filed = story.filed.clone();

    // Chen Wei opens her own episode and files her allergy record.
    let call = chain.anchors().openEpisode(cast.chen.address());
    let receipt = chain.confirm("opening an episode", call.from(cast.chen.address()).send().await).await?;
    let chen_episode = Chain::event::<RecordAnchors::EpisodeOpened>(&receipt)?.episodeId;
    wait_indexed(chain, api).await?;
    let chen = client(api, &cast.chen).await?;
    let up = chen
        .upload(
            cast.chen.address(),
            chen_episode,
            CHEN.1,
            "application/fhir+json",
            document(CHEN.0)?.text.as_bytes().to_vec(),
        )
        .await
        .context("uploading Chen Wei's record")?;
    anchors(chain, rpc_url, &cast.chen).await?.anchor(chen_episode, &up).await?;
    let chen_doc = up.id;
    wait_indexed(chain, api).await?;

    // The reads.
    let mut reads = Vec::new();
    let listed = okafor.list(maria).await?;
    reads.push(read(
        &cast.okafor,
        format!("lists {}'s documents", cast.maria.name),
        Ok(format!("{} visible (the hidden note withheld)", listed.len())),
    ));
    let first = &filed[0].0;
    reads.push(read(
        &cast.okafor,
        format!("reads {}", filed[0].1),
        okafor.download(first).await.map(|b| format!("{} bytes", b.len())),
    ));
    let lindqvist = client(api, &cast.lindqvist).await?;
    reads.push(read(
        &cast.lindqvist,
        format!("reads {}", filed[0].1),
        lindqvist.download(first).await.map(|b| format!("{} bytes", b.len())),
    ));
    let haddad = client(api, &cast.haddad).await?;
    reads.push(read(
        &cast.haddad,
        format!("reads {}'s {}", cast.chen.name, CHEN.0),
        haddad
            .download(&chen_doc)
            .await
            .map(|b| format!("{} bytes (emergency access, until {})", b.len(), until(story.emergency_until))),
    ));
    reads.push(read(
        &cast.haddad,
        format!("reads {}'s {}", cast.maria.name, filed[0].1),
        haddad.download(first).await.map(|b| format!("{} bytes", b.len())),
    ));
    Ok(VaultStory { maria: filed, chen: (chen_doc, chen_episode), reads })
}

fn until(secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339())
}

fn read(who: &Member, what: String, outcome: Result<String, RecordsError>) -> (String, String, String) {
    let outcome = match outcome {
        Ok(s) => format!("allowed: {s}"),
        Err(RecordsError::Refused { status, reason }) => format!("refused ({status}): {reason}"),
        Err(e) => format!("failed: {e}"),
    };
    (who.name.to_owned(), what, outcome)
}

async fn client(api: &str, member: &Member) -> Result<VaultClient> {
    let mut c = VaultClient::new(api);
    c.sign_in(&member.signer).await.with_context(|| format!("{} signing in to the vault", member.name))?;
    Ok(c)
}

async fn anchors(chain: &Chain, rpc_url: &str, member: &Member) -> Result<Anchors> {
    Ok(Anchors::connect(rpc_url, chain.manifest(), member.signer.clone()).await?)
}

/// Waits (up to a minute) until the API's index has the node's latest block: the vault decides on it.
async fn wait_indexed(chain: &Chain, api: &str) -> Result<()> {
    use alloy::providers::Provider as _;
    let head = chain.provider().get_block_number().await.context("eth_blockNumber")?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http
            .post(format!("{}/graphql", api.trim_end_matches('/')))
            .json(&serde_json::json!({"query": "{ indexerStatus { indexedBlock } }"}))
            .send()
            .await;
        if let Ok(r) = answer {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if v["data"]["indexerStatus"]["indexedBlock"].as_u64().is_some_and(|b| b >= head) {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the index did not reach block {head} within a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
