//! Leak response end to end, the same for both frameworks: a scanner's report signed
//! with a P-256 key made for the run, as GitHub signs them. Unsigned, badly signed and
//! unknown-key reports are 401 and revoke nothing; a signed one revokes our key,
//! answers true and false positives, and is audited with where the key was found.

use std::sync::Arc;

use base64ct::{Base64, Encoding};
use keygate::{Actor, KeyGate, MemoryStore, NewKey, VerifyRequest};
use keygate_admin::secret_scanning::{SecretScanning, DEFAULT_PATH};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};

/// The key identifier the fixture's scanner signs with.
pub const KEY_ID: &str = "ks_test_1";

/// A gate, a key of ours to be reported, and the endpoint trusting one scanner key.
#[derive(Clone)]
pub struct ScanningFixture {
    /// The gate.
    pub gate: KeyGate,
    /// The endpoint.
    pub scanning: SecretScanning,
    /// The scanner's signing key.
    signer: SigningKey,
    /// A key the scanner does not own.
    impostor: SigningKey,
    /// Our key, to be found leaked.
    pub victim: String,
}

impl std::fmt::Debug for ScanningFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanningFixture").finish_non_exhaustive()
    }
}

fn signing_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("randomness");
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

impl ScanningFixture {
    /// Builds everything.
    pub async fn new() -> Self {
        let gate = KeyGate::builder(Arc::new(MemoryStore::new()))
            .flush_interval(None)
            .build();
        let victim = gate
            .manager()
            .create(&Actor::system(), NewKey::named("leaky ci").tenant("acme"))
            .await
            .expect("a key");
        let signer = signing_key();
        let pem = signer
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a PEM key");
        let scanning = SecretScanning::new(gate.manager())
            .public_key_pem(KEY_ID, &pem)
            .expect("a public key");
        Self {
            gate,
            scanning,
            signer,
            impostor: signing_key(),
            victim: victim.key.expose().to_owned(),
        }
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: Signature = key.sign(body);
        Base64::encode_string(signature.to_der().as_bytes())
    }
}

/// Runs the scenario against `base` (the endpoint at [`DEFAULT_PATH`]).
///
/// # Panics
/// On any difference, naming the framework.
pub async fn run_secret_scanning(framework: &str, base: &str, f: &ScanningFixture) {
    let http = reqwest::Client::new();
    let url = format!("{base}{DEFAULT_PATH}");
    let post = |body: Vec<u8>, id: Option<&str>, signature: Option<String>| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(id) = id {
            request = request.header("Github-Public-Key-Identifier", id);
        }
        if let Some(signature) = signature {
            request = request.header("Github-Public-Key-Signature", signature);
        }
        async move {
            let res = request.send().await.expect("a response");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let not_ours = keygate::key_format::generate("sk", "live").expect("a key");
    let report = serde_json::to_vec(&json!([
        {"token": f.victim, "type": "keygate_api_key", "url": "https://github.com/acme/app/blob/main/.env", "source": "content"},
        {"token": not_ours.expose(), "type": "keygate_api_key", "url": "https://gist.github.com/x", "source": "gist"},
    ]))
    .expect("JSON");
    let good = ScanningFixture::sign(&f.signer, &report);
    let alive = || async { f.gate.verify(VerifyRequest::key(&f.victim)).await.is_ok() };

    // Refused before anything is looked up: nothing revoked.
    for (id, signature, why) in [
        (None, None, "unsigned"),
        (Some(KEY_ID), None, "no signature"),
        (
            Some(KEY_ID),
            Some(ScanningFixture::sign(&f.impostor, &report)),
            "another key's signature",
        ),
        (Some("ks_unknown"), Some(good.clone()), "an unknown key"),
        (Some(KEY_ID), Some("not base64!".to_owned()), "garbage"),
        (
            Some(KEY_ID),
            Some(ScanningFixture::sign(&f.signer, b"[]")),
            "a signature of another body",
        ),
    ] {
        let (status, body) = post(report.clone(), id, signature).await;
        assert_eq!(status, 401, "{framework}: {why}: {body}");
        assert!(alive().await, "{framework}: {why}: nothing revoked");
    }
    // Signed, but not a report.
    for (body, expected) in [
        (b"[{\"token\": ".to_vec(), 400),
        (b"[1, 2".to_vec(), 400),
        (b"{\"token\": \"x\"}".to_vec(), 422),
        (b"[{\"type\": \"no token\"}]".to_vec(), 422),
    ] {
        let signature = ScanningFixture::sign(&f.signer, &body);
        let (status, answer) = post(body, Some(KEY_ID), Some(signature)).await;
        assert_eq!(status, expected, "{framework}: {answer}");
    }
    assert!(alive().await, "{framework}");

    // A signed report: our key is revoked, the answer labels each token.
    let (status, feedback) = post(report.clone(), Some(KEY_ID), Some(good)).await;
    assert_eq!(status, 200, "{framework}: {feedback}");
    assert_eq!(
        feedback,
        json!([
            {"token_raw": f.victim, "token_type": "keygate_api_key", "label": "true_positive"},
            {"token_raw": not_ours.expose(), "token_type": "keygate_api_key", "label": "false_positive"},
        ]),
        "{framework}"
    );
    assert!(!alive().await, "{framework}: revoked at once");
    let log = f
        .gate
        .manager()
        .audit_log(
            &Actor::system(),
            keygate::audit::AuditFilter::default(),
            &keygate::store::PageRequest::first(50),
        )
        .await
        .expect("the audit log");
    let leaked: Vec<_> = log
        .items
        .iter()
        .filter(|e| e.action == "key.leaked")
        .filter_map(|e| e.reason.clone())
        .collect();
    assert_eq!(
        leaked,
        ["reported leaked at https://github.com/acme/app/blob/main/.env (content): revoked"],
        "{framework}"
    );
}
