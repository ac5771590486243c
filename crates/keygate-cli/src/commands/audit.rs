//! `keygate audit`

use std::process::ExitCode;

use keygate::audit::AuditFilter;
use keygate::store::PageRequest;
use keygate::Actor;
use keygate_admin::dto::AuditEventView;

use super::key_id;
use crate::cli::AuditArgs;
use crate::output::{table, when, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(store: &Store, out: &Output, args: AuditArgs) -> Result<ExitCode, Failure> {
    let filter = AuditFilter {
        key: args.key.as_deref().map(key_id).transpose()?,
        action: args.action,
        // clap admits only the two spellings `Outcome::parse` reads.
        outcome: args
            .outcome
            .as_deref()
            .and_then(keygate::audit::Outcome::parse),
        ..AuditFilter::default()
    };
    let page = store
        .manager("sk", "live")?
        .audit_log(&Actor::system(), filter, &PageRequest::first(args.limit))
        .await?;
    let views: Vec<AuditEventView> = page.items.iter().map(AuditEventView::from).collect();
    out.show(&views, || {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|e| {
                vec![
                    when(Some(e.at)),
                    e.action.clone(),
                    e.outcome.clone(),
                    e.target.clone().unwrap_or_else(|| "-".into()),
                    e.actor.clone().unwrap_or_else(|| "cli".into()),
                    e.reason.clone().unwrap_or_default(),
                    e.count.to_string(),
                ]
            })
            .collect();
        table(
            &[
                "TIME", "ACTION", "OUTCOME", "TARGET", "ACTOR", "REASON", "COUNT",
            ],
            &rows,
        )
    });
    Ok(ExitCode::SUCCESS)
}
