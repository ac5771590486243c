//! Leak response: the GitHub secret-scanning partner endpoint. GitHub (or any scanner
//! speaking its format) POSTs the tokens it found in public places; each is checked
//! against our keys by hash, ours are revoked (or quarantined), and the answer says,
//! token by token, whether it was a true positive.
//!
//! The request is a JSON array of `{"token", "type", "url", "source"}`, signed with
//! ECDSA P-256 over SHA-256 of the raw body: the `Github-Public-Key-Identifier` header
//! names the key, `Github-Public-Key-Signature` carries the base64 DER signature. A
//! missing or bad signature, or an unknown key, is 401 and nothing is looked up.
//!
//! Public keys are configured ([`SecretScanning::public_key_pem`], or GitHub's whole
//! `https://api.github.com/meta/public_keys/secret_scanning` document with
//! [`SecretScanning::github_keys`]); nothing is fetched by the library.

use std::sync::Arc;

use base64ct::Encoding;
use keygate::manager::{LeakPolicy, LeakedToken};
use keygate::KeyManager;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};

/// The header naming the signing key.
pub const KEY_IDENTIFIER_HEADER: &str = "github-public-key-identifier";
/// The header carrying the base64 DER signature of the raw body.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// Where the routers of `keygate_admin::axum` and `::actix` serve it by default.
pub const DEFAULT_PATH: &str = "/v1/secret-scanning/github";
/// The most tokens one report may hold.
const MAX_TOKENS: usize = 1000;

/// The leak-response endpoint's configuration: the manager it revokes through, the
/// scanner's public keys, and what to do with a key of ours it reports.
///
/// ```
/// use keygate::{KeyGate, MemoryStore};
/// use keygate::manager::LeakPolicy;
/// use keygate_admin::secret_scanning::SecretScanning;
/// let gate = KeyGate::builder(MemoryStore::new()).build();
/// let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP\nHzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==\n-----END PUBLIC KEY-----\n";
/// let scanning = SecretScanning::new(gate.manager())
///     .public_key_pem("90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a", pem)?
///     .policy(LeakPolicy::Revoke);
/// assert_eq!(scanning.key_count(), 1);
/// # Ok::<(), keygate_admin::secret_scanning::SecretScanningError>(())
/// ```
#[derive(Clone)]
pub struct SecretScanning {
    manager: KeyManager,
    keys: Arc<Vec<(String, VerifyingKey)>>,
    policy: LeakPolicy,
}

impl std::fmt::Debug for SecretScanning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretScanning")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A public key that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret scanning public key {key_identifier:?}: {why}")]
pub struct SecretScanningError {
    key_identifier: String,
    why: String,
}

/// One token of a report, as GitHub sends it.
#[derive(Debug, Clone, Deserialize)]
struct Reported {
    token: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// The answer for one token, as GitHub reads it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Feedback {
    /// The token as reported.
    pub token_raw: String,
    /// The type as reported.
    pub token_type: String,
    /// `true_positive` (one of our keys) or `false_positive`.
    pub label: &'static str,
}

/// What the endpoint answers: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResponse {
    /// 200, 400, 401, 413, 422 or 503.
    pub status: u16,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl ScanResponse {
    fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            body: serde_json::to_vec(&serde_json::json!({"error": message})).unwrap_or_default(),
        }
    }
}

/// GitHub's public keys document: `{"public_keys": [{"key_identifier", "key", ...}]}`.
#[derive(Debug, Deserialize)]
struct GithubKeys {
    public_keys: Vec<GithubKey>,
}

#[derive(Debug, Deserialize)]
struct GithubKey {
    key_identifier: String,
    key: String,
}

impl SecretScanning {
    /// An endpoint revoking through `manager` (the system actor), with no public keys
    /// yet: every report is 401 until one is added.
    pub fn new(manager: KeyManager) -> Self {
        Self {
            manager,
            keys: Arc::new(Vec::new()),
            policy: LeakPolicy::default(),
        }
    }

    /// Accepts reports signed by this key (a PEM SubjectPublicKeyInfo, as GitHub
    /// publishes it) under `key_identifier`.
    pub fn public_key_pem(
        mut self,
        key_identifier: impl Into<String>,
        pem: &str,
    ) -> Result<Self, SecretScanningError> {
        let key_identifier = key_identifier.into();
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| SecretScanningError {
            key_identifier: key_identifier.clone(),
            why: e.to_string(),
        })?;
        Arc::make_mut(&mut self.keys).push((key_identifier, key));
        Ok(self)
    }

    /// Accepts every key of GitHub's public keys document (the body of
    /// `GET https://api.github.com/meta/public_keys/secret_scanning`, fetched by the
    /// operator).
    pub fn github_keys(mut self, document: &str) -> Result<Self, SecretScanningError> {
        let parsed: GithubKeys =
            serde_json::from_str(document).map_err(|e| SecretScanningError {
                key_identifier: String::new(),
                why: format!("not GitHub's public keys document: {e}"),
            })?;
        for key in parsed.public_keys {
            self = self.public_key_pem(key.key_identifier, &key.key)?;
        }
        Ok(self)
    }

    /// What to do with a key of ours reported leaked (default: revoke).
    #[must_use]
    pub fn policy(mut self, policy: LeakPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many public keys are accepted.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether `signature` (base64 DER) by key `key_identifier` signs `body`.
    fn verified(&self, key_identifier: Option<&str>, signature: Option<&str>, body: &[u8]) -> bool {
        let (Some(id), Some(signature)) = (key_identifier, signature) else {
            return false;
        };
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id.trim()) else {
            return false;
        };
        let Ok(der) = base64ct::Base64::decode_vec(signature.trim()) else {
            return false;
        };
        let Ok(signature) = DerSignature::from_bytes(&der) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }

    /// Answers one report: 401 unless it is signed by a configured key; 400 or 422 for
    /// a body that is not a JSON array of tokens; else each token of ours revoked (or
    /// quarantined) and the feedback array; 503 when the store fails.
    pub async fn handle(
        &self,
        key_identifier: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> ScanResponse {
        if !self.verified(key_identifier, signature, body) {
            tracing::warn!(
                "keygate: a secret-scanning report without a valid signature was refused"
            );
            return ScanResponse::error(401, "missing or invalid signature");
        }
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return ScanResponse::error(400, "the body is not JSON");
        };
        let Ok(reported) = serde_json::from_value::<Vec<Reported>>(json) else {
            return ScanResponse::error(
                422,
                "expected a JSON array of {\"token\", \"type\", \"url\", \"source\"}",
            );
        };
        if reported.len() > MAX_TOKENS {
            return ScanResponse::error(413, "too many tokens in one report");
        }
        let tokens: Vec<LeakedToken> = reported
            .iter()
            .map(|r| LeakedToken {
                token: r.token.clone(),
                url: r.url.clone(),
                source: r.source.clone(),
            })
            .collect();
        match self.manager.respond_to_leaks(&tokens, self.policy).await {
            Ok(findings) => {
                let feedback: Vec<Feedback> = findings
                    .iter()
                    .zip(&reported)
                    .map(|(finding, r)| Feedback {
                        token_raw: finding.token.clone(),
                        token_type: r.kind.clone().unwrap_or_default(),
                        label: if finding.ours {
                            "true_positive"
                        } else {
                            "false_positive"
                        },
                    })
                    .collect();
                ScanResponse {
                    status: 200,
                    body: serde_json::to_vec(&feedback).unwrap_or_default(),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "keygate: a secret-scanning report could not be handled");
                ScanResponse::error(503, "the key store is unavailable; retry")
            }
        }
    }
}
