//! `medledger`: the command-line entry point. Each subcommand lives in its own module under `cli/`.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

mod cli;

/// Patient-controlled medical access and auditable e-prescriptions on Ethereum.
#[derive(Debug, Parser)]
#[command(name = "medledger", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bring up a local system: anvil, a throwaway PostgreSQL, the deployed contracts, the indexer and the
    /// GraphQL API, with the demo story played through the contracts.
    ///
    /// Prints a banner with the GraphQL and RPC URLs, the contract addresses and the demo accounts (anvil's
    /// public test keys) with their roles. Everything it starts is stopped, and every temporary file removed,
    /// on Ctrl-C.
    #[command(
        after_help = "Examples:\n  medledger dev                      # anvil, PostgreSQL, contracts, demo story, indexer, API\n  \
                      medledger dev --simulate           # ... and a simulated action every 3 s\n  \
                      medledger dev --no-seed            # empty contracts\n  \
                      medledger dev --rpc.url http://127.0.0.1:8545   # deploy to an anvil you started\n  \
                      DATABASE_URL=postgres://localhost/medledger medledger dev"
    )]
    Dev(cli::dev::DevArgs),
    /// Start a throwaway PostgreSQL cluster, print its URL and keep it until Ctrl-C (or until this process
    /// dies, however it dies); its files are removed afterwards.
    #[command(
        after_help = "Example:\n  medledger pg   # then: DATABASE_URL=<printed url> cargo sqlx prepare --workspace"
    )]
    Pg,
    /// Index the medledger contracts' events into PostgreSQL: backfill, then follow the head.
    ///
    /// Applies the migrations first. Safe to stop at any instant (SIGINT/SIGTERM stop it gracefully;
    /// even SIGKILL loses nothing). A second instance on the same database and chain waits as hot standby.
    #[command(after_help = "Example:\n  medledger index --rpc.url ws://127.0.0.1:8545 \\\n    \
                            --db.url postgres://localhost/medledger --manifest deployments/31337.json")]
    Index(cli::index::IndexArgs),
    /// Apply the indexer's database migrations and exit.
    #[command(after_help = "Example:\n  DATABASE_URL=postgres://localhost/medledger medledger migrate")]
    Migrate(cli::migrate::MigrateArgs),
    /// Serve the GraphQL API (GraphiQL at GET /graphql, subscriptions over WebSocket) over an indexed
    /// database, with /healthz, /readyz and /metrics.
    #[command(after_help = "Example:\n  medledger serve --db.url postgres://localhost/medledger \\\n    \
                            --manifest deployments/31337.json --api.addr 127.0.0.1:4000")]
    Serve(cli::serve::ServeArgs),
    /// Index and serve in one process: `medledger index` plus `medledger serve` on the same database.
    #[command(after_help = "Example:\n  medledger run --rpc.url ws://127.0.0.1:8545 \\\n    \
                            --db.url postgres://localhost/medledger --manifest deployments/31337.json")]
    Run(cli::run::RunArgs),
    /// Prescriptions from the command line: a doctor builds and issues one, a pharmacy verifies and
    /// dispenses it, the patient carries the copy (JSON or a QR text).
    #[command(
        subcommand,
        after_help = "Example (anvil keys: 1 prescriber, 2 pharmacy):\n  \
        medledger rx new examples/rx/amoxicillin.json --manifest deployments/31337.json\n  \
        medledger rx issue amoxicillin.patient.json --rpc.url http://127.0.0.1:8545 --private-key 0x59c6…\n  \
        medledger rx verify amoxicillin.patient.json --api.url http://127.0.0.1:4000 --pharmacy 0x3C44…\n  \
        medledger rx dispense amoxicillin.patient.json --quantity 30 --rpc.url http://127.0.0.1:8545 \\\n    \
        --private-key 0x5de4…"
    )]
    Rx(cli::rx::RxCommand),
    /// Credentials from the command line: a registrar licenses prescribers and pharmacies with their DEA
    /// schedules and expiry, renews, suspends, reinstates and revokes them; the admin appoints registrars and
    /// reviewers; anyone shows a credential.
    #[command(
        subcommand,
        after_help = "Example (medledger dev's registrar is anvil key 0):
          medledger credential license 0x90F7…b906 --kind pharmacy --license 'CA PHY 59812' --jurisdiction US-CA \\\n            --until 2027-12-31 --schedules II,III,IV,V --rpc.url http://127.0.0.1:8545 \\\n            --manifest deployments/31337.json --private-key 0xac09…"
    )]
    Credential(cli::credential::CredentialCommand),
    /// Consent from the command line: a patient grants, revokes and blocks from emergency access; a
    /// prescriber opens emergency ("break-glass") access with a committed justification and ends it; a
    /// reviewer flags a use; anyone shows a grant.
    #[command(
        subcommand,
        after_help = "Example (medledger dev's patient grants her doctor):\n  \
        medledger consent grant 0x7099…79C8 --scopes read,prescribe --until 2027-06-30 \\\n    \
        --rpc.url http://127.0.0.1:8545 --manifest deployments/31337.json --private-key 0x…"
    )]
    Consent(cli::consent::ConsentCommand),
    /// Medical documents in the record vault: upload and anchor, list, download, hide, the access log
    /// (signed in with Sign-In with Ethereum, the key as for `rx`).
    #[command(
        subcommand,
        after_help = "Example (medledger dev's Dr. Okafor reading Maria's documents):\n  \
        medledger records ls --patient 0x976EA74026E726554dB657fA54763abd0C3a0aa9 \\\n    \
        --vault.url http://127.0.0.1:4000 --private-key 0x59c6…"
    )]
    Records(cli::records::RecordsCommand),
    /// Maintenance of the record vault: rotate the key-encryption key, verify the access log, sweep what
    /// killed uploads left behind.
    #[command(
        subcommand,
        after_help = "Examples:\n  medledger vault verify-log --db.url postgres://localhost/medledger\n  \
        medledger vault rotate-key --vault.key-file vault.keys --db.url postgres://localhost/medledger\n  \
        medledger vault sweep --vault.store file:///var/lib/medledger/vault --db.url postgres://localhost/medledger"
    )]
    Vault(cli::vault::VaultCommand),
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Logging")]
struct LogArgs {
    /// Log filter, in `tracing` env-filter syntax.
    #[arg(long = "log.filter", env = "RUST_LOG", default_value = "info", global = true)]
    filter: String,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long = "log.json", env = "MEDLEDGER_LOG_JSON", global = true)]
    json: bool,
}

fn init_tracing(args: &LogArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.filter).context("invalid --log.filter")?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match init_tracing(&cli.log) {
        Err(e) => Err(e),
        Ok(()) => match cli.command {
            Command::Dev(args) => cli::dev::dev(args).await,
            Command::Pg => cli::pg::pg().await,
            Command::Index(args) => cli::index::index(args).await,
            Command::Migrate(args) => cli::migrate::migrate(args).await,
            Command::Serve(args) => cli::serve::serve(args).await,
            Command::Run(args) => cli::run::run(args).await,
            Command::Rx(command) => return cli::rx::run(command).await,
            Command::Credential(command) => return cli::credential::run(command).await,
            Command::Consent(command) => return cli::consent::run(command).await,
            Command::Records(command) => cli::records::records(command).await,
            Command::Vault(command) => cli::vault::vault(command).await,
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, each cause once (anyhow's `Caused by:` list repeats every wrapper's text).
            eprintln!("Error: {}", medledger_indexer::report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
