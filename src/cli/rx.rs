//! `medledger rx …`: the doctor's, pharmacy's and patient's commands over [`medledger::rx`].

use super::CmdResult;
use alloy::{
    hex,
    primitives::{keccak256, Address, Bytes, B256, U256},
    signers::{local::PrivateKeySigner, SignerSync},
};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use medledger::rx::{self, MedicationRequest, PatientCopy, RxClient, RxError, Ticket};
use medledger_core::Manifest;
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

/// Exit status of `rx verify` when the API says the prescription may not be dispensed.
const EXIT_NOT_DISPENSABLE: u8 = 3;

/// The prescription commands.
#[derive(Debug, Subcommand)]
pub(crate) enum RxCommand {
    /// Build a prescription from a FHIR-MedicationRequest-like JSON document.
    ///
    /// Adds a random salt and writes: PREFIX.typed-data.json, the EIP-712 typed data the prescriber signs
    /// (`cast wallet sign --data --from-file`, MetaMask eth_signTypedData_v4, a Ledger); PREFIX.patient.json,
    /// the patient's copy (document, salt, prescription id) that the patient hands to the pharmacy; and
    /// PREFIX.code.txt, the same as a short text for a QR code. Nothing is sent. With --rpc.url the
    /// prescription is dated by the chain's clock (the earlier of now and the latest block's time), which
    /// the contract compares its date with; without, by this machine's clock.
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx new examples/rx/amoxicillin.json --manifest deployments/31337.json \\\n",
        "    --rpc.url http://127.0.0.1:8545\n",
        "  medledger rx new request.json --out rx/2026-0042   # rx/2026-0042.patient.json, …\n\n",
        "The document format: see examples/rx/*.json and docs/prescribing.md.\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    New(NewArgs),
    /// Sign a prescription's typed data with a local key and print the signature (for `rx issue --signature`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx sign amoxicillin.patient.json --keystore ~/.foundry/keystores/doctor\n",
        "  cast wallet sign --data --from-file amoxicillin.typed-data.json --ledger   # the same, with Foundry\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Sign(SignArgs),
    /// Issue a prescription on chain: sent by the prescriber, or relayed with the prescriber's signature.
    ///
    /// Without --signature the signer must be the prescriber (`issue`); with --signature any funded
    /// account relays it (`issueWithSig`). The patient copy gets the transaction recorded in it.
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx issue amoxicillin.patient.json --rpc.url http://127.0.0.1:8545 \\\n",
        "    --manifest deployments/31337.json --keystore ~/.foundry/keystores/doctor\n",
        "  # relaying a Ledger signature (MEDLEDGER_RPC_URL and MEDLEDGER_MANIFEST set):\n",
        "  MEDLEDGER_PRIVATE_KEY=0x… medledger rx issue amoxicillin.patient.json \\\n",
        "    --signature \"$(cast wallet sign --ledger --data --from-file amoxicillin.typed-data.json)\"\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Issue(IssueArgs),
    /// Ask the GraphQL API whether a pharmacy may dispense a prescription (the content hash is recomputed
    /// from the patient copy or code, and proven against the issued terms).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx verify amoxicillin.patient.json --api.url http://127.0.0.1:4000 --pharmacy 0x3C44…\n",
        "  medledger rx verify \"MEDRX2:…\" --api.url http://127.0.0.1:4000/graphql --pharmacy 0x3C44…\n\n",
        "Exit status: 0 dispensable; 3 not dispensable (every reason listed); 1 error; 2 bad command line"
    ))]
    Verify(VerifyArgs),
    /// Record a dispense by a pharmacy (the signer).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx dispense amoxicillin.patient.json --quantity 30 --rpc.url http://127.0.0.1:8545 \\\n",
        "    --manifest deployments/31337.json --private-key 0x…\n",
        "  # from the QR text (MEDLEDGER_RPC_URL, MEDLEDGER_MANIFEST, MEDLEDGER_KEYSTORE_PASSWORD set):\n",
        "  medledger rx dispense \"$(cat amoxicillin.code.txt)\" --quantity 10 --keystore pharmacy.json\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Dispense(DispenseArgs),
    /// Cancel a prescription as its patient (who proves the terms with her copy) or its prescriber.
    ///
    /// The signer's address decides which: the patient's `cancelAsPatient` or the prescriber's `cancel`.
    /// With --calldata nothing is sent: the transaction is printed for a wallet elsewhere (--as says whose).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx cancel amoxicillin.patient.json --reason 1 --keystore patient.json   # the patient\n",
        "  medledger rx cancel \"MEDRX2:…\" --reason 2 --private-key 0x…                     # the prescriber\n",
        "  medledger rx cancel amoxicillin.patient.json --reason 1 --as patient --calldata  # for cast send --ledger\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Cancel(CancelArgs),
    /// Void a prescription as a registrar of the CredentialRegistry (e.g. one written with a stolen key).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx void 0x5f3c…e1 --reason 7 --keystore registrar.json\n",
        "  medledger rx void amoxicillin.patient.json --reason 7 --calldata   # for a Safe or cast send --ledger\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Void(VoidArgs),
    /// Move a prescription to another pharmacy as its patient (who proves the terms with her copy).
    ///
    /// For a controlled substance this is its one transfer (21 CFR 1306.08(e), 1306.25(a)): to a named
    /// pharmacy, once, and for schedule II only before the first fill. A non-controlled prescription may move
    /// any number of times, or be opened to any pharmacy (`--to any`).
    #[command(after_help = concat!(
        "Examples:\n",
        "  medledger rx transfer amoxicillin.patient.json --to 0x90F7…b906 --keystore patient.json\n",
        "  medledger rx transfer \"MEDRX2:…\" --to any --private-key 0x…          # any pharmacy (schedule 0)\n",
        "  medledger rx transfer amoxicillin.patient.json --to 0x90F7…b906 --calldata   # for cast send --ledger\n\n",
        "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
    ))]
    Transfer(TransferArgs),
    /// Withdraw signed prescriptions not yet relayed: raise the prescriber's nonce floor, so that no signature
    /// over a nonce below it can be issued any more.
    #[command(
        name = "invalidate-nonces",
        after_help = concat!(
            "Examples:\n",
            "  medledger rx invalidate-nonces --below 8 --keystore doctor.json   # nonces 0..7 withdrawn\n",
            "  medledger rx invalidate-nonces --below 8 --calldata               # for cast send --ledger\n\n",
            "Exit status: 0 success; 1 error (the reason on stderr); 2 bad command line"
        )
    )]
    InvalidateNonces(InvalidateNoncesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The prescription document (JSON; `-` reads standard input).
    document: PathBuf,
    /// Deployment manifest: the chain id and the Prescriptions contract the prescription is for.
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: PathBuf,
    /// Output prefix [default: the document's name without .json, in the current directory].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The prescriber's nonce: a signature over a nonce below the prescriber's floor can no longer be
    /// issued (`rx invalidate-nonces --below N`). [default: the time the prescription is dated by, in unix
    /// seconds — the chain's clock with --rpc.url, raised to the prescriber's nonce floor when that is
    /// higher; this machine's clock offline — as the web app does, so a floor set at a moment withdraws
    /// exactly the prescriptions signed before it]
    #[arg(long)]
    nonce: Option<U256>,
    /// Use this salt instead of a random one (only for reproducible examples: a guessable salt exposes
    /// the content to anyone who can guess it).
    #[arg(long)]
    salt: Option<B256>,
    /// Overwrite an existing patient copy (its salt is lost: a prescription issued from it can no longer be
    /// proven).
    #[arg(long)]
    force: bool,
    /// JSON-RPC URL of the node the prescription will be issued on: when given, it is dated by the chain's
    /// clock (the earlier of now and the latest block's time), so the contract never refuses it as written
    /// in the future when the node's clock lags this machine's; without it (offline), by this machine's
    /// clock. Only read from, never sent to.
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    rpc_url: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Signer")]
pub(crate) struct SignerArgs {
    /// Private key (hex).
    #[arg(
        long = "private-key",
        env = "MEDLEDGER_PRIVATE_KEY",
        hide_env_values = true,
        conflicts_with = "keystore"
    )]
    private_key: Option<String>,
    /// Encrypted JSON keystore file (as `cast wallet new` or geth write).
    #[arg(long, env = "MEDLEDGER_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// The keystore's password.
    #[arg(
        long,
        env = "MEDLEDGER_KEYSTORE_PASSWORD",
        hide_env_values = true,
        conflicts_with = "password_file"
    )]
    password: Option<String>,
    /// A file holding the keystore's password (trailing newline ignored).
    #[arg(long = "password-file", env = "MEDLEDGER_KEYSTORE_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
}

