//! The CRM's records, in memory, partitioned by tenant and environment: a `sk_test_…`
//! key only ever sees test data, a `sk_live_…` key live data, and no key another
//! tenant's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

/// One of the CRM's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Resource {
    /// The path segment and the scope's resource: `opportunities`.
    pub(crate) name: &'static str,
    /// The `object` field of its records: `opportunity`.
    pub(crate) object: &'static str,
    id_prefix: &'static str,
}

/// `/v1/opportunities`, `/v1/accounts`, `/v1/contacts`, `/v1/reports`.
pub(crate) const RESOURCES: [Resource; 4] = [
    Resource {
        name: "opportunities",
        object: "opportunity",
        id_prefix: "opp",
    },
    Resource {
        name: "accounts",
        object: "account",
        id_prefix: "acct",
    },
    Resource {
        name: "contacts",
        object: "contact",
        id_prefix: "cont",
    },
    Resource {
        name: "reports",
        object: "report",
        id_prefix: "rpt",
    },
];

/// Fields the server sets; a request body cannot.
const RESERVED: [&str; 5] = ["id", "object", "livemode", "createdAt", "updatedAt"];

/// Whose data a request may touch: the key's tenant and environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Partition {
    pub(crate) tenant: String,
    pub(crate) env: String,
}

type Records = HashMap<(Partition, &'static str), Vec<Map<String, Value>>>;

/// Every record, by partition and resource.
#[derive(Debug, Default)]
pub(crate) struct Crm {
    next_id: AtomicU64,
    records: Mutex<Records>,
}

impl Crm {
    fn records(&self) -> MutexGuard<'_, Records> {
        // A panic while holding the lock cannot leave a half-written record: every
        // change is one push, assignment or removal.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The partition's records of `resource`, oldest first.
    pub(crate) fn list(&self, part: &Partition, resource: Resource) -> Vec<Map<String, Value>> {
        self.records()
            .get(&(part.clone(), resource.name))
            .cloned()
            .unwrap_or_default()
    }

    /// One record.
    pub(crate) fn get(
        &self,
        part: &Partition,
        resource: Resource,
        id: &str,
    ) -> Option<Map<String, Value>> {
        self.records()
            .get(&(part.clone(), resource.name))
            .and_then(|list| list.iter().find(|r| r["id"] == id).cloned())
    }

    /// Stores `fields` as a new record and returns it.
    pub(crate) fn create(
        &self,
        part: &Partition,
        resource: Resource,
        fields: Map<String, Value>,
    ) -> Map<String, Value> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let stamp = Value::String(now());
        let mut record = Map::new();
        record.insert("id".into(), format!("{}_{n}", resource.id_prefix).into());
        record.insert("object".into(), resource.object.into());
        record.insert("livemode".into(), (part.env == "live").into());
        record.extend(user_fields(fields));
        record.insert("createdAt".into(), stamp.clone());
        record.insert("updatedAt".into(), stamp);
        self.records()
            .entry((part.clone(), resource.name))
            .or_default()
            .push(record.clone());
        record
    }

    /// PUT (`replace`: the body is the whole record) or PATCH (merge) a record.
    pub(crate) fn update(
        &self,
        part: &Partition,
        resource: Resource,
        id: &str,
        fields: Map<String, Value>,
        replace: bool,
    ) -> Option<Map<String, Value>> {
        let mut records = self.records();
        let record = records
            .get_mut(&(part.clone(), resource.name))?
            .iter_mut()
            .find(|r| r["id"] == id)?;
        if replace {
            record.retain(|k, _| RESERVED.contains(&k.as_str()));
        }
        record.extend(user_fields(fields));
        record.insert("updatedAt".into(), now().into());
        Some(record.clone())
    }

    /// Deletes a record; whether it existed.
    pub(crate) fn delete(&self, part: &Partition, resource: Resource, id: &str) -> bool {
        let mut records = self.records();
        let Some(list) = records.get_mut(&(part.clone(), resource.name)) else {
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

    fn part(env: &str) -> Partition {
        Partition {
            tenant: "t1".into(),
            env: env.into(),
        }
    }

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn partitions_are_separate_and_reserved_fields_stay() {
        let crm = Crm::default();
        let opp = RESOURCES[0];
        let live = crm.create(
            &part("live"),
            opp,
            fields(serde_json::json!({"name": "Big deal", "id": "forged", "livemode": false})),
        );
        assert_eq!(live["id"], "opp_1");
        assert_eq!(live["livemode"], true);
        assert!(crm.list(&part("test"), opp).is_empty());
        assert_eq!(crm.list(&part("live"), opp).len(), 1);

        let patched = crm
            .update(
                &part("live"),
                opp,
                "opp_1",
                fields(serde_json::json!({"stage": "won"})),
                false,
            )
            .unwrap_or_else(|| panic!("not found"));
        assert_eq!(
            (patched["name"].as_str(), patched["stage"].as_str()),
            (Some("Big deal"), Some("won"))
        );
        let replaced = crm
            .update(
                &part("live"),
                opp,
                "opp_1",
                fields(serde_json::json!({"name": "Renamed"})),
                true,
            )
            .unwrap_or_else(|| panic!("not found"));
        assert_eq!(replaced.get("stage"), None);
        assert_eq!(replaced["id"], "opp_1");
        assert!(crm
            .update(&part("test"), opp, "opp_1", Map::new(), false)
            .is_none());
        assert!(!crm.delete(&part("test"), opp, "opp_1"));
        assert!(crm.delete(&part("live"), opp, "opp_1"));
        assert!(crm.get(&part("live"), opp, "opp_1").is_none());
    }
}
