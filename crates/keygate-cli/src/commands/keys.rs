//! `keygate keys …`

use std::process::ExitCode;

use keygate::analytics::{Granularity, VerificationFilter, VerificationOutcome};
use keygate::record::{KeyKind, KeyStatus};
use keygate::store::PageRequest;
use keygate::{Actor, KeyRecord, KeyUpdate, NewKey};
use keygate_admin::dto::{CreatedKeyView, KeyView};

use super::{about_key, credit_grant, expiry_from_now, key_id, named_limits, rate_limit, scopes};
use crate::cli::{
    CreateArgs, DeactivateArgs, KeysCommand, ListArgs, NarrowArgs, RotateArgs, ScopesArgs,
    UpdateArgs,
};
use crate::output::{table, when, Output};
use crate::store::Store;
use crate::Failure;

pub(crate) async fn run(
    store: &Store,
    out: &Output,
    cmd: KeysCommand,
) -> Result<ExitCode, Failure> {
    match cmd {
        KeysCommand::Create(args) => create(store, out, *args).await,
        KeysCommand::List(args) => list(store, out, args).await,
        KeysCommand::Show(args) => {
            let manager = store.manager("sk", "live")?;
            let record = manager
                .get(&Actor::system(), &key_id(&args.id)?)
                .await
                .map_err(about_key(&args.id))?;
            let in_grace = record.status_at(chrono::Utc::now()) == KeyStatus::RotationGrace;
            if in_grace {
                // Rotation telemetry: is the old key still sent?
                let to = chrono::Utc::now();
                let day = VerificationFilter {
                    key_id: Some(record.id.clone()),
                    ..VerificationFilter::between(to - chrono::Duration::days(1), to)
                };
                let uses: u64 = manager
                    .verification_counts(&Actor::system(), day, Granularity::Day)
                    .await?
                    .counts
                    .iter()
                    .filter(|c| c.outcome == VerificationOutcome::Valid)
                    .map(|c| c.count)
                    .sum();
                show_record_with(out, &record, &[("uses in the last 24 h", uses.to_string())]);
            } else {
                show_record(out, &record);
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Update(args) => update(store, out, args).await,
        KeysCommand::Rotate(args) => rotate(store, out, args).await,
        KeysCommand::Scopes(args) => scopes_used(store, out, args).await,
        KeysCommand::Narrow(args) => narrow(store, out, args).await,
        KeysCommand::Revoke(args) => {
            let record = store
                .manager("sk", "live")?
                .revoke(&Actor::system(), &key_id(&args.id)?)
                .await
                .map_err(about_key(&args.id))?;
            out.show(&KeyView::new(&record, chrono::Utc::now()), || {
                format!("revoked {} ({})", record.id, record.name)
            });
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Disable(args) => set_disabled(store, out, &args.id, true).await,
        KeysCommand::Enable(args) => set_disabled(store, out, &args.id, false).await,
        KeysCommand::DeactivateOwner(args) => deactivate(store, out, args).await,
        KeysCommand::ReactivateOwner(args) => reactivate(store, out, args).await,
    }
}

/// `keys disable` and `keys enable`.
async fn set_disabled(
    store: &Store,
    out: &Output,
    id: &str,
    disable: bool,
) -> Result<ExitCode, Failure> {
    let manager = store.manager("sk", "live")?;
    let key = key_id(id)?;
    let record = if disable {
        manager.disable(&Actor::system(), &key).await
    } else {
        manager.enable(&Actor::system(), &key).await
    }
    .map_err(about_key(id))?;
    out.show(&KeyView::new(&record, chrono::Utc::now()), || {
        let done = if disable { "disabled" } else { "enabled" };
        format!("{done} {} ({})", record.id, record.name)
    });
    Ok(ExitCode::SUCCESS)
}

async fn create(store: &Store, out: &Output, args: CreateArgs) -> Result<ExitCode, Failure> {
    let manager = store.manager(&args.prefix, &args.env)?;
    let mut new = NewKey::named(args.name)
        .tenant(args.tenant)
        .kind(args.kind.parse::<KeyKind>().map_err(Failure)?)
        .scopes(scopes(&args.scopes)?);
    new.role = args.role;
    new.owner = args.owner;
    new.description = args.description;
    new.expires_at = args
        .expires_in
        .as_deref()
        .map(expiry_from_now)
        .transpose()?;
    new.rate_limit = args.rate_limit.as_deref().map(rate_limit).transpose()?;
    new.limits = named_limits(&args.limits)?;
    new.credits = credit_grant(args.credits, args.refill.as_deref())?;
    new.allowed_ips = args
        .allowed_ips
        .iter()
        .map(|ip| keygate::manager::parse_ip_rule(ip).map_err(Failure))
        .collect::<Result<_, _>>()?;
    new.allowed_referrers = args.allowed_referrers;
    new.metadata = args
        .metadata
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::String(value)))
        .collect();
    let created = manager.create(&Actor::system(), new).await?;
    print_created(out, &created);
    Ok(ExitCode::SUCCESS)
}

fn print_created(out: &Output, created: &keygate::manager::CreatedKey) {
    let view = CreatedKeyView {
        key: created.key.expose().to_owned(),
        view: KeyView::new(&created.record, chrono::Utc::now()),
    };
    if !out.is_json() {
        eprintln!("Store this key now: it is shown only once and cannot be recovered.");
    }
    out.show(&view, || {
        format!(
            "{}\n\nid      {}\nname    {}\ntenant  {}\nscopes  {}",
            created.key.expose(),
            created.record.id,
            created.record.name,
            created.record.tenant,
            created.record.scopes.to_strings().join(",")
        )
    });
}

async fn list(store: &Store, out: &Output, args: ListArgs) -> Result<ExitCode, Failure> {
    let manager = store.manager("sk", "live")?;
    let page = manager
        .list(
            &Actor::system(),
            args.tenant.as_deref(),
            args.owner.as_deref(),
            args.include_revoked,
            &PageRequest::first(args.limit),
        )
        .await?;
    let now = chrono::Utc::now();
    let views: Vec<KeyView> = page.items.iter().map(|r| KeyView::new(r, now)).collect();
    out.show(&views, || {
        if views.is_empty() {
            return format!("no keys found in {}", searched(&args));
        }
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.id.clone(),
                    v.tenant.clone(),
                    v.name.clone(),
                    v.hint.clone(),
                    v.kind.clone(),
                    v.status.clone(),
                    when(v.last_used_at),
                    when(Some(v.created_at)),
                    when(v.expires_at),
                ]
            })
            .collect();
        let mut shown = table(
            &[
                "ID",
                "TENANT",
                "NAME",
                "HINT",
                "KIND",
                "STATUS",
                "LAST USED",
                "CREATED",
                "EXPIRES",
            ],
            &rows,
        );
        if page.next_cursor.is_some() {
            shown.push_str(&format!(
                "\n(the first {} keys; raise --limit or narrow with --tenant/--owner)",
                views.len()
            ));
        }
        shown
    });
    Ok(ExitCode::SUCCESS)
}

