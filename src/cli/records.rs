//! `medledger records …`: the record vault from the command line: upload and anchor, list, download,
//! hide, and read the access log, signed in with the user's own key (as `medledger rx`).

use super::rx::SignerArgs;
use alloy::primitives::Address;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medledger::records::{extension, identifier, Anchors, VaultClient};
use medledger_core::Manifest;
use std::path::PathBuf;

/// The record commands.
#[derive(Debug, Subcommand)]
pub(crate) enum RecordsCommand {
    /// Upload a document into one of the patient's episodes and anchor the content and pointer hashes the
    /// vault returns on chain (`RecordAnchors.anchorRecord`), with the signer's key.
    #[command(after_help = concat!(
        "Example (Dr. Okafor adds a note to Maria's episode 1):\n",
        "  medledger records put note.md --patient 0x976E… --episode 1 --type 11506-3 \\\n",
        "    --vault.url http://127.0.0.1:4000 --rpc.url http://127.0.0.1:8545 \\\n",
        "    --manifest deployments/31337.json --private-key 0x59c6…\n\n",
        "Exit status: 0 success; 1 error or refusal (the vault's reason on stderr); 2 bad command line"
    ))]
    Put(PutArgs),
    /// Download a document (integrity-checked by the vault against its on-chain anchor).
    #[command(
        after_help = "Example:\n  medledger records get 3f2a… --out note.md --vault.url http://127.0.0.1:4000 \
                            --private-key 0x…"
    )]
    Get(GetArgs),
    /// List the documents of a patient that the signer may see.
    #[command(
        after_help = "Example:\n  medledger records ls --patient 0x976E… --vault.url http://127.0.0.1:4000 \
                            --private-key 0x…"
    )]
    Ls(PatientArgs),
    /// Hide (or, with --show, show again) an anchored record from grantees, on chain (the patient only).
    #[command(
        after_help = "Example:\n  medledger records hide --episode 1 --index 2 --rpc.url http://127.0.0.1:8545 \
                            --manifest deployments/31337.json --private-key 0x92db…"
    )]
    Hide(HideArgs),
    /// The access log: every read, write and refusal of the patient's documents (all of it for the
    /// patient, the signer's own entries for anyone else).
    #[command(
        after_help = "Example:\n  medledger records log --vault.url http://127.0.0.1:4000 --private-key 0x92db…"
    )]
    Log(PatientArgs),
    /// Export all of the patient's documents, their metadata and her access log as one FHIR Bundle (the
    /// patient only; each document integrity-checked by the vault on the way out).
    #[command(
        after_help = "Example:\n  medledger records export --out maria.json --vault.url http://127.0.0.1:4000 \
                            --private-key 0x92db…"
    )]
    Export(ExportArgs),
    /// Import a Bundle of `records export` (from any vault on the same chain) into this vault; every
    /// document is checked against its on-chain anchor first, and a tampered one refuses the import.
    #[command(
        after_help = "Example:\n  medledger records import maria.json --vault.url http://new-vault:4000 \
                            --private-key 0x92db…\n\nExit status: 0 imported; 1 refused (the reason on stderr)"
    )]
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Where to write the Bundle [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    vault: VaultUrl,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The Bundle (`-` reads standard input).
    file: PathBuf,
    #[command(flatten)]
    vault: VaultUrl,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Vault")]
pub(crate) struct VaultUrl {
    /// The vault's base URL (the `medledger serve|run|dev` API).
    #[arg(
        id = "vault.url",
        long = "vault.url",
        env = "MEDLEDGER_VAULT_URL",
        default_value = "http://127.0.0.1:4000"
    )]
    url: String,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Chain")]
pub(crate) struct ChainArgs {
    /// JSON-RPC URL of the node.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    rpc_url: String,
    /// Deployment manifest (the chain id and the RecordAnchors address).
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The document (`-` reads standard input).
    file: PathBuf,
    /// The patient [default: the signer].
    #[arg(long, value_parser = medledger_core::parse_address)]
    patient: Option<Address>,
    /// The patient's episode to file it in.
    #[arg(long)]
    episode: u64,
    /// The document type code (e.g. a LOINC code such as 11506-3, or `note`).
    #[arg(long = "type", default_value = "note")]
    doc_type: String,
    /// The content type [default: from the file's extension: .pdf, .json, .md, .txt, .png, .jpg, .dcm].
    #[arg(long = "content-type")]
    content_type: Option<String>,
    #[command(flatten)]
    vault: VaultUrl,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The document id (32 hex characters, as `records ls` prints).
    id: String,
    /// Where to write it [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    vault: VaultUrl,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PatientArgs {
    /// The patient [default: the signer].
    #[arg(long, value_parser = medledger_core::parse_address)]
    patient: Option<Address>,
    #[command(flatten)]
    vault: VaultUrl,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HideArgs {
    /// The episode.
    #[arg(long)]
    episode: u64,
    /// The record's index in the episode (as `records put` prints).
    #[arg(long)]
    index: u32,
    /// Show the record to grantees again instead.
    #[arg(long)]
    show: bool,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    signer: SignerArgs,
}

async fn signed_in(
    vault: &VaultUrl,
    signer: &SignerArgs,
) -> Result<(VaultClient, alloy::signers::local::PrivateKeySigner)> {
    let key = signer.require()?;
    let mut client = VaultClient::new(&vault.url);
    client.sign_in(&key).await.context("signing in to the vault")?;
    Ok((client, key))
}

/// The bytes of `path`, or of standard input for `-`.
fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn content_type_of(path: &std::path::Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        Some("md" | "markdown") => "text/markdown",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("dcm") => "application/dicom",
        _ => "text/plain",
    }
}