impl SignerArgs {
    fn load(&self) -> Result<Option<PrivateKeySigner>, RxError> {
        if let Some(key) = &self.private_key {
            let key = key.trim();
            return key
                .parse::<PrivateKeySigner>()
                .map(Some)
                .map_err(|_| RxError::Signer("--private-key is not a 32-byte hex private key".into()));
        }
        let Some(keystore) = &self.keystore else { return Ok(None) };
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(file)) => rx::read_file(file)?.trim_end_matches(['\n', '\r']).to_owned(),
            (None, None) => {
                return Err(RxError::Signer(
                    "--keystore needs --password, --password-file or MEDLEDGER_KEYSTORE_PASSWORD".into(),
                ))
            }
        };
        PrivateKeySigner::decrypt_keystore(keystore, password)
            .map(Some)
            .map_err(|e| RxError::Signer(format!("{}: {e} (wrong password?)", keystore.display())))
    }

    pub(crate) fn require(&self) -> Result<PrivateKeySigner, RxError> {
        self.load()?.ok_or(RxError::NoSigner)
    }
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Chain")]
pub(crate) struct ChainArgs {
    /// JSON-RPC URL of the node (required unless --calldata).
    #[arg(id = "rpc.url", long = "rpc.url", env = "MEDLEDGER_RPC_URL")]
    rpc_url: Option<String>,
    /// Deployment manifest; the node's chain id and the prescription's contract must match it.
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    pub(crate) manifest: PathBuf,
}

