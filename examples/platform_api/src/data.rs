//! The platform's records (agents, telemetry events), in memory, per tenant: a key
//! only ever sees its own tenant's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

/// A kind of record: its collection name and id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Kind {
    pub(crate) collection: &'static str,
    pub(crate) object: &'static str,
    id_prefix: &'static str,
}

/// `/v1/agents`.
pub(crate) const AGENTS: Kind = Kind {
    collection: "agents",
    object: "agent",
    id_prefix: "agt",
};

/// `/v1/telemetry`.
pub(crate) const TELEMETRY: Kind = Kind {
    collection: "telemetry",
    object: "telemetry_event",
    id_prefix: "tel",
};

/// Fields the server sets; a request body cannot.
const RESERVED: [&str; 5] = ["id", "object", "createdBy", "createdAt", "updatedAt"];

type Records = HashMap<(String, &'static str), Vec<Map<String, Value>>>;

/// Every record, by tenant and kind.
#[derive(Debug, Default)]
pub(crate) struct Platform {
    next_id: AtomicU64,
    records: Mutex<Records>,
}

impl Platform {
    fn records(&self) -> MutexGuard<'_, Records> {
        // Every change is one push, merge or removal: a panic elsewhere while the lock
        // was held cannot have left a half-written record.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's records of `kind`, oldest first.
    pub(crate) fn list(&self, tenant: &str, kind: Kind) -> Vec<Map<String, Value>> {
        self.records()
            .get(&(tenant.to_owned(), kind.collection))
            .cloned()
            .unwrap_or_default()
    }

    /// One record.
    pub(crate) fn get(&self, tenant: &str, kind: Kind, id: &str) -> Option<Map<String, Value>> {
        self.records()
            .get(&(tenant.to_owned(), kind.collection))
            .and_then(|list| list.iter().find(|r| r["id"] == id).cloned())
    }

    /// Stores `fields` as a new record made by the key `created_by`.
    pub(crate) fn create(
        &self,
        tenant: &str,
        kind: Kind,
        created_by: &str,
        fields: Map<String, Value>,
    ) -> Map<String, Value> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let stamp = Value::String(now());
        let mut record = Map::new();
        record.insert("id".into(), format!("{}_{n}", kind.id_prefix).into());
        record.insert("object".into(), kind.object.into());
        record.extend(user_fields(fields));
        record.insert("createdBy".into(), created_by.into());
        record.insert("createdAt".into(), stamp.clone());
        record.insert("updatedAt".into(), stamp);
        self.records()
            .entry((tenant.to_owned(), kind.collection))
            .or_default()
            .push(record.clone());
        record
    }

    /// Merges `fields` into a record.
    pub(crate) fn update(
        &self,
        tenant: &str,
        kind: Kind,
        id: &str,
        fields: Map<String, Value>,
    ) -> Option<Map<String, Value>> {
        let mut records = self.records();
        let record = records
            .get_mut(&(tenant.to_owned(), kind.collection))?
            .iter_mut()
            .find(|r| r["id"] == id)?;
        record.extend(user_fields(fields));
        record.insert("updatedAt".into(), now().into());
        Some(record.clone())
    }

    /// Deletes a record; whether it existed.
    pub(crate) fn delete(&self, tenant: &str, kind: Kind, id: &str) -> bool {
        let mut records = self.records();
        let Some(list) = records.get_mut(&(tenant.to_owned(), kind.collection)) else {
            return false;
        };
        let before = list.len();
        list.retain(|r| r["id"] != id);
        list.len() != before
    }
}

/// Now, as the admin API writes times: `2026-01-22T10:00:00Z`.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn user_fields(fields: Map<String, Value>) -> impl Iterator<Item = (String, Value)> {
    fields
        .into_iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn tenants_are_separate_and_reserved_fields_stay() {
        let platform = Platform::default();
        let agent = platform.create(
            "acme",
            AGENTS,
            "key_a",
            fields(serde_json::json!({"name": "triage", "createdBy": "forged"})),
        );
        assert_eq!(
            (agent["id"].as_str(), agent["createdBy"].as_str()),
            (Some("agt_1"), Some("key_a"))
        );
        assert!(platform.list("globex", AGENTS).is_empty());
        assert!(platform.list("acme", TELEMETRY).is_empty());
        assert!(platform.get("globex", AGENTS, "agt_1").is_none());
        let updated = platform
            .update(
                "acme",
                AGENTS,
                "agt_1",
                fields(serde_json::json!({"model": "m2", "id": "x"})),
            )
            .unwrap_or_else(|| panic!("not found"));
        assert_eq!(
            (updated["id"].as_str(), updated["model"].as_str()),
            (Some("agt_1"), Some("m2"))
        );
        assert!(!platform.delete("globex", AGENTS, "agt_1"));
        assert!(platform.delete("acme", AGENTS, "agt_1"));
        assert!(platform.list("acme", AGENTS).is_empty());
    }
}
