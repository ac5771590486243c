//! `keygate limits …`: the limits a tenant's (or an owner's) keys share, as the system
//! actor (the admin API's `/v1/shared-limits` is the same for a tenant's own keys).

use std::process::ExitCode;

use keygate::rate_limit::NamedLimits;
use keygate::Actor;

use super::named_limits;
use crate::cli::{LimitsCommand, SharedLimitsArgs};
use crate::output::{table, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    cmd: LimitsCommand,
) -> Result<ExitCode, Failure> {
    let manager = store.manager("sk", "live")?;
    let system = Actor::system();
    let (of, limits) = match cmd {
        LimitsCommand::Show(of) => {
            let limits = manager
                .shared_limits(
                    &system,
                    Some(&of.tenant),
                    Some(&of.env),
                    of.owner.as_deref(),
                )
                .await?;
            (of, limits)
        }
        LimitsCommand::Set(args) => {
            let limits = if args.none {
                NamedLimits::new()
            } else {
                named_limits(&args.limits)?
            };
            let of = args.of;
            let limits = manager
                .set_shared_limits(
                    &system,
                    Some(&of.tenant),
                    Some(&of.env),
                    of.owner.as_deref(),
                    limits,
                )
                .await?;
            (of, limits)
        }
    };
    show(out, &of, &limits);
    Ok(ExitCode::SUCCESS)
}

fn show(out: &Output, of: &SharedLimitsArgs, limits: &NamedLimits) {
    let view = serde_json::json!({
        "tenant": of.tenant,
        "env": of.env,
        "owner": of.owner,
        "limits": limits
            .iter()
            .map(|(name, spec)| (name.to_string(), serde_json::Value::String(spec.to_string())))
            .collect::<serde_json::Map<_, _>>(),
    });
    out.show(&view, || {
        let whose = of.owner.as_deref().map_or_else(
            || format!("tenant {}", of.tenant),
            |o| format!("owner {o} of {}", of.tenant),
        );
        let rows: Vec<Vec<String>> = limits
            .iter()
            .map(|(name, spec)| vec![name.to_string(), spec.to_string()])
            .collect();
        if rows.is_empty() {
            format!("{whose} ({}): no shared limits\n", of.env)
        } else {
            format!(
                "{whose} ({}):\n{}",
                of.env,
                table(&["LIMIT", "SPEC"], &rows)
            )
        }
    });
}
