use std::fmt::Write;

use reqwest::header::{HeaderName, HeaderValue};

use crate::cases::{cases, Body, Case, Val};
use crate::fixture::Fixture;

/// Runs every case against the server at `base_url` (e.g. `http://127.0.0.1:4321`),
/// one at a time, and panics with a report of every case that failed.
pub async fn run_table(framework: &str, base_url: &str, fixture: &Fixture) {
    let client = reqwest::Client::new();
    let mut failures = String::new();
    let all = cases();
    for case in &all {
        if let Err(why) = run_case(&client, base_url, fixture, case).await {
            let _ = writeln!(failures, "  [{}] {}: {why}", framework, case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{framework}: conformance failures:\n{failures}"
    );
    println!("{framework}: {} conformance cases passed", all.len());
}

async fn run_case(
    client: &reqwest::Client,
    base_url: &str,
    fixture: &Fixture,
    case: &Case,
) -> Result<(), String> {
    let mut url = format!("{base_url}{}", case.path);
    if let Some(key) = case.query_key {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("api_key=");
        url.push_str(fixture.key(key));
    }
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, &url);
    for (name, value) in &case.headers {
        let bytes: Vec<u8> = match value {
            Val::Text(t) => t.as_bytes().to_vec(),
            Val::Key(k) => fixture.key(*k).as_bytes().to_vec(),
            Val::Bearer(k) => format!("Bearer {}", fixture.key(*k)).into_bytes(),
            Val::Scheme(scheme, k) => format!("{scheme} {}", fixture.key(*k)).into_bytes(),
            Val::Bytes(b) => b.to_vec(),
            Val::HugeBearer(n) => format!("Bearer {}", "x".repeat(*n)).into_bytes(),
        };
        let name = HeaderName::from_static(name);
        let value = HeaderValue::from_bytes(&bytes).map_err(|e| format!("bad test header: {e}"))?;
        request = request.header(name, value);
    }
    if case.store_down {
        fixture.store.set_unavailable(true);
    }
    let response = request.send().await;
    fixture.store.set_unavailable(false);
    let response = response.map_err(|e| format!("request failed: {e}"))?;

    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    let mut problems = Vec::new();
    if status != case.expect.status {
        problems.push(format!("status {status}, expected {}", case.expect.status));
    }
    for (name, expected) in &case.expect.headers {
        let actual = headers
            .get(*name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if actual.as_deref() != *expected {
            problems.push(format!("header {name}: {actual:?}, expected {expected:?}"));
        }
    }
    match &case.expect.body {
        Body::Exact(expected) if body != *expected => {
            problems.push(format!("body {body:?}, expected {expected:?}"))
        }
        Body::Json(expected) => match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(actual) if &actual == expected => {}
            _ => problems.push(format!("body {body:?}, expected JSON {expected}")),
        },
        Body::Exact(_) => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
