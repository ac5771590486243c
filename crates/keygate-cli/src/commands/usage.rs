//! `keygate usage`: a key's verifications by outcome over time.

use std::process::ExitCode;

use keygate::analytics::{Granularity, VerificationFilter};
use keygate::Actor;
use keygate_admin::dto::VerificationCountView;

use super::{about_key, key_id};
use crate::cli::UsageArgs;
use crate::output::{table, when, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(store: &Store, out: &Output, args: UsageArgs) -> Result<ExitCode, Failure> {
    let last = keygate::duration::parse_duration(&args.last)
        .map_err(|e| Failure(format!("--last: {e}")))?;
    // clap admits only the three spellings `Granularity::parse` reads.
    let granularity = Granularity::parse(&args.granularity).unwrap_or(Granularity::Hour);
    let to = chrono::Utc::now();
    let filter = VerificationFilter {
        key_id: Some(key_id(&args.id)?),
        ..VerificationFilter::between(to - last, to)
    };
    let report = store
        .manager("sk", "live")?
        .verification_counts(&Actor::system(), filter, granularity)
        .await
        .map_err(about_key(&args.id))?;
    if report.from > to - last {
        eprintln!(
            "note: {} buckets cover at most {}; showing from {}",
            granularity.as_str(),
            keygate::duration::format_duration(granularity.longest_range()),
            when(Some(report.from))
        );
    }
    let views: Vec<VerificationCountView> = report
        .counts
        .iter()
        .map(VerificationCountView::from)
        .collect();
    out.show(&views, || {
        if views.is_empty() {
            return format!("no verifications of {} in the last {}", args.id, args.last);
        }
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|c| vec![when(Some(c.at)), c.outcome.clone(), c.count.to_string()])
            .collect();
        table(&["FROM", "OUTCOME", "COUNT"], &rows)
    });
    Ok(ExitCode::SUCCESS)
}
