//! `keygate verify KEY`: exit 0 valid, 1 refused.

use std::io::Read;
use std::process::ExitCode;

use keygate::{Verifier, VerifyRequest};

use crate::cli::VerifyArgs;
use crate::output::Output;
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    args: VerifyArgs,
) -> Result<ExitCode, Failure> {
    let key = if args.key == "-" {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf)?;
        buf.trim().to_owned()
    } else {
        args.key
    };
    let verifier = Verifier::builder(store.store.clone())
        .hasher(store.hasher.clone())
        .envs(args.env)
        .build();
    match verifier.verify(VerifyRequest::key(&key)).await {
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
