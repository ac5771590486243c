//! Property tests of the request path's building blocks: a key survives its own
//! format, nothing but an issued key ever verifies (through the hot path or the full
//! one), and the in-process limiter never lets more through than its spec allows.

use chrono::DateTime;
use proptest::prelude::*;

use super::*;
use crate::hash::KeyHasher;
use crate::{key_format, KeyId, KeyRecord, MemoryStore, RateLimitSpec};

/// Valid prefixes (`[a-z][a-z0-9_]{0,23}`, not ending in `_`) and environments.
fn prefix() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,22}[a-z0-9]|[a-z]"
}

fn env() -> impl Strategy<Value = String> {
    "[a-z]{2,10}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A generated key parses back to its prefix and environment, and changing any one
    /// of its body characters makes it fail (charset or checksum).
    #[test]
    fn generated_keys_round_trip_and_every_body_change_fails(
        prefix in prefix(),
        env in env(),
        at in 0usize..key_format::BODY_LEN,
        replacement in any::<u8>(),
    ) {
        let key = key_format::generate(&prefix, &env).unwrap_or_else(|e| panic!("{e}"));
        let key = key.expose();
        let parsed = key_format::ParsedKey::parse(key);
        prop_assert_eq!(parsed.map(|p| (p.prefix(), p.env())), Ok((prefix.as_str(), env.as_str())));
        let mut changed = key.as_bytes().to_vec();
        let i = key.len() - key_format::BODY_LEN + at;
        prop_assume!(changed[i] != replacement);
        changed[i] = replacement;
        // A change that is not even UTF-8 cannot reach the parser as a string.
        if let Ok(changed) = String::from_utf8(changed) {
            prop_assert!(key_format::ParsedKey::parse(&changed).is_err());
        }
    }

    /// Among stored keys, only an issued key verifies: any other string (random, or an
    /// issued key with one byte changed) is refused, on the first request (full path)
    /// and on the next (hot path, once the store's records are warm).
    #[test]
    fn nothing_but_an_issued_key_verifies(
        noise in "[ -~]{0,80}",
        which in 0usize..3,
        at in 0usize..60,
        replacement in any::<u8>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let store = std::sync::Arc::new(MemoryStore::new());
            let mut issued = Vec::new();
            for _ in 0..3 {
                let (key, record) = KeyRecord::generate(&KeyHasher::Sha256, "sk", "live", "k", "acme")
                    .unwrap_or_else(|e| panic!("{e}"));
                store.insert(&record).await.unwrap_or_else(|e| panic!("{e}"));
                issued.push(key.expose().to_owned());
            }
            let verifier = Verifier::builder(store).prefix("sk").envs(["live"]).flush_interval(None).build();
            for key in &issued {
                // Warm: the principal is built, later hits take the hot path.
                prop_assert!(verifier.verify(VerifyRequest::key(key)).await.is_ok());
            }
            let mut near = issued[which].clone().into_bytes();
            let i = at % near.len();
            near[i] = replacement;
            for candidate in [noise.into_bytes(), near] {
                let Ok(candidate) = String::from_utf8(candidate) else { continue };
                if issued.contains(&candidate) {
                    continue;
                }
                for _ in 0..2 {
                    prop_assert!(verifier.verify(VerifyRequest::key(&candidate)).await.is_err());
                    prop_assert!(verifier.verify_now(candidate.as_bytes(), None, || None, || 1).is_none_or(|r| r.is_err()));
                }
            }
            Ok(())
        })?;
    }

    /// GCRA: whatever the arrival times, no window of the spec's length lets more
    /// than `requests + burst` through, and a request is refused only when its key's
    /// recent allowance is used up.
    #[test]
    fn the_limiter_never_lets_more_through_than_its_spec(
        requests in 1u32..20,
        per_seconds in 1u32..120,
        burst in proptest::option::of(0u32..30),
        gaps in proptest::collection::vec(0i64..1_000_000, 1..200),
    ) {
        let mut spec = RateLimitSpec::new(requests, per_seconds);
        if let Some(burst) = burst {
            spec = spec.with_burst(burst);
        }
        let limiter = crate::rate_limit::MemoryRateLimiter::new();
        let key = KeyId::generate();
        let mut now = 1_800_000_000_000_000i64;
        let mut allowed = Vec::new();
        for gap in gaps {
            now += gap;
            let at = DateTime::from_timestamp_micros(now).expect("a valid timestamp");
            if limiter.check_now(&key, &spec, at).is_ok() {
                allowed.push(now);
            }
        }
        let window = i64::from(per_seconds) * 1_000_000;
        let most = u64::from(requests) + u64::from(spec.burst_size());
        for (i, start) in allowed.iter().enumerate() {
            let inside = allowed[i..].iter().take_while(|t| **t < start + window).count();
            prop_assert!(inside as u64 <= most, "{inside} allowed within one window; at most {most}");
        }
    }

    /// GCRA with limit changes: a key's limit is changed (tighter or looser, burst or
    /// not) between runs of arrivals at random times. In any window (of each spec's
    /// length, from each allowed request), no more are let through than the specs in
    /// force allow over their share of it: `rate x time + burst` each. Within one
    /// spec's time that is its `requests + burst` per window; across a change, a spec
    /// never lends the next one more than its own burst.
    #[test]
    fn limit_changes_never_let_more_through_than_the_specs_in_force(
        segments in proptest::collection::vec(
            (
                1u32..20,
                1u32..120,
                proptest::option::of(0u32..30),
                proptest::collection::vec(0i64..3_000_000, 1..60),
            ),
            2..5,
        ),
    ) {
        let limiter = crate::rate_limit::MemoryRateLimiter::new();
        let key = KeyId::generate();
        let mut now = 1_800_000_000_000_000i64;
        // (arrival time, segment) of each allowed request; each segment's spec and start.
        let mut allowed: Vec<(i64, usize)> = Vec::new();
        let mut specs = Vec::new();
        for (index, (requests, per_seconds, burst, gaps)) in segments.into_iter().enumerate() {
            let mut spec = RateLimitSpec::new(requests, per_seconds);
            if let Some(burst) = burst {
                spec = spec.with_burst(burst);
            }
            specs.push((spec, now));
            for gap in gaps {
                now += gap;
                let at = DateTime::from_timestamp_micros(now).expect("a valid timestamp");
                if limiter.check_now(&key, &spec, at).is_ok() {
                    allowed.push((now, index));
                }
            }
        }
        // A spec lets at most `rate x time + burst` through in any stretch of its time.
        let ends: Vec<i64> = specs.iter().skip(1).map(|(_, from)| *from).chain([i64::MAX]).collect();
        let allowance = |k: usize, from: i64, to: i64| -> u64 {
            let (spec, begin) = (&specs[k].0, specs[k].1);
            let overlap = to.min(ends[k]) - from.max(begin);
            if overlap <= 0 {
                return 0;
            }
            let per = i64::from(spec.per_seconds) * 1_000_000;
            let by_rate = (u128::try_from(overlap).expect("positive") * u128::from(spec.requests))
                .div_ceil(u128::try_from(per).expect("positive"));
            u64::try_from(by_rate).expect("a count") + u64::from(spec.burst_size())
        };
        for (spec, _) in &specs {
            let window = i64::from(spec.per_seconds) * 1_000_000;
            for (i, &(start, _)) in allowed.iter().enumerate() {
                let inside = allowed[i..].iter().take_while(|(t, _)| *t < start + window).count();
                let bound: u64 = (0..specs.len()).map(|k| allowance(k, start, start + window)).sum();
                prop_assert!(
                    inside as u64 <= bound,
                    "{inside} allowed within {}s from {start}; the specs in force allow {bound}",
                    spec.per_seconds
                );
            }
        }
    }
}
