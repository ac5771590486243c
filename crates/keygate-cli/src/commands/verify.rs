//! `keygate verify`: exit 0 valid, 1 refused, 2 usage. The key is read from standard
//! input (one line) or from the environment variable named by `--key-env`, never from
//! the command line (the process list would show it).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use keygate::{Verifier, VerifyRequest};

use crate::cli::VerifyArgs;
use crate::output::Output;
use crate::store::Store;
use crate::Failure;

/// The key from `--key-env VAR`, or else the first line of standard input, without
/// its line ending (and without surrounding spaces, which no key has).
fn read_key(args: &VerifyArgs) -> Result<String, Failure> {
    if args.key_env.is_some() && args.key.is_some() {
        return Err(Failure(
            "give either `-` (standard input) or --key-env VAR, not both".to_owned(),
        ));
    }
    let key = match &args.key_env {
        Some(var) => std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => Failure(format!(
                "--key-env: the environment variable {var} is not set"
            )),
            std::env::VarError::NotUnicode(_) => {
                Failure(format!("--key-env: {var} is not valid UTF-8"))
            }
        })?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("API key (one line): ");
            }
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            line
        }
    };
    let key = key.trim_end_matches(['\n', '\r']).trim();
    if key.is_empty() {
        return Err(Failure(match &args.key_env {
            Some(var) => format!("--key-env: {var} is empty"),
            None => "no key on standard input: pipe it in, e.g. \
                     `printf '%s\\n' \"$KEY\" | keygate verify`, or use --key-env VAR"
                .to_owned(),
        }));
    }
    Ok(key.to_owned())
}

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    args: VerifyArgs,
) -> Result<ExitCode, Failure> {
    let key = read_key(&args)?;
    let verifier = Verifier::builder(store.store.clone())
        .hasher(store.hasher.clone())
        .envs(args.env)
        .build();
    // An operator's check spends none of the key's credits.
    match verifier.verify(VerifyRequest::key(&key).with_cost(0)).await {
        Ok(ok) => {
            let p = &ok.principal;
            out.show(
                &serde_json::json!({
                    "valid": true,
                    "keyId": p.key_id(),
                    "tenant": p.tenant(),
                    "env": p.env(),
                    "scopes": p.scopes().to_strings(),
                    "expiresAt": p.expires_at(),
                }),
                || {
                    format!(
                        "valid: {} ({}, tenant {}, scopes {})",
                        p.key_id(),
                        p.name(),
                        p.tenant(),
                        p.scopes().to_strings().join(",")
                    )
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            out.show(
                &serde_json::json!({ "valid": false, "code": err.code() }),
                || format!("refused: {} ({})", err.code(), err),
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