impl ChainArgs {
    pub(crate) async fn connect(&self, signer: Option<PrivateKeySigner>) -> anyhow::Result<RxClient> {
        let manifest = Manifest::load(&self.manifest)?;
        let Some(rpc_url) = &self.rpc_url else {
            anyhow::bail!("give --rpc.url (or MEDLEDGER_RPC_URL): the node to send the transaction to");
        };
        Ok(RxClient::connect(rpc_url, manifest, signer).await?)
    }
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The patient copy (PREFIX.patient.json) or its code.
    prescription: String,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The patient copy (PREFIX.patient.json; the issuing transaction is recorded in it), or its code.
    prescription: String,
    /// The prescriber's signature over the prescription (65 bytes hex, e.g. from `cast wallet sign --data`):
    /// the signer only relays it.
    #[arg(long)]
    signature: Option<Bytes>,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The patient copy (JSON file), a file holding the code, or the code itself (`MEDRX2:…`).
    prescription: String,
    /// The GraphQL API (`http://host:port` or its `/graphql` URL).
    #[arg(long = "api.url", env = "MEDLEDGER_API_URL")]
    api_url: String,
    /// The pharmacy asking [default: the prescription's designated pharmacy].
    #[arg(long, value_parser = medledger_core::parse_address)]
    pharmacy: Option<Address>,
    /// Evaluate at this moment (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<DateTime<Utc>>,
    /// Deployment manifest: when given, the prescription's chain and contract must match it.
    #[arg(long, env = "MEDLEDGER_MANIFEST")]
    manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DispenseArgs {
    /// The patient copy (JSON file), a file holding the code, or the code itself (`MEDRX2:…`).
    prescription: String,
    /// Units dispensed (at most what remains of the current fill).
    #[arg(long)]
    quantity: u32,
    /// Hash of the pharmacy's own dispensing record [default: a salted hash of rxId, pharmacy, quantity and
    /// time, printed with its salt].
    #[arg(long = "dispense-hash")]
    dispense_hash: Option<B256>,
    /// Schedule II only: this fill is partial because the pharmacy is short of the drug; the balance is then
    /// due within 72 hours (21 CFR 1306.13(a)). Without it a partial fill is one the patient or prescriber
    /// asked for, which may be completed until the prescription's end.
    #[arg(long = "short-supply")]
    short_supply: bool,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    signer: SignerArgs,
}

/// Whose cancellation a printed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CancelAs {
    /// The patient (`cancelAsPatient`, with the terms).
    Patient,
    /// The prescriber (`cancel`).
    Prescriber,
}

