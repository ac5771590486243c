//! The command line, as clap types.

use clap::{Args, Parser, Subcommand};

/// Manage keygate API keys in the store at KEYGATE_DATABASE_URL.
#[derive(Debug, Parser)]
#[command(name = "keygate", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Store URL: sqlite://FILE or postgres://…
    #[arg(
        long,
        env = "KEYGATE_DATABASE_URL",
        default_value = "sqlite://keygate.db",
        global = true
    )]
    pub(crate) database_url: String,
    /// Print JSON (the same camelCase objects as the REST API) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, show, update, rotate, disable, enable and revoke keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create and list roles (named scope sets).
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Show or set the limits every key of a tenant (or of one owner) shares.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Check a key: exit 0 if it is valid, 1 if refused.
    Verify(VerifyArgs),
    /// Show the audit log.
    Audit(AuditArgs),
    /// Show how often a key was verified, by outcome, over time.
    Usage(UsageArgs),
    /// Create or upgrade the store's tables.
    #[command(
        after_help = "Example:\n  KEYGATE_DATABASE_URL=postgres://app@db/keys keygate migrate"
    )]
    Migrate,
    /// Serve the admin REST API and the web dashboard (/dashboard) over the store
    /// (KEYGATE_ADDR, default 127.0.0.1:3000).
    Serve(ServeArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum LimitsCommand {
    /// Show the limits a tenant's keys (or one owner's) share in an environment.
    #[command(
        after_help = "Example:\n  keygate limits show --tenant acme --env live --owner usr_42"
    )]
    Show(SharedLimitsArgs),
    /// Set them, replacing what was set: --limit NAME=SPEC (repeat), or --none.
    #[command(
        after_help = "Example:\n  keygate limits set --tenant acme --env live --limit org=600/m --limit daily=100000/day,quota=100000"
    )]
    Set(SetSharedLimitsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SharedLimitsArgs {
    /// The tenant.
    #[arg(long)]
    pub(crate) tenant: String,
    /// The environment, e.g. live.
    #[arg(long, default_value = "live")]
    pub(crate) env: String,
    /// One owner's keys (default: every key of the tenant).
    #[arg(long)]
    pub(crate) owner: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SetSharedLimitsArgs {
    #[command(flatten)]
    pub(crate) of: SharedLimitsArgs,
    /// A shared limit, NAME=SPEC (e.g. org=600/m); repeat for more.
    #[arg(
        long = "limit",
        value_name = "NAME=SPEC",
        required_unless_present = "none"
    )]
    pub(crate) limits: Vec<String>,
    /// Remove every shared limit of the tenant (or owner).
    #[arg(long, conflicts_with = "limits")]
    pub(crate) none: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key; it is printed once.
    Create(Box<CreateArgs>),
    /// List keys of every tenant (or of one, with --tenant).
    List(ListArgs),
    /// Show one key (of any tenant).
    #[command(after_help = "Example:\n  keygate keys show key_4f8a2b9c1d3e5f70")]
    Show(IdArg),
    /// Change a key's settings.
    Update(UpdateArgs),
    /// Issue a replacement; the old key keeps working for the grace period.
    Rotate(RotateArgs),
    /// Show the scopes a key was granted, those it used (since --since, default 30d)
    /// and those it did not.
    #[command(after_help = "Example:\n  keygate keys scopes key_4f8a2b9c1d3e5f70 --since 90d")]
    Scopes(ScopesArgs),
    /// Least privilege: a replacement holding only the scopes the key used, issued as
    /// a rotation (the old key keeps working for the grace period).
    #[command(
        after_help = "Example:\n  keygate keys narrow key_4f8a2b9c1d3e5f70 --since 90d --grace 24h"
    )]
    Narrow(NarrowArgs),
    /// Revoke a key now and for good.
    #[command(after_help = "Example:\n  keygate keys revoke key_4f8a2b9c1d3e5f70")]
    Revoke(IdArg),
    /// Disable a key: refused (401 key_disabled) until enabled again.
    #[command(after_help = "Example:\n  keygate keys disable key_4f8a2b9c1d3e5f70")]
    Disable(IdArg),
    /// Enable a disabled key again.
    #[command(after_help = "Example:\n  keygate keys enable key_4f8a2b9c1d3e5f70")]
    Enable(IdArg),
    /// Deactivate an owner: their personal keys are revoked and refused, and no new
    /// personal key can be issued for them until reactivated.
    #[command(
        after_help = "Example:\n  keygate keys deactivate-owner alice@example.com --tenant acme"
    )]
    DeactivateOwner(DeactivateArgs),
    /// Lift an owner's deactivation (revoked keys stay revoked).
    #[command(
        after_help = "Example:\n  keygate keys reactivate-owner alice@example.com --tenant acme"
    )]
    ReactivateOwner(DeactivateArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  keygate keys create --name ci-deploy --tenant acme --scopes read:scans,write:scans --expires-in 90d"
)]
pub(crate) struct CreateArgs {
    /// Human name.
    #[arg(long)]
    pub(crate) name: String,
    /// Key prefix, e.g. sk or neo_sk.
    #[arg(long, default_value = "sk")]
    pub(crate) prefix: String,
    /// Environment, e.g. live, test, prod.
    #[arg(long, default_value = "live")]
    pub(crate) env: String,
    /// A role (its scopes are added at verify time).
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Comma-separated scopes, e.g. read:scans,write:scans.
    #[arg(long, value_delimiter = ',')]
    pub(crate) scopes: Vec<String>,
    /// The tenant the key belongs to.
    #[arg(long, default_value = "default")]
    pub(crate) tenant: String,
    /// The owner (required for personal keys).
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// personal, team or service.
    #[arg(long, default_value = "service")]
    pub(crate) kind: String,
    /// Expiry from now: 30s, 15m, 24h, 90d.
    #[arg(long)]
    pub(crate) expires_in: Option<String>,
    /// Rate limit: 1000/h, 50/s, or 1000/h,burst=50.
    #[arg(long)]
    pub(crate) rate_limit: Option<String>,
    /// A named limit beside it, NAME=SPEC (e.g. burst=10/s); repeat for more. Each
    /// must allow a request; a request counts in all of them or in none.
    #[arg(long = "limit", value_name = "NAME=SPEC")]
    pub(crate) limits: Vec<String>,
    /// Uses the key may make (each verified request spends its route's cost; at zero
    /// it gets 429 usage_exceeded).
    #[arg(long, value_name = "N")]
    pub(crate) credits: Option<u64>,
    /// Refill the credits: daily:AMOUNT, monthly:AMOUNT or monthly:AMOUNT@DAY.
    #[arg(long, value_name = "REFILL", requires = "credits")]
    pub(crate) refill: Option<String>,
    /// What the key is for.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// Comma-separated allowed client IPs/CIDRs.
    #[arg(long, value_delimiter = ',')]
    pub(crate) allowed_ips: Vec<String>,
    /// Comma-separated allowed referrers.
    #[arg(long, value_delimiter = ',')]
    pub(crate) allowed_referrers: Vec<String>,
    /// A metadata entry, KEY=VALUE (repeatable), e.g. --metadata email=ops@example.com.
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = metadata_entry)]
    pub(crate) metadata: Vec<(String, String)>,
}

