//! Property tests of scope matching against a model of the grammar: a granted `*`,
//! `admin`, `read:*`, bare `read` or `read:scans` covers exactly what it should; a
//! `ScopeSet` prints and parses back to itself; a per-resource map means the same as
//! its list of `action:resource` scopes.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::scope::Scope;
use crate::scope_set::ScopeSet;

const ACTIONS: &[&str] = &["read", "write", "delete", "x-y.z"];
const RESOURCES: &[&str] = &["scans", "users", "a/b", "v1.items"];

/// One side of a scope in the model: a name, or every name.
#[derive(Debug, Clone, PartialEq)]
enum Side {
    Any,
    Name(&'static str),
}

/// A scope as written, and what it means.
fn scope() -> impl Strategy<Value = (String, Side, Side)> {
    let action = prop_oneof![
        Just(Side::Any),
        proptest::sample::select(ACTIONS).prop_map(Side::Name)
    ];
    let resource = prop_oneof![
        Just(Side::Any),
        proptest::sample::select(RESOURCES).prop_map(Side::Name)
    ];
    (action, resource, 0u8..3).prop_map(|(action, resource, spelling)| {
        let text = match (&action, &resource, spelling) {
            (Side::Any, Side::Any, 0) => "*".to_owned(),
            (Side::Any, Side::Any, 1) => "admin".to_owned(),
            (Side::Name(a), Side::Any, 0) => (*a).to_owned(), // a bare action
            (a, r, _) => format!("{}:{}", side_text(a), side_text(r)),
        };
        (text, action, resource)
    })
}

fn side_text(side: &Side) -> &'static str {
    match side {
        Side::Any => "*",
        Side::Name(n) => n,
    }
}

fn covers(granted: &Side, required: &Side) -> bool {
    match (granted, required) {
        (Side::Any, _) => true,
        (Side::Name(a), Side::Name(b)) => a == b,
        (Side::Name(_), Side::Any) => false,
    }
}

fn parse(text: &str) -> Scope {
    Scope::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `granted` grants `required` exactly when each side covers the other's.
    #[test]
    fn a_scope_grants_exactly_what_it_covers(granted in scope(), required in scope()) {
        let (g_text, g_action, g_resource) = granted;
        let (r_text, r_action, r_resource) = required;
        let model = covers(&g_action, &r_action) && covers(&g_resource, &r_resource);
        prop_assert_eq!(parse(&g_text).grants(&parse(&r_text)), model, "{} grants {}?", g_text, r_text);
    }

    /// A set grants what any of its scopes grants; it prints and parses back to the
    /// same set, granting the same.
    #[test]
    fn a_scope_set_round_trips_and_grants_as_its_members(
        members in proptest::collection::vec(scope(), 0..6),
        required in scope(),
    ) {
        let texts: Vec<&str> = members.iter().map(|(t, _, _)| t.as_str()).collect();
        let set = ScopeSet::parse(&texts).unwrap_or_else(|e| panic!("{e}"));
        let again = ScopeSet::parse(set.to_strings()).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&again, &set);
        let required_scope = parse(&required.0);
        let model = members.iter().any(|(_, a, r)| covers(a, &required.1) && covers(r, &required.2));
        prop_assert_eq!(set.grants(&required_scope), model);
        prop_assert_eq!(again.grants(&required_scope), model);
    }

    /// A per-resource map means the same as its list of `action:resource` scopes.
    #[test]
    fn a_resource_map_is_its_list_of_scopes(
        map in proptest::collection::btree_map(
            proptest::sample::select(RESOURCES).prop_map(str::to_owned),
            proptest::collection::vec(proptest::sample::select(ACTIONS).prop_map(str::to_owned), 0..4),
            0..4,
        ),
    ) {
        let map: BTreeMap<String, Vec<String>> = map;
        let from_map = ScopeSet::from_resource_map(&map).unwrap_or_else(|e| panic!("{e}"));
        let list: Vec<String> = map
            .iter()
            .flat_map(|(resource, actions)| actions.iter().map(move |a| format!("{a}:{resource}")))
            .collect();
        let from_list = ScopeSet::parse(&list).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(from_map, from_list);
    }
}