/// What a listing looked through, for an empty result.
fn searched(args: &ListArgs) -> String {
    let mut what = match &args.tenant {
        Some(tenant) => format!("tenant {tenant:?}"),
        None => "all tenants".to_owned(),
    };
    if let Some(owner) = &args.owner {
        what.push_str(&format!(", owner {owner:?}"));
    }
    if !args.include_revoked {
        what.push_str(" (revoked keys hidden: --include-revoked shows them)");
    }
    what
}

fn show_record(out: &Output, record: &KeyRecord) {
    show_record_with(out, record, &[]);
}

/// [`show_record`] with `extra` rows in the text table (the JSON is the key's view).
fn show_record_with(out: &Output, record: &KeyRecord, extra: &[(&str, String)]) {
    let view = KeyView::new(record, chrono::Utc::now());
    out.show(&view, || {
        let mut rows = vec![
            vec!["id".into(), view.id.clone()],
            vec!["name".into(), view.name.clone()],
            vec!["hint".into(), view.hint.clone()],
            vec!["status".into(), view.status.clone()],
            vec!["tenant".into(), view.tenant.clone()],
            vec!["kind".into(), view.kind.clone()],
            vec![
                "owner".into(),
                view.owner.clone().unwrap_or_else(|| "-".into()),
            ],
            vec![
                "role".into(),
                view.role.clone().unwrap_or_else(|| "-".into()),
            ],
            vec!["scopes".into(), view.scopes.join(",")],
            vec![
                "rate limit".into(),
                record
                    .rate_limit
                    .map_or_else(|| "default".into(), |r| r.to_string()),
            ],
            vec![
                "limits".into(),
                if record.limits.is_empty() {
                    "-".into()
                } else {
                    record
                        .limits
                        .iter()
                        .map(|(name, spec)| format!("{name}={spec}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            ],
            vec!["credits".into(), credits_text(&view)],
            vec!["created".into(), when(Some(view.created_at))],
            vec!["expires".into(), when(view.expires_at)],
            vec!["last used".into(), when(view.last_used_at)],
            vec!["revoked".into(), when(view.revoked_at)],
            vec!["disabled".into(), when(view.disabled_at)],
            vec!["grace until".into(), when(view.grace_until)],
        ];
        rows.extend(
            extra
                .iter()
                .map(|(field, value)| vec![(*field).to_owned(), value.clone()]),
        );
        table(&["FIELD", "VALUE"], &rows)
    });
}

/// `42 left, refill daily:100 (next 2026-12-02 00:00:00 UTC)`, or `-` when unmetered.
fn credits_text(view: &KeyView) -> String {
    let Some(credits) = &view.credits else {
        return "-".into();
    };
    let mut text = format!("{} left", credits.remaining);
    if let Some(refill) = &credits.refill {
        text.push_str(&format!(", refill {refill}"));
    }
    if let Some(at) = credits.refills_at {
        text.push_str(&format!(" (next {})", when(Some(at))));
    }
    if credits.account != view.id {
        text.push_str(&format!(", shared with {}", credits.account));
    }
    text
}

async fn update(store: &Store, out: &Output, args: UpdateArgs) -> Result<ExitCode, Failure> {
    let update = KeyUpdate {
        name: args.name,
        description: args.description.map(Some),
        role: if args.no_role {
            Some(None)
        } else {
            args.role.map(Some)
        },
        scopes: args.scopes.as_deref().map(scopes).transpose()?,
        expires_at: if args.no_expiry {
            Some(None)
        } else {
            args.expires_in
                .as_deref()
                .map(expiry_from_now)
                .transpose()?
                .map(Some)
        },
        rate_limit: args
            .rate_limit
            .as_deref()
            .map(rate_limit)
            .transpose()?
            .map(Some),
        credits: if args.no_credits {
            Some(None)
        } else {
            credit_grant(args.credits, args.refill.as_deref())?.map(Some)
        },
        limits: if args.no_limits {
            Some(keygate::rate_limit::NamedLimits::new())
        } else if args.limits.is_empty() {
            None
        } else {
            Some(named_limits(&args.limits)?)
        },
        ..KeyUpdate::default()
    };
    if update.is_empty() {
        return Err(Failure(
            "nothing to update: give at least one option (see --help)".into(),
        ));
    }
    let record = store
        .manager("sk", "live")?
        .update(&Actor::system(), &key_id(&args.id)?, update)
        .await
        .map_err(about_key(&args.id))?;
    show_record(out, &record);
    Ok(ExitCode::SUCCESS)
}

/// A `--grace` duration, when given.
fn grace_of(raw: Option<&str>) -> Result<Option<chrono::Duration>, Failure> {
    raw.map(keygate::duration::parse_duration)
        .transpose()
        .map_err(Failure)
}

/// Prints a rotation's successor (once) and, for people, how long the old key lasts.
fn print_successor(
    out: &Output,
    created: &keygate::manager::CreatedKey,
    grace: Option<chrono::Duration>,
    what: &str,
) {
    if !out.is_json() {
        let grace = grace.unwrap_or_else(|| chrono::Duration::hours(24));
        let lasts = keygate::duration::format_duration(grace);
        if what.is_empty() {
            eprintln!("The old key keeps working for {lasts}.");
        } else {
            eprintln!("{what}the old key keeps working for {lasts}.");
        }
    }
    print_created(out, created);
}

async fn rotate(store: &Store, out: &Output, args: RotateArgs) -> Result<ExitCode, Failure> {
    let grace = grace_of(args.grace.as_deref())?;
    let created = store
        .manager("sk", "live")?
        .rotate(&Actor::system(), &key_id(&args.id)?, grace)
        .await
        .map_err(about_key(&args.id))?;
    print_successor(out, &created, grace, "");
    Ok(ExitCode::SUCCESS)
}

/// The start of a window `raw` long (`90d`), ending now.
fn window_start(raw: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, Failure> {
    raw.map(|raw| {
        keygate::duration::parse_duration(raw)
            .map(|d| chrono::Utc::now() - d)
            .map_err(|e| Failure(format!("--since {raw:?}: {e}")))
    })
    .transpose()
}

async fn scopes_used(store: &Store, out: &Output, args: ScopesArgs) -> Result<ExitCode, Failure> {
    let usage = store
        .manager("sk", "live")?
        .scope_usage(
            &Actor::system(),
            &key_id(&args.id)?,
            window_start(args.since.as_deref())?,
        )
        .await
        .map_err(about_key(&args.id))?;
    let view = keygate_admin::dto::ScopeUsageView::from(&usage);
    out.show(&view, || {
        let mut rows: Vec<Vec<String>> = view
            .used
            .iter()
            .map(|u| vec![u.scope.clone(), "used".into(), when(Some(u.last_used))])
            .collect();
        rows.extend(
            view.unused
                .iter()
                .map(|s| vec![s.clone(), "unused".into(), "-".into()]),
        );
        format!(
            "granted: {}\nsince {}:\n{}",
            view.granted.join(","),
            when(Some(view.since)),
            table(&["SCOPE", "", "LAST USED"], &rows)
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn narrow(store: &Store, out: &Output, args: NarrowArgs) -> Result<ExitCode, Failure> {
    let grace = grace_of(args.grace.as_deref())?;
    let created = store
        .manager("sk", "live")?
        .narrow(
            &Actor::system(),
            &key_id(&args.id)?,
            window_start(args.since.as_deref())?,
            grace,
        )
        .await
        .map_err(about_key(&args.id))?;
    let holds = format!(
        "The new key holds {}; ",
        created.record.scopes.to_strings().join(",")
    );
    print_successor(out, &created, grace, &holds);
    Ok(ExitCode::SUCCESS)
}

async fn deactivate(
    store: &Store,
    out: &Output,
    args: DeactivateArgs,
) -> Result<ExitCode, Failure> {
    let revoked = store
        .manager("sk", "live")?
        .deactivate_owner(&Actor::system(), Some(&args.tenant), &args.owner)
        .await?;
    let ids: Vec<String> = revoked.iter().map(ToString::to_string).collect();
    out.show(&serde_json::json!({ "revoked": ids }), || {
        format!("revoked {} personal key(s) of {}", ids.len(), args.owner)
    });
    Ok(ExitCode::SUCCESS)
}

async fn reactivate(
    store: &Store,
    out: &Output,
    args: DeactivateArgs,
) -> Result<ExitCode, Failure> {
    store
        .manager("sk", "live")?
        .reactivate_owner(&Actor::system(), Some(&args.tenant), &args.owner)
        .await?;
    out.show(
        &serde_json::json!({ "owner": args.owner, "tenant": args.tenant, "active": true }),
        || format!("owner {} of {} is active again", args.owner, args.tenant),
    );
    Ok(ExitCode::SUCCESS)
}
