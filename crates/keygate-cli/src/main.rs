//! `keygate`: manage API keys from the command line.
//!
//! Exit codes: 0 ok, 1 refused or invalid (including `verify` of a bad key), 2 usage.

mod cli;
mod commands;
mod output;
mod store;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// A failure to report: a message for stderr, and exit code 1.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("KEYGATE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let store = store::open(&cli.database_url).await?;
    let out = output::Output::new(cli.json);
    match cli.command {
        Command::Keys(cmd) => commands::keys::run(&store, &out, cmd).await,
        Command::Roles(cmd) => commands::roles::run(&store, &out, cmd).await,
        Command::Limits(cmd) => commands::limits::run(&store, &out, cmd).await,
        Command::Verify(args) => commands::verify::run(&store, &out, args).await,
        Command::Audit(args) => commands::audit::run(&store, &out, args).await,
        Command::Usage(args) => commands::usage::run(&store, &out, args).await,
        Command::Migrate => {
            out.message(&format!(
                "store at {} is migrated ({})",
                store::redact(&cli.database_url),
                store.backend()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => commands::serve::run(store, args).await,
    }
}