/// `KEY=VALUE` with a non-empty key.
fn metadata_entry(entry: &str) -> Result<(String, String), String> {
    match entry.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{entry:?} is not KEY=VALUE")),
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  keygate keys list --tenant acme --include-revoked")]
pub(crate) struct ListArgs {
    /// Only this tenant's keys (default: every tenant).
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Only this owner's keys.
    #[arg(long)]
    pub(crate) owner: Option<String>,
    /// Include revoked keys.
    #[arg(long)]
    pub(crate) include_revoked: bool,
    /// At most this many keys.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: u32,
}

#[derive(Debug, Args)]
pub(crate) struct IdArg {
    /// The key id (key_…).
    pub(crate) id: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  keygate keys update key_4f8a2b9c1d3e5f70 --scopes read:scans --rate-limit 1000/h,burst=50 --limit daily=5000/day"
)]
pub(crate) struct UpdateArgs {
    /// The key id (key_…).
    pub(crate) id: String,
    /// New name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// New description.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// New role.
    #[arg(long)]
    pub(crate) role: Option<String>,
    /// Remove the role.
    #[arg(long, conflicts_with = "role")]
    pub(crate) no_role: bool,
    /// New comma-separated scopes.
    #[arg(long, value_delimiter = ',')]
    pub(crate) scopes: Option<Vec<String>>,
    /// New expiry from now.
    #[arg(long)]
    pub(crate) expires_in: Option<String>,
    /// Never expire.
    #[arg(long, conflicts_with = "expires_in")]
    pub(crate) no_expiry: bool,
    /// New rate limit.
    #[arg(long)]
    pub(crate) rate_limit: Option<String>,
    /// Replace the named limits with these, NAME=SPEC; repeat for more.
    #[arg(long = "limit", value_name = "NAME=SPEC")]
    pub(crate) limits: Vec<String>,
    /// Remove every named limit.
    #[arg(long, conflicts_with = "limits")]
    pub(crate) no_limits: bool,
    /// Set a new balance of uses (spends of the old one are forgotten).
    #[arg(long, value_name = "N")]
    pub(crate) credits: Option<u64>,
    /// Refill the new balance: daily:AMOUNT, monthly:AMOUNT or monthly:AMOUNT@DAY.
    #[arg(long, value_name = "REFILL", requires = "credits")]
    pub(crate) refill: Option<String>,
    /// Remove the credits (unmetered).
    #[arg(long, conflicts_with = "credits")]
    pub(crate) no_credits: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScopesArgs {
    /// The key id (key_…).
    pub(crate) id: String,
    /// The window: scopes used in this long (30s, 15m, 24h, 90d; default 30d).
    #[arg(long)]
    pub(crate) since: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NarrowArgs {
    /// The key id (key_…).
    pub(crate) id: String,
    /// Keep the scopes used in this long (default 30d).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// How long the old key keeps working: 24h (default), 0s to end it now.
    #[arg(long)]
    pub(crate) grace: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  keygate keys rotate key_4f8a2b9c1d3e5f70 --grace 24h")]
pub(crate) struct RotateArgs {
    /// The key id (key_…).
    pub(crate) id: String,
    /// How long the old key keeps working: 24h (default), 0s to end it now.
    #[arg(long)]
    pub(crate) grace: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DeactivateArgs {
    /// The owner.
    pub(crate) owner: String,
    /// The tenant.
    #[arg(long, default_value = "default")]
    pub(crate) tenant: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RolesCommand {
    /// Create a role (an error if it exists: use `roles update` to change one).
    Create(RoleArgs),
    /// List roles: global ones and every tenant's (or one tenant's, with --tenant).
    #[command(after_help = "Example:\n  keygate roles list --tenant acme --json")]
    List(RoleListArgs),
    /// Show one role.
    #[command(after_help = "Example:\n  keygate roles show radiologist --tenant acme --env live")]
    Show(RoleRef),
    /// Replace a role's scopes and description (creating it if it does not exist).
    #[command(
        after_help = "Example:\n  keygate roles update radiologist --scopes read:scans --description 'Reads scans only'"
    )]
    Update(RoleArgs),
    /// Delete a role; refused while keys hold it, unless --force.
    #[command(
        after_help = "Example:\n  keygate roles delete radiologist --tenant acme --env live --force"
    )]
    Delete(RoleDeleteArgs),
}

/// Which roles: global ones (no --tenant), or those of one tenant and environment.
#[derive(Debug, Args)]
pub(crate) struct RoleNamespaceArgs {
    /// The tenant whose role this is (with --env); leave out for a global role.
    #[arg(long, requires = "env")]
    pub(crate) tenant: Option<String>,
    /// The environment whose role this is (with --tenant).
    #[arg(long, requires = "tenant")]
    pub(crate) env: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  keygate roles create radiologist --scopes read:scans,read:reports --description 'Reads imaging'"
)]
pub(crate) struct RoleArgs {
    /// Role name, e.g. radiologist.
    pub(crate) name: String,
    /// Comma-separated scopes.
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) scopes: Vec<String>,
    /// What the role is for.
    #[arg(long)]
    pub(crate) description: Option<String>,
    #[command(flatten)]
    pub(crate) namespace: RoleNamespaceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RoleRef {
    /// Role name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) namespace: RoleNamespaceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RoleDeleteArgs {
    /// Role name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) namespace: RoleNamespaceArgs,
    /// Delete it even while keys hold it (they keep only their own scopes, or the
    /// global role of that name).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RoleListArgs {
    /// Only the global roles and this tenant's.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
}

