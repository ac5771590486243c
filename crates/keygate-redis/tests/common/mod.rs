//! The one helper every Redis test starts with.
#![allow(dead_code, unreachable_pub)]

use keygate::KeyId;

/// The Redis to test against: `KEYGATE_TEST_REDIS_URL` (CI: `redis://127.0.0.1:6379`),
/// checked with a `PING`.
///
/// Without one, the test is skipped with the reason printed, unless `CI=true`: then a
/// missing or unreachable server fails the test loudly, so CI can never pass by
/// skipping the suite.
pub async fn redis() -> Option<redis::Client> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let unavailable = |why: String| {
        assert!(
            !in_ci,
            "CI=true but the Redis suite cannot run: {why}. Start Redis and set \
             KEYGATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)."
        );
        eprintln!("skipping: {why} (set KEYGATE_TEST_REDIS_URL to a running Redis)");
        None
    };
    let url = match std::env::var("KEYGATE_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => return unavailable("KEYGATE_TEST_REDIS_URL is not set".to_owned()),
    };
    let client = match redis::Client::open(url.as_str()) {
        Ok(client) => client,
        Err(e) => {
            return unavailable(format!(
                "KEYGATE_TEST_REDIS_URL={url} is not a Redis URL: {e}"
            ))
        }
    };
    let ping = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => Some(client),
        Ok(Err(e)) => unavailable(format!("Redis at {url} does not answer: {e}")),
        Err(_) => unavailable(format!("Redis at {url} did not answer PING within 3 s")),
    }
}

/// A key prefix no other run (or test) shares.
pub fn unique_prefix(test: &str) -> String {
    format!(
        "keygate-test:{}:{test}:{}:",
        std::process::id(),
        KeyId::generate()
    )
}