/// How a transaction is sent: signed here (--private-key, --keystore) to a node, or printed for a wallet
/// elsewhere (--calldata).
#[derive(Debug, Args)]
#[command(next_help_heading = "Signing elsewhere")]
pub(crate) struct SendArgs {
    /// Print the transaction (contract and calldata) instead of sending it, for a wallet elsewhere
    /// (`cast send --ledger`, a Safe); needs only --manifest.
    #[arg(long)]
    pub(crate) calldata: bool,
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    #[command(flatten)]
    pub(crate) signer: SignerArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The patient copy (JSON file), a file holding the code, or the code itself (`MEDRX2:…`).
    prescription: String,
    /// The off-chain reason code recorded with the cancellation (0..65535).
    #[arg(long)]
    reason: u16,
    /// Cancel as the patient or the prescriber [default: whichever the signer is; required with --calldata].
    #[arg(long = "as", value_enum)]
    role: Option<CancelAs>,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VoidArgs {
    /// The prescription id (0x + 64 hex digits), or its patient copy or code.
    prescription: String,
    /// The off-chain reason code recorded with the void (0..65535).
    #[arg(long)]
    reason: u16,
    #[command(flatten)]
    send: SendArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TransferArgs {
    /// The patient copy (JSON file), a file holding the code, or the code itself (`MEDRX2:…`).
    prescription: String,
    /// The new pharmacy's address (EIP-55 or all lowercase), or `any` for any pharmacy (not for a controlled
    /// substance).
    #[arg(long, value_parser = pharmacy_or_any)]
    to: Address,
    #[command(flatten)]
    send: SendArgs,
}

/// `--to`: an address, or `any` (the zero address: no designated pharmacy).
fn pharmacy_or_any(s: &str) -> Result<Address, String> {
    if s.eq_ignore_ascii_case("any") {
        return Ok(Address::ZERO);
    }
    medledger_core::parse_address(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub(crate) struct InvalidateNoncesArgs {
    /// The new nonce floor: every signed prescription with a nonce below it can no longer be issued (above
    /// the current floor by 1 to 4294967295).
    #[arg(long)]
    below: U256,
    #[command(flatten)]
    send: SendArgs,
}

/// Runs an `rx` command; prints the error and returns a failing status on failure.
pub(crate) async fn run(command: RxCommand) -> ExitCode {
    let result = match command {
        RxCommand::New(args) => new(&args).await,
        RxCommand::Sign(args) => sign(&args),
        RxCommand::Issue(args) => issue(&args).await,
        RxCommand::Verify(args) => verify(&args).await,
        RxCommand::Dispense(args) => dispense(&args).await,
        RxCommand::Cancel(args) => cancel(&args).await,
        RxCommand::Void(args) => void(&args).await,
        RxCommand::Transfer(args) => transfer(&args).await,
        RxCommand::InvalidateNonces(args) => invalidate_nonces(&args).await,
    };
    super::exit_code(result)
}

fn read_input(path: &Path) -> Result<String, RxError> {
    if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|source| RxError::Io { path: path.to_owned(), source })
    } else {
        rx::read_file(path)
    }
}

/// A prescription given as a code (`MEDRX2:…`) or as a file holding a patient copy or a code; also
/// returns the copy and its path when it was a patient-copy file.
fn load_prescription(arg: &str) -> Result<(Ticket, Option<(PatientCopy, PathBuf)>), RxError> {
    if arg.trim_start().starts_with("MEDRX") {
        return Ok((Ticket::from_code(arg)?, None));
    }
    let path = PathBuf::from(arg);
    let text = read_input(&path)?;
    if text.trim_start().starts_with('{') {
        let copy = PatientCopy::parse(&text)?;
        Ok((copy.ticket(), Some((copy, path))))
    } else {
        Ok((Ticket::parse(&text)?, None))
    }
}

/// Writes `text` to `path` through a temporary file in the same folder, so a crash never leaves half a file.
fn write_atomic(path: &Path, text: &str) -> Result<(), RxError> {
    let io = |source| RxError::Io { path: path.to_owned(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::fs::write(tmp.path(), text).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn describe(t: &Ticket) -> String {
    let p = &t.prescription;
    let c = &p.content;
    format!(
        "{} {} (RxCUI {}, {}), {} {} × {} fill{}, for {}",
        c.drugName,
        c.strength,
        c.rxnormCode,
        rx::schedule_name(p.schedule),
        p.quantityPerFill,
        c.unit,
        p.fills,
        if p.fills == 1 { "" } else { "s" },
        p.patient
    )
}

async fn new(args: &NewArgs) -> CmdResult {
    let manifest = Manifest::load(&args.manifest)?;
    let doc = MedicationRequest::parse(&read_input(&args.document)?)?;
    let prefix = match &args.out {
        Some(p) => p.clone(),
        None => {
            let stem = args.document.file_stem().filter(|_| args.document != Path::new("-"));
            PathBuf::from(stem.unwrap_or("prescription".as_ref()))
        }
    };
    let copy_path = with_suffix(&prefix, ".patient.json");
    if copy_path.exists() && !args.force {
        anyhow::bail!(
            "{} exists: it may hold the salt of an issued prescription; choose another --out or pass --force",
            copy_path.display()
        );
    }
    // Dated by the chain's clock when a node is given (see `RxClient::date_written`); the nonce defaults to
    // that time, at least the prescriber's nonce floor on chain.
    let (now, floor) = match &args.rpc_url {
        Some(url) => {
            let client = RxClient::connect(url, manifest.clone(), None).await?;
            let now = client.date_written(Utc::now()).await?;
            let floor = match args.nonce {
                Some(_) => U256::ZERO,
                None => client.nonce_floor(doc.requester.account).await?,
            };
            (now, floor)
        }
        None => (Utc::now(), U256::ZERO),
    };
    let nonce =
        args.nonce.unwrap_or_else(|| U256::from(u64::try_from(now.timestamp()).unwrap_or(0)).max(floor));
    let salt = args.salt.unwrap_or_else(rx::random_salt);
    let copy = PatientCopy::new(&doc, manifest.chain_id, manifest.contracts.prescriptions, now, salt, nonce)?;
    let typed_path = with_suffix(&prefix, ".typed-data.json");
    let code_path = with_suffix(&prefix, ".code.txt");
    let code = copy.ticket().to_code();
    let mut typed = serde_json::to_string_pretty(&copy.typed_data())?;
    typed.push('\n');
    write_atomic(&typed_path, &typed)?;
    write_atomic(&code_path, &format!("{code}\n"))?;
    write_atomic(&copy_path, &copy.to_json())?;
    let p = copy.prescription();
    out!("prescription  {}", copy.rx_id());
    out!("              {}", describe(&copy.ticket()));
    out!(
        "valid         {} .. {}",
        rx::time_text(p.earliestFillAt.into()),
        rx::time_text(p.validUntil.into())
    );
    out!("content hash  {}", copy.content_hash());
    out!("chain         {} (Prescriptions {})", copy.chain_id(), copy.prescriptions());
    out!("typed data    {}", typed_path.display());
    out!("patient copy  {}", copy_path.display());
    out!("code          {} ({} characters)", code_path.display(), code.len());
    out!();
    out!("Next: the prescriber ({}) issues it:", p.prescriber);
    out!("  medledger rx issue {} --keystore FILE   (or --private-key)", copy_path.display());
    out!("or signs the typed data elsewhere and anyone relays the signature:");
    out!("  cast wallet sign --data --from-file {}   (--ledger, --keystore, …)", typed_path.display());
    Ok(ExitCode::SUCCESS)
}

fn sign(args: &SignArgs) -> CmdResult {
    let (ticket, _) = load_prescription(&args.prescription)?;
    let signer = args.signer.require()?;
    let prescriber = ticket.prescription.prescriber;
    if signer.address() != prescriber {
        anyhow::bail!(
            "the signer {} is not the prescriber {} named in the prescription: the contract would refuse its signature",
            signer.address(),
            prescriber
        );
    }
    let signature = signer.sign_hash_sync(&ticket.rx_id())?;
    out!("{}", hex::encode_prefixed(signature.as_bytes()));
    Ok(ExitCode::SUCCESS)
}

async fn issue(args: &IssueArgs) -> CmdResult {
    let (ticket, copy) = load_prescription(&args.prescription)?;
    let signer = args.signer.require()?;
    let client = args.chain.connect(Some(signer)).await?;
    let sent = client.issue(&ticket, args.signature.clone()).await?;
    out!("issued        {}", ticket.rx_id());
    out!("              {}", describe(&ticket));
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    if args.signature.is_some() {
        out!("relayed by    {}", client.sender().unwrap_or_default());
    }
    if let Some((mut copy, path)) = copy {
        copy.set_issued(rx::Issued { tx_hash: sent.tx_hash, block_number: sent.block_number });
        write_atomic(&path, &copy.to_json())?;
        out!("patient copy  {} (transaction recorded)", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(args: &VerifyArgs) -> CmdResult {
    let (ticket, _) = load_prescription(&args.prescription)?;
    if let Some(path) = &args.manifest {
        rx::check_deployment(&ticket, &Manifest::load(path)?)?;
    }
    let pharmacy = match (args.pharmacy, ticket.prescription.pharmacy) {
        (Some(p), _) => p,
        (None, designated) if !designated.is_zero() => designated,
        (None, _) => anyhow::bail!("give --pharmacy: the prescription does not designate one"),
    };
    let verdict = rx::verify(&args.api_url, &ticket, pharmacy, args.at).await?;
    out!("prescription  {}", ticket.rx_id());
    out!("              {}", describe(&ticket));
    out!(
        "content hash  {} ({})",
        ticket.content_hash(),
        if verdict.content_hash_proven { "proven against the issued terms" } else { "not proven" }
    );
    out!("pharmacy      {pharmacy}");
    out!("evaluated at  {} (indexed up to {})", verdict.at, verdict.as_of);
    // The declared schedule against the bundled table (the chain cannot see the drug, issue 19 point 1). The
    // content is not sent to the API (no clinical data leaves the pharmacy), so the check is made here.
    let p = &ticket.prescription;
    let mut failures = verdict.failures.clone();
    let table = match &verdict.schedule_table {
        Some(table) => table.clone(),
        None => {
            if let Some(f) = medledger_core::dispense::schedule_failure(&p.content.rxnormCode, p.schedule) {
                failures.push(rx::Failure { reason: rx::SCHEDULE_MISMATCH.into(), message: f.message });
            }
            medledger_core::schedule::table_version().to_owned()
        }
    };
    match failures.iter().find(|f| f.reason == rx::SCHEDULE_MISMATCH) {
        Some(m) => out!("schedule      MISMATCH: {}", m.message),
        None => out!(
            "schedule      {} (matches controlled-substance table {table})",
            rx::schedule_name(p.schedule)
        ),
    }
    if verdict.valid && failures.is_empty() {
        out!("DISPENSABLE   up to {} {} now", verdict.quantity_available, ticket.prescription.content.unit);
        Ok(ExitCode::SUCCESS)
    } else {
        out!("NOT DISPENSABLE");
        for f in &failures {
            out!("  {}: {}", f.reason, f.message);
        }
        Ok(ExitCode::from(EXIT_NOT_DISPENSABLE))
    }
}

async fn dispense(args: &DispenseArgs) -> CmdResult {
    let (ticket, _) = load_prescription(&args.prescription)?;
    let signer = args.signer.require()?;
    let pharmacy = signer.address();
    let client = args.chain.connect(Some(signer)).await?;
    let rx_id = ticket.rx_id();
    let (hash, record) = match args.dispense_hash {
        Some(h) => (h, None),
        None => {
            let salt = rx::random_salt();
            let record = format!("{rx_id}:{pharmacy}:{}:{}:{salt}", args.quantity, Utc::now().timestamp());
            (keccak256(record.as_bytes()), Some(record))
        }
    };
    let sent = client.dispense(&ticket, args.quantity, args.short_supply, hash).await?;
    let state = client.on_chain(rx_id).await?;
    out!("dispensed     {} {} of {}", args.quantity, ticket.prescription.content.unit, rx_id);
    out!("              {}", describe(&ticket));
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    out!(
        "state         fill {} of {}, {} of {} units dispensed in total",
        state.fills_used,
        state.fills,
        state.total_dispensed,
        state.total_authorized
    );
    if args.short_supply {
        out!(
            "short supply  the balance is due before {} (21 CFR 1306.13(a))",
            rx::time_text(state.valid_until.into())
        );
    }
    out!("record hash   {hash}");
    if let Some(record) = record {
        out!("record        {record}   (keep it: its keccak256 is the record hash)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a Prescriptions transaction for a wallet elsewhere.
fn print_calldata(manifest: &Manifest, what: &str, data: &[u8]) {
    print_transaction(manifest, ("Prescriptions", manifest.contracts.prescriptions), what, data);
}

/// Prints a transaction to `contract` (name, address) for a wallet elsewhere: the contract, the calldata and
/// a `cast send` line.
pub(crate) fn print_transaction(manifest: &Manifest, contract: (&str, Address), what: &str, data: &[u8]) {
    let (name, to) = contract;
    let data = hex::encode_prefixed(data);
    out!("transaction   {what}, not sent");
    out!("to            {to} ({name}, chain {})", manifest.chain_id);
    out!("calldata      {data}");
    out!();
    out!("Send it from the right account with any wallet, e.g.:");
    out!("  cast send {to} {data} --ledger --rpc-url URL");
}

async fn cancel(args: &CancelArgs) -> CmdResult {
    use alloy::sol_types::SolCall;
    use medledger_core::bindings::Prescriptions::{cancelAsPatientCall, cancelCall};
    let (ticket, _) = load_prescription(&args.prescription)?;
    let p = &ticket.prescription;
    if args.send.calldata {
        let manifest = Manifest::load(&args.send.chain.manifest)?;
        rx::check_deployment(&ticket, &manifest)?;
        let Some(role) = args.role else {
            anyhow::bail!("--calldata needs --as patient or --as prescriber: whose cancellation to print");
        };
        let data = match role {
            CancelAs::Patient => {
                cancelAsPatientCall { terms: ticket.terms(), reasonCode: args.reason }.abi_encode()
            }
            CancelAs::Prescriber => cancelCall { rxId: ticket.rx_id(), reasonCode: args.reason }.abi_encode(),
        };
        let from = if role == CancelAs::Patient { p.patient } else { p.prescriber };
        print_calldata(&manifest, &format!("cancel {} as {from}", ticket.rx_id()), &data);
        return Ok(ExitCode::SUCCESS);
    }
    let signer = args.send.signer.require()?;
    let expected = match args.role {
        Some(CancelAs::Patient) => Some(p.patient),
        Some(CancelAs::Prescriber) => Some(p.prescriber),
        None => None,
    };
    if let Some(expected) = expected.filter(|e| *e != signer.address()) {
        anyhow::bail!("--as names {expected}, but the signer is {}", signer.address());
    }
    let client = args.send.chain.connect(Some(signer)).await?;
    let (role, sent) = client.cancel(&ticket, args.reason).await?;
    let by = match role {
        rx::Canceller::Patient => "its patient",
        rx::Canceller::Prescriber => "its prescriber",
    };
    out!("cancelled     {} by {by} (reason code {})", ticket.rx_id(), args.reason);
    out!("              {}", describe(&ticket));
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    Ok(ExitCode::SUCCESS)
}

/// A prescription id given as such, or the id of a patient copy or code.
fn rx_id_of(arg: &str) -> Result<(B256, Option<Ticket>), RxError> {
    let trimmed = arg.trim();
    if trimmed.len() == 66 && trimmed.starts_with("0x") {
        if let Ok(id) = trimmed.parse::<B256>() {
            return Ok((id, None));
        }
    }
    let (ticket, _) = load_prescription(arg)?;
    Ok((ticket.rx_id(), Some(ticket)))
}

async fn void(args: &VoidArgs) -> CmdResult {
    use alloy::sol_types::SolCall;
    use medledger_core::bindings::Prescriptions::voidPrescriptionCall;
    let (rx_id, ticket) = rx_id_of(&args.prescription)?;
    let manifest = Manifest::load(&args.send.chain.manifest)?;
    if let Some(t) = &ticket {
        rx::check_deployment(t, &manifest)?;
    }
    if args.send.calldata {
        let data = voidPrescriptionCall { rxId: rx_id, reasonCode: args.reason }.abi_encode();
        print_calldata(&manifest, &format!("void {rx_id} (from a registrar)"), &data);
        return Ok(ExitCode::SUCCESS);
    }
    let client = args.send.chain.connect(Some(args.send.signer.require()?)).await?;
    let sent = client.void(rx_id, args.reason).await?;
    out!(
        "voided        {rx_id} by registrar {} (reason code {})",
        client.sender().unwrap_or_default(),
        args.reason
    );
    if let Some(t) = &ticket {
        out!("              {}", describe(t));
    }
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    Ok(ExitCode::SUCCESS)
}

async fn transfer(args: &TransferArgs) -> CmdResult {
    use alloy::sol_types::SolCall;
    use medledger_core::bindings::Prescriptions::changePharmacyCall;
    let (ticket, _) = load_prescription(&args.prescription)?;
    let to = if args.to == Address::ZERO { "any pharmacy".to_owned() } else { args.to.to_string() };
    if args.send.calldata {
        let manifest = Manifest::load(&args.send.chain.manifest)?;
        rx::check_deployment(&ticket, &manifest)?;
        let data = changePharmacyCall { terms: ticket.terms(), newPharmacy: args.to }.abi_encode();
        let what =
            format!("move {} to {to} (from its patient {})", ticket.rx_id(), ticket.prescription.patient);
        print_calldata(&manifest, &what, &data);
        return Ok(ExitCode::SUCCESS);
    }
    let client = args.send.chain.connect(Some(args.send.signer.require()?)).await?;
    let sent = client.change_pharmacy(&ticket, args.to).await?;
    let controlled = ticket.prescription.schedule != 0;
    out!(
        "moved         {} to {to}{}",
        ticket.rx_id(),
        if controlled { " (its one transfer, 21 CFR 1306.08(e) and 1306.25(a))" } else { "" }
    );
    out!("              {}", describe(&ticket));
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    Ok(ExitCode::SUCCESS)
}

async fn invalidate_nonces(args: &InvalidateNoncesArgs) -> CmdResult {
    use alloy::sol_types::SolCall;
    use medledger_core::bindings::Prescriptions::invalidateNoncesCall;
    if args.send.calldata {
        let manifest = Manifest::load(&args.send.chain.manifest)?;
        let data = invalidateNoncesCall { newFloor: args.below }.abi_encode();
        print_calldata(&manifest, &format!("raise the sender's nonce floor to {}", args.below), &data);
        return Ok(ExitCode::SUCCESS);
    }
    let client = args.send.chain.connect(Some(args.send.signer.require()?)).await?;
    let (previous, sent) = client.invalidate_nonces(args.below).await?;
    let prescriber = client.sender().unwrap_or_default();
    out!("nonce floor   {previous} -> {} for prescriber {prescriber}", args.below);
    out!("              signed prescriptions with nonces below {} can no longer be issued", args.below);
    out!("transaction   {} (block {}, gas {})", sent.tx_hash, sent.block_number, sent.gas_used);
    Ok(ExitCode::SUCCESS)
}
