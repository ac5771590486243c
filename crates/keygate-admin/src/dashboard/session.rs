//! Server-side sessions: a signed-in key's id, never its secret, under a random id.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use keygate::KeyId;
use sha2::{Digest, Sha256};

use super::csrf::CsrfToken;

/// How many sessions the store holds at most; signing in past it drops the oldest.
const MAX_SESSIONS: usize = 10_000;

/// 32 bytes from the operating system's CSPRNG, as 64 hex digits.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A key shown once: created or rotated, held until the next page reads it.
pub(crate) struct Reveal {
    /// The key's id (the new key's, after a rotation).
    pub(crate) id: String,
    /// The plaintext key.
    pub(crate) secret: String,
    /// What happened: `created` or `rotated`.
    pub(crate) what: &'static str,
}

impl std::fmt::Debug for Reveal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reveal")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("what", &self.what)
            .finish()
    }
}

/// One signed-in browser.
#[derive(Debug)]
pub(crate) struct Session {
    /// The signed-in key.
    pub(crate) key_id: KeyId,
    /// The token every state-changing form of this session carries.
    pub(crate) csrf: CsrfToken,
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    /// A new key to show once, on the next page that asks for it.
    reveal: Option<Reveal>,
}

/// What a session lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A live session: its key and CSRF token (the idle timer was reset).
    Live { key_id: KeyId, csrf: CsrfToken },
    /// No such session (never issued, signed out, or dropped).
    Missing,
    /// It existed and timed out (idle or absolute); it is deleted now.
    Expired,
}

/// The sessions of one dashboard, in memory, keyed by the SHA-256 of their ids (a
/// lookup's timing says nothing about the ids held).
#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    absolute: Duration,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub(crate) fn new(idle: Duration, absolute: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            absolute,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expired(&self, session: &Session, now: DateTime<Utc>) -> bool {
        now >= session.last_seen + self.idle || now >= session.created + self.absolute
    }

    /// Starts a session for `key_id`; returns its id (for the cookie).
    pub(crate) fn create(
        &self,
        key_id: KeyId,
        now: DateTime<Utc>,
    ) -> Result<String, getrandom::Error> {
        let id = random_token()?;
        let csrf = CsrfToken::generate()?;
        let mut map = self.lock();
        map.retain(|_, s| !self.expired(s, now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            digest(&id),
            Session {
                key_id,
                csrf,
                created: now,
                last_seen: now,
                reveal: None,
            },
        );
        Ok(id)
    }

    /// The session `id` at `now`, its idle timer reset; an expired one is deleted.
    pub(crate) fn touch(&self, id: &str, now: DateTime<Utc>) -> Lookup {
        let key = digest(id);
        let mut map = self.lock();
        let Some(session) = map.get_mut(&key) else {
            return Lookup::Missing;
        };
        if self.expired(session, now) {
            map.remove(&key);
            return Lookup::Expired;
        }
        session.last_seen = now;
        Lookup::Live {
            key_id: session.key_id.clone(),
            csrf: session.csrf.clone(),
        }
    }

    /// Deletes the session `id` (sign-out, or its key no longer works).
    pub(crate) fn delete(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Holds `reveal` for the session's next page.
    pub(crate) fn set_reveal(&self, id: &str, reveal: Reveal) {
        if let Some(session) = self.lock().get_mut(&digest(id)) {
            session.reveal = Some(reveal);
        }
    }

    /// Takes the key to show once, if it is the one of `key_id`: a second read, a reload,
    /// finds nothing.
    pub(crate) fn take_reveal(&self, id: &str, key_id: &str) -> Option<Reveal> {
        let mut map = self.lock();
        let session = map.get_mut(&digest(id))?;
        if session.reveal.as_ref().is_some_and(|r| r.id == key_id) {
            session.reveal.take()
        } else {
            None
        }
    }

    /// How many sessions are held (expired ones included until they are next seen).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Duration::minutes(30), Duration::hours(12))
    }

    #[test]
    fn ids_are_random_64_hex_digits() {
        let a = random_token().expect("csprng");
        let b = random_token().expect("csprng");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn idle_and_absolute_expiry_delete_the_session() {
        let s = sessions();
        let t0 = Utc::now();
        let id = s.create(KeyId::generate(), t0).expect("csprng");
        assert!(matches!(
            s.touch(&id, t0 + Duration::minutes(29)),
            Lookup::Live { .. }
        ));
        // Idle: 30 minutes after the last request.
        assert!(matches!(
            s.touch(&id, t0 + Duration::minutes(59)),
            Lookup::Expired
        ));
        assert!(matches!(
            s.touch(&id, t0 + Duration::minutes(59)),
            Lookup::Missing
        ));

        // Absolute: 12 hours after sign-in, however active.
        let id = s.create(KeyId::generate(), t0).expect("csprng");
        let mut t = t0;
        while t < t0 + Duration::hours(12) - Duration::minutes(20) {
            t += Duration::minutes(20);
            assert!(matches!(s.touch(&id, t), Lookup::Live { .. }), "{t}");
        }
        assert!(matches!(
            s.touch(&id, t0 + Duration::hours(12)),
            Lookup::Expired
        ));
    }

    #[test]
    fn delete_and_unknown_ids() {
        let s = sessions();
        let now = Utc::now();
        let id = s.create(KeyId::generate(), now).expect("csprng");
        assert!(matches!(s.touch("nope", now), Lookup::Missing));
        s.delete(&id);
        assert!(matches!(s.touch(&id, now), Lookup::Missing));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_reveal_is_read_once_and_only_for_its_key() {
        let s = sessions();
        let now = Utc::now();
        let id = s.create(KeyId::generate(), now).expect("csprng");
        s.set_reveal(
            &id,
            Reveal {
                id: "key_a".into(),
                secret: "sk_live_secret".into(),
                what: "created",
            },
        );
        assert!(s.take_reveal(&id, "key_b").is_none());
        let shown = s.take_reveal(&id, "key_a").expect("shown once");
        assert_eq!(shown.secret, "sk_live_secret");
        assert!(!format!("{shown:?}").contains("sk_live_secret"));
        assert!(s.take_reveal(&id, "key_a").is_none());
    }
}
