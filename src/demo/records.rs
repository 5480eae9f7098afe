//! The story's records in the vault, after [`super::seed`] when `medledger dev` serves one: Dr. Okafor
//! uploads Maria's encounter notes from `examples/demo/encounters/` through the vault and anchors what the
//! vault returns (Maria hides the behavioral health note), Chen Wei files her allergy record herself; then
//! the reads the story is about are played and their outcomes kept for the banner: Dr. Okafor reads
//! Maria's records, the revoked (and suspended) Dr. Lindqvist is refused, Dr. Haddad reads Chen Wei's only
//! while his emergency window is open.

use super::{documents::document, Chain, Member, SeededStory};
use crate::records::{Anchors, RecordsError, VaultClient};
use anyhow::{Context, Result};
use medledger_core::bindings::RecordAnchors;
use std::time::{Duration, Instant};
use tracing::info;

/// Maria's encounters Dr. Okafor files in the vault (name, document type code).
const MARIA: [(&str, &str); 4] = [
    ("encounters/01-intake.json", "34117-2"),
    ("encounters/02-labs.json", "11502-2"),
    ("encounters/03-behavioral-health.json", "11488-4"),
    ("encounters/04-follow-up.json", "11506-3"),
];
/// The one Maria hides from her grantees.
const HIDDEN: &str = "encounters/03-behavioral-health.json";
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

/// Files the story's documents in the vault served at `api` (the `medledger dev` API) and plays the reads.
pub async fn store_records(
    chain: &Chain,
    rpc_url: &str,
    api: &str,
    story: &SeededStory,
) -> Result<VaultStory> {
    let cast = chain.cast();
    wait_indexed(chain, api).await?;
    let okafor = client(api, &cast.okafor).await?;
    let okafor_chain = anchors(chain, rpc_url, &cast.okafor).await?;
    let maria = cast.maria.address();
    let mut filed = Vec::new();
    for (name, code) in MARIA {
        let doc = document(name)?;
        let up = okafor
            .upload(maria, story.episode_id, code, "application/fhir+json", doc.text.as_bytes().to_vec())
            .await
            .with_context(|| format!("uploading {name} to the vault"))?;
        let (index, _) = okafor_chain.anchor(story.episode_id, &up).await?;
        info!(target: "medledger::demo", id = %up.id, index, "encounter filed in the vault and anchored");
        filed.push((up.id, name, index));
    }
    let (_, _, hidden) = filed.iter().find(|(_, name, _)| *name == HIDDEN).context("the hidden note")?;
    anchors(chain, rpc_url, &cast.maria).await?.set_hidden(story.episode_id, *hidden, true).await?;

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