/// Runs `medledger records …`.
pub(crate) async fn records(command: RecordsCommand) -> Result<()> {
    match command {
        RecordsCommand::Put(args) => {
            let body = read_input(&args.file)?;
            let content_type =
                args.content_type.clone().unwrap_or_else(|| content_type_of(&args.file).to_owned());
            let manifest = Manifest::load(&args.chain.manifest)?;
            let (client, key) = signed_in(&args.vault, &args.signer).await?;
            let anchors = Anchors::connect(&args.chain.rpc_url, &manifest, key.clone()).await?;
            let patient = args.patient.unwrap_or(key.address());
            let up = client
                .upload(patient, args.episode, &args.doc_type, &content_type, body)
                .await
                .context("uploading to the vault")?;
            out!("uploaded     {}", up.id);
            out!("contentHash  {}", up.content_hash);
            out!("pointerHash  {}", up.pointer_hash);
            if let Some(salt) = up.salt {
                out!("salt         {salt}  (keep it: it proves the anchor is this document)");
            }
            let (index, block) = anchors.anchor(args.episode, &up).await.with_context(|| {
                format!(
                    "anchoring document {} (uploaded; pending until anchored: rerun the anchoring)",
                    up.id
                )
            })?;
            out!("anchored     episode {} record {index} in block {block}", args.episode);
            Ok(())
        }
        RecordsCommand::Get(args) => {
            let (client, _) = signed_in(&args.vault, &args.signer).await?;
            let bytes =
                client.download(&args.id).await.with_context(|| format!("reading document {}", args.id))?;
            match &args.out {
                Some(path) => {
                    std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)
                    .context("writing standard output")?,
            }
            Ok(())
        }
        RecordsCommand::Ls(args) => {
            let (client, key) = signed_in(&args.vault, &args.signer).await?;
            let patient = args.patient.unwrap_or(key.address());
            let docs =
                client.list(patient).await.with_context(|| format!("listing the documents of {patient}"))?;
            for d in &docs {
                let attachment = &d["content"][0]["attachment"];
                out!(
                    "{}  episode {}  {:<10} {:<22} {:>9} B  {:<8}  {}",
                    d["id"].as_str().unwrap_or("?"),
                    d["context"]["encounter"][0]["identifier"]["value"].as_str().unwrap_or("?"),
                    d["type"]["coding"][0]["code"].as_str().unwrap_or("?"),
                    attachment["contentType"].as_str().unwrap_or("?"),
                    attachment["size"].as_u64().unwrap_or(0),
                    extension(d, "anchor-status").unwrap_or_default(),
                    identifier(d, "contentHash").map(|h| h.to_string()).unwrap_or_default(),
                );
            }
            if docs.is_empty() {
                out!("no documents of {patient} visible to {}", key.address());
            }
            Ok(())
        }
        RecordsCommand::Export(args) => {
            let (client, key) = signed_in(&args.vault, &args.signer).await?;
            let bundle = client.export(key.address()).await.context("exporting the records")?;
            let text = serde_json::to_vec_pretty(&bundle).context("encoding the Bundle")?;
            match &args.out {
                Some(path) => {
                    std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
                    let docs = bundle["entry"].as_array().map_or(0, |e| {
                        e.iter().filter(|x| x["resource"]["resourceType"] == "Binary").count()
                    });
                    out!("exported {docs} documents and the access log to {}", path.display());
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &text)
                    .context("writing standard output")?,
            }
            Ok(())
        }
        RecordsCommand::Import(args) => {
            let text = read_input(&args.file)?;
            let bundle: serde_json::Value = serde_json::from_slice(&text).context("the file is not JSON")?;
            let (client, key) = signed_in(&args.vault, &args.signer).await?;
            let outcome = client.import(key.address(), &bundle).await.context("importing the records")?;
            out!("{}", outcome["issue"][0]["diagnostics"].as_str().unwrap_or("imported"));
            Ok(())
        }
        RecordsCommand::Hide(args) => {
            let manifest = Manifest::load(&args.chain.manifest)?;
            let key = args.signer.require()?;
            let anchors = Anchors::connect(&args.chain.rpc_url, &manifest, key).await?;
            let block = anchors.set_hidden(args.episode, args.index, !args.show).await?;
            let what = if args.show { "shown to grantees again" } else { "hidden from grantees" };
            out!("episode {} record {} {what} (block {block})", args.episode, args.index);
            Ok(())
        }
        RecordsCommand::Log(args) => {
            let (client, key) = signed_in(&args.vault, &args.signer).await?;
            let patient = args.patient.unwrap_or(key.address());
            for e in
                client.audit(patient).await.with_context(|| format!("reading the access log of {patient}"))?
            {
                let outcome = match e["outcome"].as_str() {
                    Some("0") => "allowed",
                    Some("4") => "denied",
                    _ => "failed",
                };
                let document = e["entity"]
                    .as_array()
                    .and_then(|xs| xs.iter().find_map(|x| x["what"]["reference"].as_str()))
                    .unwrap_or("-");
                out!(
                    "{:>5}  {}  {}  {:<13} {:<7} {:<12} {document}",
                    e["id"].as_str().unwrap_or("?"),
                    e["recorded"].as_str().unwrap_or("?"),
                    e["agent"][0]["who"]["identifier"]["value"].as_str().unwrap_or("anonymous"),
                    e["subtype"][0]["code"].as_str().unwrap_or("?"),
                    outcome,
                    e["outcomeDesc"].as_str().unwrap_or("-"),
                );
            }
            Ok(())
        }
    }
}
