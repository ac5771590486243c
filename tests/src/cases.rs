//! The table: case -> request -> expected status, headers and exact body.

use serde_json::{json, Value};

use crate::fixture::KeyName;

/// A header value in a request.
#[derive(Debug, Clone)]
pub enum Val {
    /// Literal text.
    Text(&'static str),
    /// A fixture key.
    Key(KeyName),
    /// `Bearer <fixture key>`.
    Bearer(KeyName),
    /// `<scheme> <fixture key>`.
    Scheme(&'static str, KeyName),
    /// Raw bytes (may be invalid UTF-8).
    Bytes(&'static [u8]),
    /// `Bearer ` followed by this many `x` characters.
    HugeBearer(usize),
}

/// What a response must look like.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Status code.
    pub status: u16,
    /// Headers that must have exactly this value (`None`: must be absent).
    pub headers: Vec<(&'static str, Option<&'static str>)>,
    /// The body.
    pub body: Body,
}

/// An expected body.
#[derive(Debug, Clone)]
pub enum Body {
    /// Byte-for-byte (error bodies rendered by keygate).
    Exact(&'static str),
    /// Equal as JSON (bodies written by the test handlers).
    Json(Value),
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Case {
    /// A name for failure reports.
    pub name: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path (and literal query).
    pub path: &'static str,
    /// Appends `api_key=<key>` to the query.
    pub query_key: Option<KeyName>,
    /// Request headers.
    pub headers: Vec<(&'static str, Val)>,
    /// Take the store down for this request.
    pub store_down: bool,
    /// The expected response.
    pub expect: Expect,
}

/// The exact flat 401 body.
pub const UNAUTHORIZED: &str =
    r#"{"error":"Unauthorized","message":"Missing or invalid API key."}"#;
/// The exact flat 403 body.
pub const FORBIDDEN: &str =
    r#"{"error":"Forbidden","message":"You do not have permission to perform this action."}"#;
/// The exact flat 400 body for two different credentials.
pub const BAD_REQUEST: &str =
    r#"{"error":"Bad Request","message":"Send exactly one API key per request."}"#;
/// The exact flat 429 body for the `2/h` key's third request (the fixture clock stands
/// still, so the wait is the full 30-minute interval).
pub const TOO_MANY_REQUESTS: &str =
    r#"{"error":"Too Many Requests","message":"Rate limit exceeded. Retry in 1800 seconds."}"#;
/// The exact flat 503 body.
pub const UNAVAILABLE: &str = r#"{"error":"Service Unavailable","message":"API key verification is temporarily unavailable."}"#;

const INVALID_TOKEN: &str =
    r#"Bearer error="invalid_token", error_description="The API key is invalid""#;
fn get(
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, Val)>,
    expect: Expect,
) -> Case {
    Case {
        name,
        method: "GET",
        path,
        query_key: None,
        headers,
        store_down: false,
        expect,
    }
}

fn error(status: u16, body: &'static str, challenge: Option<&'static str>) -> Expect {
    Expect {
        status,
        headers: vec![
            ("content-type", Some("application/json")),
            ("www-authenticate", challenge),
            ("cache-control", Some("no-store")),
        ],
        body: Body::Exact(body),
    }
}

fn unauthorized(challenge: &'static str) -> Expect {
    error(401, UNAUTHORIZED, Some(challenge))
}

fn hello(key: KeyName) -> Expect {
    Expect {
        status: 200,
        headers: vec![("www-authenticate", None)],
        body: Body::Json(json!({"hello": format!("{key:?}"), "tenant": "acme"})),
    }
}

/// `hello(key)` with these `X-RateLimit-*` values.
fn hello_limited(
    key: KeyName,
    limit: &'static str,
    remaining: &'static str,
    reset: &'static str,
) -> Expect {
    let mut expect = hello(key);
    expect.headers.extend([
        ("x-ratelimit-limit", Some(limit)),
        ("x-ratelimit-remaining", Some(remaining)),
        ("x-ratelimit-reset", Some(reset)),
        ("retry-after", None),
    ]);
    expect
}

fn bearer(key: KeyName) -> Vec<(&'static str, Val)> {
    vec![("authorization", Val::Bearer(key))]
}

/// Every case, in order.
#[allow(
    clippy::enum_glob_use,
    reason = "a table reads best with bare variant names"
)]
pub fn cases() -> Vec<Case> {
    use KeyName::*;
    vec![
        get("no key", "/hello", vec![], unauthorized("Bearer")),
        get(
            "malformed key",
            "/hello",
            vec![("authorization", Val::Text("Bearer not-a-key"))],
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "bad checksum",
            "/hello",
            bearer(BadChecksum),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "unknown key",
            "/hello",
            bearer(Unknown),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "revoked key",
            "/hello",
            bearer(Revoked),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "expired key",
            "/hello",
            bearer(Expired),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "disabled key: no hint under the flat renderer",
            "/hello",
            bearer(Disabled),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "rotated past grace",
            "/hello",
            bearer(RotatedOut),
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "rotated within grace",
            "/hello",
            bearer(InGrace),
            hello(InGrace),
        ),
        get(
            "wrong environment",
            "/hello",
            bearer(TestEnv),
            unauthorized(INVALID_TOKEN),
        ),
        get("valid Bearer", "/hello", bearer(Writer), hello(Writer)),
        get(
            "valid X-API-KEY",
            "/hello",
            vec![("x-api-key", Val::Key(Writer))],
            hello(Writer),
        ),
        Case {
            query_key: Some(Writer),
            ..get("valid query parameter", "/hello", vec![], hello(Writer))
        },
        get(
            "lower-case bearer scheme",
            "/hello",
            vec![("authorization", Val::Scheme("bearer", Writer))],
            hello(Writer),
        ),
        get(
            "same key twice",
            "/hello",
            vec![
                ("authorization", Val::Bearer(Writer)),
                ("x-api-key", Val::Key(Writer)),
            ],
            hello(Writer),
        ),
        get(
            "two different keys",
            "/hello",
            vec![
                ("authorization", Val::Bearer(Writer)),
                ("x-api-key", Val::Key(Reader)),
            ],
            error(
                400,
                BAD_REQUEST,
                Some(
                    r#"Bearer error="invalid_request", error_description="Send exactly one API key""#,
                ),
            ),
        ),
        get(
            "Basic scheme",
            "/hello",
            vec![("authorization", Val::Text("Basic dXNlcjpwYXNz"))],
            unauthorized("Bearer"),
        ),
        get(
            "Basic scheme beside X-API-KEY",
            "/hello",
            vec![
                ("authorization", Val::Text("Basic dXNlcjpwYXNz")),
                ("x-api-key", Val::Key(Reader)),
            ],
            hello(Reader),
        ),
        get(
            "non-UTF-8 X-API-KEY",
            "/hello",
            vec![("x-api-key", Val::Bytes(b"sk_live_\xff\xfe"))],
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "non-UTF-8 Bearer",
            "/hello",
            vec![("authorization", Val::Bytes(b"Bearer \xc3\x28"))],
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "empty X-API-KEY",
            "/hello",
            vec![("x-api-key", Val::Text(""))],
            unauthorized(INVALID_TOKEN),
        ),
        get(
            "10 KB key",
            "/hello",
            vec![("authorization", Val::HugeBearer(10 * 1024))],
            unauthorized(INVALID_TOKEN),
        ),
        Case {
            method: "POST",
            ..get(
                "missing scope",
                "/items",
                bearer(Reader),
                error(
                    403,
                    FORBIDDEN,
                    Some(r#"Bearer error="insufficient_scope", scope="write:items""#),
                ),
            )
        },
        Case {
            method: "POST",
            ..get(
                "scope present",
                "/items",
                bearer(Writer),
                Expect {
                    status: 201,
                    headers: vec![],
                    body: Body::Json(json!({"created": true})),
                },
            )
        },
        Case {
            method: "POST",
            ..get(
                "scope route without key",
                "/items",
                vec![],
                unauthorized("Bearer"),
            )
        },
        get(
            "hidden Bearer and X-API-KEY",
            "/echo?x=1",
            vec![
                ("authorization", Val::Bearer(Writer)),
                ("x-api-key", Val::Key(Writer)),
            ],
            Expect {
                status: 200,
                headers: vec![],
                body: Body::Json(json!({"authorization": null, "xApiKey": null, "query": "x=1"})),
            },
        ),
        Case {
            query_key: Some(Writer),
            ..get(
                "hidden query parameter",
                "/echo?x=1",
                vec![("authorization", Val::Text("Basic dXNlcjpwYXNz"))],
                Expect {
                    status: 200,
                    headers: vec![],
                    body: Body::Json(
                        json!({"authorization": "Basic dXNlcjpwYXNz", "xApiKey": null, "query": "x=1"}),
                    ),
                },
            )
        },
        get(
            "IP not allowed",
            "/hello",
            bearer(IpRestricted),
            error(403, FORBIDDEN, None),
        ),
        get(
            "referrer allowed",
            "/hello",
            vec![
                ("authorization", Val::Bearer(ReferrerRestricted)),
                ("referer", Val::Text("https://app.example.com/page")),
            ],
            hello(ReferrerRestricted),
        ),
        get(
            "referrer not allowed",
            "/hello",
            vec![
                ("authorization", Val::Bearer(ReferrerRestricted)),
                ("referer", Val::Text("https://evil.example.net/")),
            ],
            error(403, FORBIDDEN, None),
        ),
        get(
            "referrer missing",
            "/hello",
            bearer(ReferrerRestricted),
            error(403, FORBIDDEN, None),
        ),
        get(
            "rate limit headers (2/h key, first request)",
            "/hello",
            bearer(Limited),
            hello_limited(Limited, "2", "1", "1800001800"),
        ),
        get(
            "rate limit headers (2/h key, last request)",
            "/hello",
            bearer(Limited),
            hello_limited(Limited, "2", "0", "1800003600"),
        ),
        get(
            "over the rate limit",
            "/hello",
            bearer(Limited),
            Expect {
                status: 429,
                headers: vec![
                    ("content-type", Some("application/json")),
                    ("www-authenticate", None),
                    ("cache-control", Some("no-store")),
                    ("retry-after", Some("1800")),
                    ("x-ratelimit-limit", Some("2")),
                    ("x-ratelimit-remaining", Some("0")),
                    ("x-ratelimit-reset", Some("1800003600")),
                ],
                body: Body::Exact(TOO_MANY_REQUESTS),
            },
        ),
        get(
            "still over the rate limit via X-API-KEY",
            "/hello",
            vec![("x-api-key", Val::Key(Limited))],
            Expect {
                status: 429,
                headers: vec![("retry-after", Some("1800"))],
                body: Body::Exact(TOO_MANY_REQUESTS),
            },
        ),
        get(
            "environment default limit",
            "/hello",
            bearer(InGrace),
            Expect {
                status: 200,
                headers: vec![("x-ratelimit-limit", Some("1000"))],
                body: Body::Json(json!({"hello": "InGrace", "tenant": "acme"})),
            },
        ),
        Case {
            store_down: true,
            ..get(
                "store down",
                "/hello",
                bearer(Writer),
                error(503, UNAVAILABLE, None),
            )
        },
        get("store back up", "/hello", bearer(Writer), hello(Writer)),
    ]
}