/// `keygate verify`: the key comes from standard input (one line) or from an
/// environment variable, never from the command line, where any user of the machine
/// could read it in the process list.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    printf '%s\\n' \"$KEY\" | keygate verify\n  \
    KEY=sk_live_… keygate verify --key-env KEY")]
pub(crate) struct VerifyArgs {
    /// Read the key from this environment variable instead of standard input.
    #[arg(long, value_name = "VAR")]
    pub(crate) key_env: Option<String>,
    /// Accept only these environments (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) env: Vec<String>,
    /// Refused: a key on the command line is visible in the process list. `-` (read
    /// standard input) is accepted, as it was before.
    #[arg(hide = true, value_parser = NoKeyArgument)]
    pub(crate) key: Option<StdinMarker>,
}

/// The only positional `keygate verify` accepts: `-`, standard input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StdinMarker;

/// Refuses a key given as an argument, without echoing it (clap would quote a bad
/// value in its message, printing the key once more).
#[derive(Debug, Clone, Copy)]
struct NoKeyArgument;

/// How to pass the key, for the usage error.
pub(crate) const PASS_THE_KEY: &str = "the key must not be given as an argument (it \
     would be visible in the process list); pass it on standard input, e.g. \
     `printf '%s\\n' \"$KEY\" | keygate verify`, or name an environment variable \
     holding it with `--key-env VAR`";

