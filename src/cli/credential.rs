//! `medledger credential …`: the licensing authority's work from the command line — license prescribers and
//! pharmacies with their DEA schedules and expiry, renew, change schedules, suspend, reinstate, revoke,
//! appoint registrars (after the admin's delay) and reviewers — and anyone's look at a credential. Signed as
//! `medledger rx` signs (a key here, or `--calldata` for a wallet or a Safe elsewhere); every refusal in the
//! contract's words.

use super::rx::{print_transaction, SendArgs};
use super::CmdResult;
use alloy::{
    primitives::{aliases::U40, keccak256, Address, Bytes, FixedBytes, B256},
    sol_types::SolCall,
};
use anyhow::{bail, Context as _};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use medledger::rx::RxClient;
use medledger_core::{bindings::CredentialRegistry as Registry, parse_address, Manifest};
use std::process::ExitCode;

/// The credential commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CredentialCommand {
    /// Show an account's credential: kind, status, expiry, schedules, jurisdiction.
    #[command(
        after_help = "Example:\n  medledger credential show 0x3C44…93BC --rpc.url http://127.0.0.1:8545 \
                            --manifest deployments/31337.json"
    )]
    Show(ShowArgs),
    /// License a prescriber or a pharmacy (a registrar), with the controlled-substance schedules of its DEA
    /// registration: a prescriber's schedules are those it may prescribe, a pharmacy's those it may dispense.
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger credential license 0x3C44…93BC --kind pharmacy --license 'CA PHY 59812' \\\n",
        "    --jurisdiction US-CA --until 2027-12-31 --schedules II,III,IV,V --keystore registrar.json\n",
        "  medledger credential license 0x7099…79C8 --kind prescriber --license 0x5f3c…e1 \\\n",
        "    --jurisdiction US-NY --until 2027-06-30 --calldata   # for a Safe\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    License(LicenseArgs),
    /// Renew a credential that is not revoked (a suspended one stays suspended).
    #[command(
        after_help = "Example:\n  medledger credential renew 0x3C44…93BC --until 2028-12-31 --keystore \
                            registrar.json"
    )]
    Renew(RenewArgs),
    /// Set a credential's controlled-substance schedules; outstanding prescriptions follow at once (both
    /// parties' schedules are checked at every dispense).
    #[command(after_help = "Example:\n  medledger credential schedules 0x7099…79C8 --schedules III,IV \
                            --keystore registrar.json")]
    Schedules(SchedulesArgs),
    /// Suspend an active credential (its prescriptions cannot be dispensed meanwhile).
    #[command(after_help = "Example:\n  medledger credential suspend 0x7099…79C8 --reason 4 --keystore \
                            registrar.json")]
    Suspend(ReasonArgs),
    /// Reinstate a suspended credential.
    #[command(
        after_help = "Example:\n  medledger credential reinstate 0x7099…79C8 --keystore registrar.json"
    )]
    Reinstate(AccountArgs),
    /// Revoke a credential for good (a stolen key: its outstanding prescriptions cannot be dispensed).
    #[command(after_help = "Example:\n  medledger credential revoke 0x7099…79C8 --reason 9 --keystore \
                            registrar.json")]
    Revoke(ReasonArgs),
    /// Propose a registrar (the admin); it can be appointed once the admin's delay has passed.
    #[command(name = "propose-registrar")]
    ProposeRegistrar(AccountArgs),
    /// Appoint a proposed registrar once its delay has passed (the admin).
    #[command(name = "appoint-registrar")]
    AppointRegistrar(AccountArgs),
    /// Withdraw a registrar proposal (the admin).
    #[command(name = "cancel-registrar")]
    CancelRegistrar(AccountArgs),
    /// Make an account a reviewer of emergency accesses, who may flag one (the admin).
    #[command(name = "add-reviewer")]
    AddReviewer(AccountArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The account.
    #[arg(value_parser = parse_address)]
    account: Address,
    /// JSON-RPC URL of the node.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    rpc_url: String,
    /// Deployment manifest.
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: std::path::PathBuf,
}

/// What a credential authorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// May prescribe (and open emergency access).
    Prescriber,
    /// May dispense.
    Pharmacy,
}

