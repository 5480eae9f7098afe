//! `medledger consent …`: the patient's consent and break-glass from the command line — grant and revoke
//! scoped, expiring access, block a prescriber from emergency access; a prescriber opens emergency READ
//! access with a committed justification and ends it; a reviewer flags a use; anyone shows a grant. Signed
//! as `medledger rx` signs (a key here, or `--calldata` for a wallet elsewhere); every refusal in the
//! contract's words.

use super::CmdResult;
use super::{
    credential::{expiry, send_call, until},
    rx::SendArgs,
};
use alloy::{
    primitives::{aliases::U40, Address, B256},
    sol_types::SolCall,
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use medledger::rx::{random_salt, time_text, RxClient};
use medledger_core::{bindings::ConsentRegistry as Consent, parse_address, salted_hash, Manifest};
use std::{path::PathBuf, process::ExitCode};

/// The consent commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCommand {
    /// Show what a grantee holds of a patient: scopes, expiry, emergency access, block.
    #[command(
        after_help = "Example:\n  medledger consent show 0x976E…0aa9 0x7099…79C8 --rpc.url http://127.0.0.1:8545 \
                            --manifest deployments/31337.json"
    )]
    Show(ShowArgs),
    /// Grant a doctor (or anyone) access to your records and prescriptions, until a date (the patient signs).
    #[command(after_help = concat!(
        "Example:\n",
        "  medledger consent grant 0x7099…79C8 --scopes read,prescribe --until 2027-06-30 --keystore patient.json\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Grant(GrantArgs),
    /// Revoke a grantee's access (the patient signs); the record vault refuses them from the next block.
    #[command(after_help = "Example:\n  medledger consent revoke 0x7099…79C8 --keystore patient.json")]
    Revoke(GranteeArgs),
    /// Block a prescriber from emergency access to your records (ends an open one at once).
    #[command(after_help = "Example:\n  medledger consent block 0x7099…79C8 --keystore patient.json")]
    Block(GranteeArgs),
    /// Lift a block from emergency access.
    #[command(after_help = "Example:\n  medledger consent unblock 0x7099…79C8 --keystore patient.json")]
    Unblock(GranteeArgs),
    /// Open emergency ("break-glass") READ access to a patient's records as a licensed prescriber: at most
    /// 24 hours, once per 7 days per patient, with a reason code and a written justification committed on chain
    /// as a salted hash. Every use is reviewed: keep the printed salt with the justification.
    #[command(name = "emergency-open", after_help = concat!(
        "Example:\n",
        "  medledger consent emergency-open 0x976E…0aa9 --reason 1 --minutes 120 \\\n",
        "    --justification 'Unconscious in the ED, allergy history needed' --keystore doctor.json\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    EmergencyOpen(EmergencyOpenArgs),
    /// End an open emergency access early (the patient or the grantee); the 7-day cooldown counts from now.
    #[command(name = "emergency-end")]
    EmergencyEnd(PairArgs),
    /// Flag the latest emergency access of a pair as questionable (a reviewer); the auditor's trail shows it.
    #[command(
        after_help = "Example:\n  medledger consent flag 0x976E…0aa9 0x7099…79C8 --finding 2 --keystore \
                            reviewer.json"
    )]
    Flag(FlagArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The patient.
    #[arg(value_parser = parse_address)]
    patient: Address,
    /// The grantee.
    #[arg(value_parser = parse_address)]
    grantee: Address,
    /// JSON-RPC URL of the node.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    rpc_url: String,
    /// Deployment manifest.
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct GrantArgs {
    /// Who gets access.
    #[arg(value_parser = parse_address)]
    grantee: Address,
    /// What they may do: a comma-separated list of read, write, prescribe.
    #[arg(long, value_parser = scopes)]
    scopes: u8,
    /// Until: a date (YYYY-MM-DD, to the end of that day UTC) or an RFC 3339 time.
    #[arg(long, value_parser = until)]
    until: DateTime<Utc>,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GranteeArgs {
    /// The grantee (a prescriber for `block`).
    #[arg(value_parser = parse_address)]
    grantee: Address,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PairArgs {
    /// The patient.
    #[arg(value_parser = parse_address)]
    patient: Address,
    /// The prescriber holding (or who held) emergency access.
    #[arg(value_parser = parse_address)]
    grantee: Address,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EmergencyOpenArgs {
    /// The patient.
    #[arg(value_parser = parse_address)]
    patient: Address,
    /// The reason code (non-zero; the institution's list of emergency reasons).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    reason: u16,
    /// The written justification (or `@FILE` to read it from a file); only its salted hash goes on chain.
    #[arg(long)]
    justification: String,
    /// The salt of the justification's commitment (0x + 64 hex digits) [default: random].
    #[arg(long = "justification-salt")]
    salt: Option<B256>,
    /// How long, in minutes (1 to 1440).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    minutes: u32,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FlagArgs {
    /// The patient.
    #[arg(value_parser = parse_address)]
    patient: Address,
    /// The prescriber whose latest emergency access is flagged.
    #[arg(value_parser = parse_address)]
    grantee: Address,
    /// The finding code (non-zero; the review's list of findings).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    finding: u16,
    #[command(flatten)]
    send: SendArgs,
}

const SCOPES: [(u8, &str); 3] = [(1, "read"), (2, "write"), (4, "prescribe")];

/// `--scopes`: read, write, prescribe, comma-separated → the bit set.
fn scopes(s: &str) -> Result<u8, String> {
    s.split(',').try_fold(0u8, |bits, part| {
        let name = part.trim().to_ascii_lowercase();
        SCOPES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(bit, _)| bits | bit)
            .ok_or_else(|| format!("`{}` is not a scope: give read, write and/or prescribe", part.trim()))
    })
}

fn scopes_text(bits: u8) -> String {
    let names: Vec<&str> = SCOPES.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The justification text: the argument, or the file after `@`.
fn justification_text(arg: &str) -> anyhow::Result<String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading the justification {path}"))?
        }
        None => arg.to_owned(),
    };
    let text = text.trim().to_owned();
    anyhow::ensure!(!text.is_empty(), "the justification is empty: write why emergency access is needed");
    Ok(text)
}

/// Runs a `consent` command; prints the error and returns a failing status on failure.
pub(crate) async fn run(command: ConsentCommand) -> ExitCode {
    let result = match command {
        ConsentCommand::Show(args) => show(&args).await,
        ConsentCommand::Grant(a) => grant(&a).await,
        ConsentCommand::Revoke(a) => {
            let data = Consent::revokeCall { grantee: a.grantee }.abi_encode();
            send(&a.send, &format!("revoke the access of {}", a.grantee), &data, Pair::Signer(a.grantee))
                .await
        }
        ConsentCommand::Block(a) => block(&a, true).await,
        ConsentCommand::Unblock(a) => block(&a, false).await,
        ConsentCommand::EmergencyOpen(a) => emergency_open(&a).await,
        ConsentCommand::EmergencyEnd(a) => {
            let data =
                Consent::endEmergencyAccessCall { patient: a.patient, grantee: a.grantee }.abi_encode();
            let what = format!("end the emergency access of {} to {}'s records", a.grantee, a.patient);
            send(&a.send, &what, &data, Pair::Given(a.patient, a.grantee)).await
        }
        ConsentCommand::Flag(a) => {
            let call = Consent::flagEmergencyAccessCall {
                patient: a.patient,
                grantee: a.grantee,
                findingCode: a.finding,
            };
            let what = format!(
                "flag the latest emergency access of {} to {}'s records (finding code {})",
                a.grantee, a.patient, a.finding
            );
            send(&a.send, &what, &call.abi_encode(), Pair::Given(a.patient, a.grantee)).await
        }
    };
    super::exit_code(result)
}

/// Whose grant to show after a transaction.
enum Pair {
    /// The signer is the patient; the grantee is given.
    Signer(Address),
    /// The signer is the grantee; the patient is given.
    SignerGrantee(Address),
    /// Both given.
    Given(Address, Address),
}

/// Sends `data` to the ConsentRegistry (or prints it with --calldata), then shows the pair's grant.
async fn send(args: &SendArgs, what: &str, data: &[u8], pair: Pair) -> CmdResult {
    let manifest = Manifest::load(&args.chain.manifest)?;
    let consent = ("ConsentRegistry", manifest.contracts.consent_registry);
    let Some(client) = send_call(args, &manifest, consent, what, data).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let me = client.sender().unwrap_or_default();
    let (patient, grantee) = match pair {
        Pair::Signer(grantee) => (me, grantee),
        Pair::SignerGrantee(patient) => (patient, me),
        Pair::Given(patient, grantee) => (patient, grantee),
    };
    print_grant(&client, patient, grantee).await?;
    Ok(ExitCode::SUCCESS)
}

async fn grant(a: &GrantArgs) -> CmdResult {
    let call = Consent::grantCall { grantee: a.grantee, scopes: a.scopes, expiresAt: expiry(a.until)? };
    let what = format!("grant {} {} until {}", a.grantee, scopes_text(a.scopes), a.until.to_rfc3339());
    send(&a.send, &what, &call.abi_encode(), Pair::Signer(a.grantee)).await
}

async fn block(a: &GranteeArgs, blocked: bool) -> CmdResult {
    let data = Consent::setEmergencyBlockCall { grantee: a.grantee, blocked }.abi_encode();
    let what = if blocked {
        format!("block {} from emergency access", a.grantee)
    } else {
        format!("lift the emergency-access block of {}", a.grantee)
    };
    send(&a.send, &what, &data, Pair::Signer(a.grantee)).await
}

async fn emergency_open(a: &EmergencyOpenArgs) -> CmdResult {
    let text = justification_text(&a.justification)?;
    let salt = a.salt.unwrap_or_else(random_salt);
    let hash = salted_hash(salt, text.as_bytes());
    out!("justification {hash} = keccak256(salt ‖ text)");
    out!("salt          {salt} (keep it with the text: a reviewer checks the text against the hash)");
    let call = Consent::openEmergencyAccessCall {
        patient: a.patient,
        reasonCode: a.reason,
        justificationHash: hash,
        duration: a.minutes * 60,
    };
    let what = format!(
        "open emergency read access to {}'s records for {} minutes (reason code {})",
        a.patient, a.minutes, a.reason
    );
    send(&a.send, &what, &call.abi_encode(), Pair::SignerGrantee(a.patient)).await
}

async fn show(args: &ShowArgs) -> CmdResult {
    let manifest = Manifest::load(&args.manifest)?;
    let client = RxClient::connect(&args.rpc_url, manifest, None).await?;
    print_grant(&client, args.patient, args.grantee).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints what `grantee` holds of `patient` as the chain says it.
async fn print_grant(client: &RxClient, patient: Address, grantee: Address) -> anyhow::Result<()> {
    let consent = Consent::new(client.manifest().contracts.consent_registry, client.provider());
    let g = consent.grantOf(patient, grantee).call().await.context("reading the grant")?;
    let reads = consent.hasScope(patient, grantee, 1).call().await.context("reading the grant")?;
    let t = |v: U40| time_text(v.to::<u64>());
    out!("grant         {patient} -> {grantee}");
    if g.scopes == 0 {
        out!("scopes        none");
    } else {
        out!("scopes        {} until {} (granted {})", scopes_text(g.scopes), t(g.expiresAt), t(g.grantedAt));
    }
    if g.emergencyOpenedAt.to::<u64>() != 0 {
        out!("emergency     opened {}, until {}", t(g.emergencyOpenedAt), t(g.emergencyUntil));
    }
    out!("blocked       {}", if g.emergencyBlocked { "yes, from emergency access" } else { "no" });
    out!("reads now     {}", if reads { "yes" } else { "no" });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_as_bits_and_print_back() {
        assert_eq!(scopes("read,prescribe"), Ok(5));
        assert_eq!(scopes(" Read , WRITE "), Ok(3));
        assert!(scopes("admin").unwrap_err().contains("`admin` is not a scope"));
        assert!(scopes("").is_err());
        assert_eq!(scopes_text(7), "read, write, prescribe");
        assert_eq!(scopes_text(0), "none");
    }

    #[test]
    fn an_empty_justification_is_refused() {
        assert!(justification_text("  ").unwrap_err().to_string().contains("the justification is empty"));
        assert!(justification_text("@/nonexistent/j.txt")
            .unwrap_err()
            .to_string()
            .contains("reading the justification"));
        assert_eq!(justification_text(" unconscious in the ED ").unwrap(), "unconscious in the ED");
    }
}