impl clap::builder::TypedValueParser for NoKeyArgument {
    type Value = StdinMarker;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StdinMarker, clap::Error> {
        if value == "-" {
            return Ok(StdinMarker);
        }
        let mut cmd = cmd.clone();
        Err(cmd.error(clap::error::ErrorKind::ArgumentConflict, PASS_THE_KEY))
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  keygate audit --key key_4f8a2b9c1d3e5f70 --action key.revoke --outcome failure"
)]
pub(crate) struct AuditArgs {
    /// Only events about this key.
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// Only this action, e.g. key.revoke.
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// Only successes or only refusals.
    #[arg(long, value_parser = ["success", "failure"])]
    pub(crate) outcome: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: u32,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  keygate usage key_4f8a2b9c1d3e5f70 --last 7d --granularity day"
)]
pub(crate) struct UsageArgs {
    /// The key.
    pub(crate) id: String,
    /// How far back: 90m, 24h (the default), 7d, 2w.
    #[arg(long, default_value = "24h")]
    pub(crate) last: String,
    /// Bucket size (a day of minutes, 31 days of hours or 366 days of days at most).
    #[arg(long, default_value = "hour", value_parser = ["minute", "hour", "day"])]
    pub(crate) granularity: String,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  KEYGATE_DATABASE_URL=sqlite://keygate.db keygate serve --addr 127.0.0.1:3000"
)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEYGATE_ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) addr: String,
    /// Accept keys with this prefix only.
    #[arg(long)]
    pub(crate) prefix: Option<String>,
    /// Failed verifications allowed per client IP before it gets 429, as a rate limit
    /// (e.g. 60/m, the default; 1000/m,burst=100).
    #[arg(long, env = "KEYGATE_FAILURE_THROTTLE", default_value = "60/m")]
    pub(crate) failure_throttle: String,
    /// Also serve GitHub's secret-scanning partner endpoint (POST
    /// /v1/secret-scanning/github), trusting the keys of this file: GitHub's public keys
    /// document (the body of https://api.github.com/meta/public_keys/secret_scanning).
    #[arg(long, env = "KEYGATE_SECRET_SCANNING_KEYS", value_name = "FILE")]
    pub(crate) secret_scanning_keys: Option<std::path::PathBuf>,
    /// What a key of ours reported leaked gets: revoked, or quarantined (disabled).
    #[arg(long, default_value = "revoke", value_parser = ["revoke", "quarantine"])]
    pub(crate) leak_policy: String,
}
