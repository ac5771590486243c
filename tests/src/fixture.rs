use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use keygate::clock::{Clock, ManualClock};
use keygate::hash::KeyHasher;
use keygate::record::Rotation;
use keygate::{
    key_format, KeyGate, KeyId, KeyRecord, KeyStore, MemoryStore, RateLimitSpec, RateLimits,
    ScopeSet,
};

/// The keys the table refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyName {
    /// `read:items`, `write:items`.
    Writer,
    /// `read:items` only.
    Reader,
    /// Revoked.
    Revoked,
    /// Disabled (may be enabled again).
    Disabled,
    /// Expired an hour ago.
    Expired,
    /// Rotated, past its grace period.
    RotatedOut,
    /// Rotated, still in its grace period.
    InGrace,
    /// An `sk_test_` key on a server that accepts only `live`.
    TestEnv,
    /// Well-formed, checksum valid, never stored.
    Unknown,
    /// A stored key with its last character changed.
    BadChecksum,
    /// Allowed only from 10.0.0.0/8 (the tests connect from 127.0.0.1).
    IpRestricted,
    /// Allowed only with a referrer on `app.example.com`.
    ReferrerRestricted,
    /// Its own rate limit of `2/h` (every other live key has the `live` default,
    /// `1000/h`).
    Limited,
}

/// A store full of keys for the table, and the gate to configure adapters with.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The store (shared with the gate); the runner takes it down for the 503 case.
    pub store: Arc<MemoryStore>,
    /// The gate every adapter must use: prefix `sk`, env `live`, Bearer, `X-API-KEY`,
    /// `?api_key=`, flat renderer, credentials hidden, in-memory rate limits (`live`
    /// keys 1000/h unless their own limit says otherwise).
    pub gate: KeyGate,
    /// The clock the gate reads.
    pub clock: ManualClock,
    keys: HashMap<KeyName, String>,
}

impl Fixture {
    /// Makes the store, the keys and the gate.
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::at_unix(1_800_000_000);
        let now = clock.now();
        let mut keys = HashMap::new();
        let specs: Vec<KeySpec> = vec![
            (
                KeyName::Writer,
                "live",
                &["read:items", "write:items"],
                Box::new(|_| {}),
            ),
            (KeyName::Reader, "live", &["read:items"], Box::new(|_| {})),
            (
                KeyName::Revoked,
                "live",
                &["*"],
                Box::new(move |r| r.revoked_at = Some(now)),
            ),
            (
                KeyName::Disabled,
                "live",
                &["*"],
                Box::new(move |r| r.disabled_at = Some(now)),
            ),
            (
                KeyName::Expired,
                "live",
                &["*"],
                Box::new(move |r| r.expires_at = Some(now - Duration::hours(1))),
            ),
            (
                KeyName::RotatedOut,
                "live",
                &["*"],
                Box::new(move |r| {
                    r.rotation = Some(Rotation {
                        replaced_by: KeyId::generate(),
                        grace_until: now - Duration::seconds(1),
                    })
                }),
            ),
            (
                KeyName::InGrace,
                "live",
                &["read:items"],
                Box::new(move |r| {
                    r.rotation = Some(Rotation {
                        replaced_by: KeyId::generate(),
                        grace_until: now + Duration::hours(23),
                    })
                }),
            ),
            (KeyName::TestEnv, "test", &["*"], Box::new(|_| {})),
            (
                KeyName::IpRestricted,
                "live",
                &["*"],
                Box::new(|r| {
                    r.allowed_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]
                }),
            ),
            (
                KeyName::ReferrerRestricted,
                "live",
                &["*"],
                Box::new(|r| r.allowed_referrers = vec!["app.example.com".into()]),
            ),
            (
                KeyName::Limited,
                "live",
                &["read:items"],
                Box::new(|r| r.rate_limit = Some(RateLimitSpec::per_hour(2))),
            ),
        ];
        for (name, env, scopes, edit) in specs {
            let key = new_key(env);
            let mut record = KeyRecord::new(
                KeyHasher::Sha256.hash(&key),
                "hint",
                "sk",
                env,
                format!("{name:?}"),
                "acme",
            )
            .with_scopes(ScopeSet::parse(scopes).expect("valid scopes"));
            record.created_at = now;
            edit(&mut record);
            store
                .insert(&record)
                .await
                .unwrap_or_else(|e| panic!("fixture: {e}"));
            keys.insert(name, key);
        }
        keys.insert(KeyName::Unknown, new_key("live"));
        let mut bad = keys[&KeyName::Writer].clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        keys.insert(KeyName::BadChecksum, String::from_utf8(bad).expect("UTF-8"));

        let gate = KeyGate::builder(store.clone())
            .prefix("sk")
            .envs(["live"])
            .clock(clock.clone())
            .bearer()
            .header("X-API-KEY")
            .query("api_key")
            .hide_credentials(true)
            .rate_limits(RateLimits::in_memory().env_default("live", RateLimitSpec::per_hour(1000)))
            .build();
        Self {
            store,
            gate,
            clock,
            keys,
        }
    }

    /// The plaintext of a fixture key.
    pub fn key(&self, name: KeyName) -> &str {
        &self.keys[&name]
    }
}

/// A fixture key: its name, environment, scopes, and how its record differs.
type KeySpec = (
    KeyName,
    &'static str,
    &'static [&'static str],
    Box<dyn Fn(&mut KeyRecord)>,
);

fn new_key(env: &str) -> String {
    key_format::generate("sk", env)
        .map(|k| k.expose().to_owned())
        .unwrap_or_else(|e| panic!("fixture: {e}"))
}