#[derive(Debug, Args)]
pub(crate) struct LicenseArgs {
    /// The prescriber's or pharmacy's account.
    #[arg(value_parser = parse_address)]
    account: Address,
    /// Prescriber or pharmacy.
    #[arg(long, value_enum)]
    kind: Kind,
    /// The license: its salted hash (0x + 64 hex digits), or a text (its number and issuer) committed to as
    /// keccak256(salt ‖ text) with a random salt that is printed (keep it with the license: it proves the
    /// hash, and without it a guessed license number cannot be confirmed against the chain).
    #[arg(long)]
    license: String,
    /// The salt for a license text (0x + 64 hex digits) [default: random].
    #[arg(long = "license-salt")]
    license_salt: Option<B256>,
    /// The issuing jurisdiction, up to 8 ASCII characters (e.g. US-CA).
    #[arg(long, value_parser = jurisdiction)]
    jurisdiction: FixedBytes<8>,
    /// Valid until: a date (YYYY-MM-DD, to the end of that day UTC) or an RFC 3339 time.
    #[arg(long, value_parser = until)]
    until: DateTime<Utc>,
    /// Controlled-substance schedules: a comma-separated list of II, III, IV, V (or 2..5), or `none`.
    #[arg(long, value_parser = schedules, default_value = "none")]
    schedules: u8,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RenewArgs {
    /// The credential holder.
    #[arg(value_parser = parse_address)]
    account: Address,
    /// The new expiry: a date (YYYY-MM-DD, to the end of that day UTC) or an RFC 3339 time.
    #[arg(long, value_parser = until)]
    until: DateTime<Utc>,
    /// The renewed license (salted hash or text, as for `license`) [default: the current one's hash].
    #[arg(long)]
    license: Option<String>,
    /// The salt for a license text (0x + 64 hex digits) [default: random].
    #[arg(long = "license-salt")]
    license_salt: Option<B256>,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SchedulesArgs {
    /// The prescriber or pharmacy.
    #[arg(value_parser = parse_address)]
    account: Address,
    /// The schedules: a comma-separated list of II, III, IV, V (or 2..5), or `none`.
    #[arg(long, value_parser = schedules)]
    schedules: u8,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReasonArgs {
    /// The credential holder.
    #[arg(value_parser = parse_address)]
    account: Address,
    /// The off-chain reason code recorded with it (0..65535).
    #[arg(long)]
    reason: u16,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AccountArgs {
    /// The account.
    #[arg(value_parser = parse_address)]
    account: Address,
    #[command(flatten)]
    send: SendArgs,
}

/// `--schedules`: II, III, IV, V or 2..5, comma-separated, or `none` → the bit set (bit n = schedule n).
fn schedules(s: &str) -> Result<u8, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    s.split(',').try_fold(0u8, |bits, part| {
        let n = match part.trim().to_ascii_uppercase().as_str() {
            "II" | "2" | "CII" => 2,
            "III" | "3" | "CIII" => 3,
            "IV" | "4" | "CIV" => 4,
            "V" | "5" | "CV" => 5,
            other => {
                return Err(format!("`{other}` is not a schedule: give II, III, IV, V (or 2..5), or none"))
            }
        };
        Ok(bits | 1 << n)
    })
}

/// The schedules of a bit set, as "II, IV" (or "none").
fn schedules_text(bits: u8) -> String {
    let names: Vec<&str> = [(2, "II"), (3, "III"), (4, "IV"), (5, "V")]
        .iter()
        .filter(|(n, _)| bits >> n & 1 == 1)
        .map(|(_, s)| *s)
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `--jurisdiction`: up to 8 printable ASCII characters, right-padded with zeros.
fn jurisdiction(s: &str) -> Result<FixedBytes<8>, String> {
    let t = s.trim();
    if t.is_empty() || t.len() > 8 || !t.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(format!("`{s}` is not a jurisdiction code: up to 8 ASCII characters, e.g. US-CA"));
    }
    let mut bytes = [0u8; 8];
    bytes[..t.len()].copy_from_slice(t.as_bytes());
    Ok(FixedBytes(bytes))
}

/// `--until`: YYYY-MM-DD (the end of that day, UTC) or an RFC 3339 time.
pub(crate) fn until(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return date
            .and_hms_opt(23, 59, 59)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("`{s}`: no such time"));
    }
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
}

/// The license hash: given (0x + 64 hex digits), or the project's salted commitment to the text
/// (`keccak256(salt ‖ text)`), with `salt` or a random one; the salt used is returned to be printed.
fn license_hash(text: &str, salt: Option<B256>) -> (B256, Option<B256>) {
    let t = text.trim();
    if t.len() == 66 && t.starts_with("0x") {
        if let Ok(h) = t.parse::<B256>() {
            return (h, None);
        }
    }
    let salt = salt.unwrap_or_else(medledger::rx::random_salt);
    (medledger_core::salted_hash(salt, t.as_bytes()), Some(salt))
}

/// Prints the salt of a license text's commitment.
fn print_salt(salt: Option<B256>) {
    if let Some(salt) = salt {
        out!("license salt  {salt} (keep it with the license document: it proves the hash)");
    }
}

/// A time as the contracts' `uint40`, refused when out of range.
pub(crate) fn expiry(t: DateTime<Utc>) -> anyhow::Result<U40> {
    let secs = u64::try_from(t.timestamp()).ok().filter(|s| *s < 1 << 40);
    secs.map(U40::from).with_context(|| format!("{t} is out of the contract's time range"))
}

/// Runs a `credential` command; prints the error and returns a failing status on failure.
pub(crate) async fn run(command: CredentialCommand) -> ExitCode {
    let result = match command {
        CredentialCommand::Show(args) => show(&args).await,
        CredentialCommand::License(a) => {
            let kind = match a.kind {
                Kind::Prescriber => 1,
                Kind::Pharmacy => 2,
            };
            match expiry(a.until) {
                Ok(until) => {
                    let (license, salt) = license_hash(&a.license, a.license_salt);
                    print_salt(salt);
                    let call = Registry::registerCall {
                        account: a.account,
                        kind,
                        licenseHash: license,
                        jurisdiction: a.jurisdiction,
                        expiresAt: until,
                        schedules: a.schedules,
                    };
                    let what = format!(
                        "license {} as a {} until {} (schedules {})",
                        a.account,
                        if kind == 1 { "prescriber" } else { "pharmacy" },
                        a.until.to_rfc3339(),
                        schedules_text(a.schedules)
                    );
                    send(&a.send, &what, &call.abi_encode(), Some(a.account)).await
                }
                Err(e) => Err(e),
            }
        }
        CredentialCommand::Renew(a) => renew(&a).await,
        CredentialCommand::Schedules(a) => {
            let call = Registry::setSchedulesCall { account: a.account, schedules: a.schedules };
            let what = format!("set the schedules of {} to {}", a.account, schedules_text(a.schedules));
            send(&a.send, &what, &call.abi_encode(), Some(a.account)).await
        }
        CredentialCommand::Suspend(a) => {
            let call = Registry::suspendCall { account: a.account, reasonCode: a.reason };
            send(
                &a.send,
                &format!("suspend {} (reason code {})", a.account, a.reason),
                &call.abi_encode(),
                Some(a.account),
            )
            .await
        }
        CredentialCommand::Reinstate(a) => {
            let call = Registry::reinstateCall { account: a.account };
            send(&a.send, &format!("reinstate {}", a.account), &call.abi_encode(), Some(a.account)).await
        }
        CredentialCommand::Revoke(a) => {
            let call = Registry::revokeCall { account: a.account, reasonCode: a.reason };
            send(
                &a.send,
                &format!("revoke {} (reason code {})", a.account, a.reason),
                &call.abi_encode(),
                Some(a.account),
            )
            .await
        }
        CredentialCommand::ProposeRegistrar(a) => {
            let call = Registry::proposeRegistrarCall { account: a.account };
            send(&a.send, &format!("propose {} as a registrar", a.account), &call.abi_encode(), None).await
        }
        CredentialCommand::AppointRegistrar(a) => {
            let call = Registry::appointRegistrarCall { account: a.account };
            send(&a.send, &format!("appoint {} as a registrar", a.account), &call.abi_encode(), None).await
        }
        CredentialCommand::CancelRegistrar(a) => {
            let call = Registry::cancelRegistrarProposalCall { account: a.account };
            send(
                &a.send,
                &format!("withdraw the proposal of {} as a registrar", a.account),
                &call.abi_encode(),
                None,
            )
            .await
        }
        CredentialCommand::AddReviewer(a) => {
            let role = keccak256("REVIEWER_ROLE");
            let call = Registry::grantRoleCall { role, account: a.account };
            send(
                &a.send,
                &format!("make {} a reviewer of emergency accesses", a.account),
                &call.abi_encode(),
                None,
            )
            .await
        }
    };
    super::exit_code(result)
}

/// Sends `data` to the CredentialRegistry (or prints it with --calldata), then shows `account`'s credential.
async fn send(args: &SendArgs, what: &str, data: &[u8], account: Option<Address>) -> CmdResult {
    let manifest = Manifest::load(&args.chain.manifest)?;
    let registry = ("CredentialRegistry", manifest.contracts.credential_registry);
    let Some(client) = send_call(args, &manifest, registry, what, data).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(account) = account {
        print_credential(&client, account).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends `data` to `contract` (name, address) of the deployment with the signer's key and prints what was
/// done with its transaction, returning the connection; with --calldata prints the transaction for a wallet
/// elsewhere and returns `None`. A refusal comes back in the contract's words.
pub(crate) async fn send_call(
    args: &SendArgs,
    manifest: &Manifest,
    contract: (&str, Address),
    what: &str,
    data: &[u8],
) -> anyhow::Result<Option<RxClient>> {
    if args.calldata {
        print_transaction(manifest, contract, what, data);
        return Ok(None);
    }
    let client = args.chain.connect(Some(args.signer.require()?)).await?;
    let from = client.sender().unwrap_or_default();
    let pending = alloy::contract::RawCallBuilder::new_raw(client.provider(), Bytes::copy_from_slice(data))
        .from(from)
        .to(contract.1)
        .send()
        .await;
    let sent = client.mined(pending).await?;
    out!("done          {what}, by {from}");
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    Ok(Some(client))
}

async fn renew(a: &RenewArgs) -> CmdResult {
    let license = match &a.license {
        Some(text) => {
            let (hash, salt) = license_hash(text, a.license_salt);
            print_salt(salt);
            hash
        }
        None if a.send.calldata => {
            bail!("--calldata needs --license: the current license hash is read from the chain")
        }
        None => {
            let client = a.send.chain.connect(None).await?;
            let registry = Registry::new(client.manifest().contracts.credential_registry, client.provider());
            let c = registry.credentialOf(a.account).call().await.context("reading the credential")?;
            if c.id == 0 {
                bail!("{} has no credential", a.account);
            }
            c.licenseHash
        }
    };
    let call = Registry::renewCall { account: a.account, licenseHash: license, expiresAt: expiry(a.until)? };
    send(
        &a.send,
        &format!("renew {} until {}", a.account, a.until.to_rfc3339()),
        &call.abi_encode(),
        Some(a.account),
    )
    .await
}

async fn show(args: &ShowArgs) -> CmdResult {
    let manifest = Manifest::load(&args.manifest)?;
    let client = RxClient::connect(&args.rpc_url, manifest, None).await?;
    print_credential(&client, args.account).await?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `account`'s credential as the chain holds it.
async fn print_credential(client: &RxClient, account: Address) -> anyhow::Result<()> {
    let registry = Registry::new(client.manifest().contracts.credential_registry, client.provider());
    let c = registry.credentialOf(account).call().await.context("reading the credential")?;
    if c.id == 0 {
        out!("credential    {account}: none");
        return Ok(());
    }
    let kind = match c.kind {
        1 => "prescriber",
        2 => "pharmacy",
        _ => "none",
    };
    let status = match c.status {
        0 => "active",
        1 => "suspended",
        _ => "revoked",
    };
    let expires = i64::try_from(c.expiresAt.to::<u64>()).ok().and_then(|t| DateTime::from_timestamp(t, 0));
    let jurisdiction: String =
        c.jurisdiction.0.iter().take_while(|b| **b != 0).map(|b| char::from(*b)).collect();
    out!("credential    #{} {kind} {account}, {status}", c.id);
    out!("expires       {}", expires.map_or_else(|| "out of range".into(), |t| t.to_rfc3339()));
    out!("schedules     {}", schedules_text(c.schedules));
    out!("jurisdiction  {jurisdiction}");
    out!("license hash  {}", c.licenseHash);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_as_bits_and_print_back() {
        assert_eq!(schedules("II,III,IV,V"), Ok(0b0011_1100));
        assert_eq!(schedules("2, iv"), Ok(0b0001_0100));
        assert_eq!(schedules("none"), Ok(0));
        assert_eq!(schedules_text(0b0011_1100), "II, III, IV, V");
        assert_eq!(schedules_text(0), "none");
        assert!(schedules("I").unwrap_err().contains("`I` is not a schedule"));
        assert!(schedules("II,").is_err());
    }

    #[test]
    fn jurisdiction_and_until_refuse_what_the_contract_cannot_hold() {
        assert_eq!(&jurisdiction("US-CA").unwrap().0[..6], b"US-CA\0");
        assert!(jurisdiction("UNITED-STATES").is_err());
        assert!(jurisdiction("").is_err());
        assert_eq!(until("2027-12-31").unwrap().to_rfc3339(), "2027-12-31T23:59:59+00:00");
        assert!(until("31/12/2027").unwrap_err().contains("neither a date"));
        let salt = B256::repeat_byte(9);
        let (hash, used) = license_hash("CA PHY 59812", Some(salt));
        assert_eq!((hash, used), (medledger_core::salted_hash(salt, b"CA PHY 59812"), Some(salt)));
        let (_, random) = license_hash("CA PHY 59812", None);
        assert!(random.is_some_and(|s| s != salt), "a random salt when none is given");
        let h = format!("0x{}", "ab".repeat(32));
        assert_eq!(license_hash(&h, None), (h.parse::<B256>().unwrap(), None));
    }
}
